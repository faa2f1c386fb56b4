/**
 * The process whose syscall is being served, for modules that act on its behalf (a FUSE request
 * carries the caller's pid and fs ids; files a module creates belong to the caller).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
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
