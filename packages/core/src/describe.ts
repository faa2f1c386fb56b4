/** One-line rendering of a notified syscall for the SYSCALL debug tag. */
import { syscallInfo } from './syscalls/x86_64.js';
import type { SyscallCall } from './syscall.js';

const NO_PATH = new Set(['fchdir', 'getcwd', 'bind', 'connect']);
const PATH_IN_ARG1 = new Set(['statx', 'openat2', 'execveat', 'name_to_handle_at', 'inotify_add_watch', 'fanotify_mark']);

/** Index of the path argument worth showing, or -1. */
function pathArg(name: string): number {
  if (NO_PATH.has(name)) return -1;
  if (PATH_IN_ARG1.has(name) || /at2?$/.test(name)) return name === 'symlinkat' ? 2 : 1;
  return 0;
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
