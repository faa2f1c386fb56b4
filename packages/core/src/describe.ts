/** One-line rendering of a notified syscall for the SYSCALL debug tag. */
import { syscallInfo } from './syscalls/x86_64.js';
import type { SyscallCall } from './syscall.js';

const NO_PATH = new Set(['fchdir', 'getcwd', 'bind', 'connect']);
/** calls whose (first) path is not argument 0: the *at calls take a dirfd first */
const PATH_ARG: Record<string, number> = { symlinkat: 2, fanotify_mark: 4 };
const AT_CALLS = /^(openat2?|mkdirat|mknodat|fchownat|futimesat|newfstatat|unlinkat|renameat2?|linkat|readlinkat|fchmodat2?|faccessat2?|utimensat|statx|execveat|name_to_handle_at|inotify_add_watch|open_tree(_attr)?|move_mount|fspick|mount_setattr|[gs]etxattrat|listxattrat|removexattrat|file_[gs]etattr)$/;

/** Index of the (first) path argument of a path call, or -1. */
export function pathArg(name: string): number {
  if (NO_PATH.has(name)) return -1;
  return PATH_ARG[name] ?? (AT_CALLS.test(name) ? 1 : 0);
}

export function describeCall(call: SyscallCall): string {
  const info = syscallInfo(call.nr);
  const args = call.args.map((a) => '0x' + a.toString(16));
  const i = info && (info.family === 'path' || info.name === 'execve') ? pathArg(info.name) : -1;
  if (i >= 0 && call.args[i] !== 0n) {
    try {
      args[i] = JSON.stringify(call.readString(i));
    } catch {
      // unreadable pointer: keep the number
    }
  }
  return `${call.name} ${args.join(' ')}`;
}
