/* timeit: run a command and report its wall-clock time precisely.
 *
 *   timeit [-t SECONDS] [-r FD] -- COMMAND [ARGS...]
 *
 * Forks, execs COMMAND (in its own process group, so that a timeout can kill
 * the whole tree), waits for it and writes one line to file descriptor FD
 * (default 3, or stderr if FD is not open):
 *
 *   TIMEIT wall_ns=N status=S signal=G timedout=0|1 user_us=U sys_us=Y maxrss_kb=M
 *
 * status is the exit status (-1 if killed by a signal, then signal is set).
 * The command inherits only fds 0, 1 and 2 (everything else is closed). On timeout
 * the process group gets SIGTERM, then SIGKILL two seconds later.
 * Used by bench/bench.mjs; exits 0 unless timeit itself fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;
static volatile sig_atomic_t timedout;

static void on_alarm(int sig)
{
	(void)sig;
	if (!timedout) {
		timedout = 1;
		kill(-child, SIGTERM);
		alarm(2);
	} else {
		kill(-child, SIGKILL);
	}
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned timeout = 0;
	int rfd = 3, opt;
	while ((opt = getopt(argc, argv, "+t:r:")) != -1) {
		switch (opt) {
		case 't': timeout = (unsigned)atoi(optarg); break;
		case 'r': rfd = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: timeit [-t SECONDS] [-r FD] -- COMMAND [ARGS...]\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "timeit: no command\n");
		return 2;
	}
	if (fcntl(rfd, F_SETFD, FD_CLOEXEC) < 0)
		rfd = 2;
	FILE *report = fdopen(dup(rfd), "w");
	if (!report) {
		perror("timeit: report fd");
		return 2;
	}
	fcntl(fileno(report), F_SETFD, FD_CLOEXEC);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);

	double t0 = now_ns();
	child = fork();
	if (child < 0) {
		perror("timeit: fork");
		return 2;
	}
	if (child == 0) {
		setpgid(0, 0);
		signal(SIGALRM, SIG_DFL);
		/* The command sees only fds 0, 1 and 2, whatever timeit inherited. */
		if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
			for (int fd = 3; fd < 1024; fd++)
				close(fd);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "timeit: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	setpgid(child, child); /* also from the parent: no race with the timeout */
	if (timeout)
		alarm(timeout);
	int st;
	struct rusage ru;
	pid_t r;
	while ((r = wait4(child, &st, 0, &ru)) < 0 && errno == EINTR)
		;
	double t1 = now_ns();
	alarm(0);
	if (r < 0) {
		perror("timeit: wait4");
		return 2;
	}
	/* Whatever the command left behind in its group must not outlive it. */
	if (timedout)
		kill(-child, SIGKILL);
	fprintf(report, "TIMEIT wall_ns=%.0f status=%d signal=%d timedout=%d user_us=%ld sys_us=%ld maxrss_kb=%ld\n",
		t1 - t0,
		WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		WIFSIGNALED(st) ? WTERMSIG(st) : 0,
		(int)timedout,
		ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
		ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec,
		ru.ru_maxrss);
	fclose(report);
	return 0;
}
