/**
 * The process whose syscall is being served, for modules that act on its behalf (a FUSE request
 * carries the caller's pid and fs ids; files a module creates belong to the caller).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { native } from './native.js';
import { readStatus, type ProcStatus } from './process.js';

export interface Caller {
  tid: number;
  /** /proc status of the caller, read once per call when first needed */
  status(): ProcStatus | undefined;
}

const current = new AsyncLocalStorage<Caller>();

export function withCaller<T>(tid: number, op: () => T): T {
  let status: ProcStatus | undefined | null = null;
  return current.run({ tid, status: () => (status === null ? (status = readStatus(tid)) : status) }, op);
}

export const currentCaller = (): Caller | undefined => current.getStore();

/** Runs op as nobody's call (work the hypervisor does on its own, such as a write-back). */
export const withoutCaller = <T>(op: () => T): T => current.exit(op);

const SYS_close = 3;
const SYS_pidfd_open = 434;
const SYS_pidfd_getfd = 438;
const PIDFD_THREAD = 0o200;

/**
 * Runs use() with umvu's own copy of fd N of thread tid (the same open file), closed after;
 * -errno when it cannot be had (EBADF: no such fd).
 */
export function withCallerFd<T>(tid: number, fd: number, use: (file: number) => T): T | number {
  // (a thread's own pidfd needs PIDFD_THREAD, Linux 6.9; before, its process' shares its fds)
  let pidfd = native.syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
  if (pidfd < 0) pidfd = native.syscall(SYS_pidfd_open, readStatus(tid)?.tgid ?? tid, 0);
  if (pidfd < 0) return pidfd;
  try {
    const file = native.syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (file < 0) return file;
    try {
      return use(file);
    } finally {
      native.syscall(SYS_close, file);
    }
  } finally {
    native.syscall(SYS_close, pidfd);
  }
}
