/* clock_loop [libc|syscall] N: N clock_gettime(CLOCK_REALTIME) calls, through the C library
 * (the vDSO when the program has it, else a system call) or as raw system calls (syscall(2)).
 * Prints the in-process cost per call on stdout as "ns_per_call=X" (measured with
 * CLOCK_MONOTONIC, which umvu never virtualizes). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int raw = argc > 1 && strcmp(argv[1], "syscall") == 0;
	long n = argc > 2 ? atol(argv[2]) : 1000000L;
	struct timespec a, b, t;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		if (raw)
			syscall(SYS_clock_gettime, CLOCK_REALTIME, &t);
		else
			clock_gettime(CLOCK_REALTIME, &t);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	printf("ns_per_call=%.1f\n", n ? ns / n : 0.0);
	return 0;
}
