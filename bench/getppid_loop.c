/* getppid_loop N: N raw getppid() system calls (syscall(2), so libc cannot
 * cache or elide them). Prints the in-process cost per call on stdout as
 * "ns_per_call=X" (measured with CLOCK_MONOTONIC, vDSO: no syscall). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000000L;
	struct timespec a, b;
	volatile long sink = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		sink += syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	printf("calls=%ld ns_per_call=%.1f\n", n, n ? ns / n : 0.0);
	return sink == 0; /* getppid() is never 0 here */
}
