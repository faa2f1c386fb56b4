/* stat_loop N PATH: N stat(PATH) calls. Prints "ns_per_call=X" on stdout
 * (measured in-process with CLOCK_MONOTONIC, vDSO: no syscall).
 * Exits 1 if any stat() fails. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000L;
	const char *path = argc > 2 ? argv[2] : "/usr/bin/env";
	struct timespec a, b;
	struct stat st;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		if (stat(path, &st) != 0) {
			perror(path);
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	printf("calls=%ld ns_per_call=%.1f\n", n, n ? ns / n : 0.0);
	return 0;
}
