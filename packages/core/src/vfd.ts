/**
 * The reserved range of fd numbers where umvu places the placeholders of virtual fds. The
 * filter notifies fd calls only for fds in this range, so I/O on every other fd never leaves
 * the kernel. It sits just below the usual RLIMIT_NOFILE soft limit (1024), where programs
 * rarely allocate; a real fd that lands here still works (its calls are merely notified).
 */
export const VIRTUAL_FD_RANGE = { low: 896, high: 1023 } as const;
