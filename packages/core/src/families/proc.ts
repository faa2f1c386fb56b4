/**
 * execve/execveat: the kernel does the work (CONTINUE); for tracked processes modules may
 * transform their per-process data first. (clone and fork are not notified: see process.ts.)
 */
import { Answer, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';

export function procSyscall(hv: Hypervisor, call: SyscallCall): Answer {
  const p = call.process;
  // from a virtual cwd the kernel would look a relative program up in a stale directory
  if (p?.vcwd !== undefined && call.name === 'execve' && !call.readString(0).startsWith('/')) return Answer.error('ENOTSUP');
  if (p?.tracked) {
    hv.procs.exec(p);
    hv.procs.update(p);
  }
  return Answer.continue();
}
