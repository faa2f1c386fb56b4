/**
 * Process lifecycle: clone/fork/vfork/clone3 and execve/execveat. The kernel does the work
 * (CONTINUE); for tracked processes the hypervisor snapshots what the child inherits, and lets
 * modules transform their per-process data at exec.
 */
import { Answer, type SyscallCall } from '../syscall.js';
import { CLONE_VFORK, CLONE_VM } from '../process.js';
import type { Hypervisor } from '../hypervisor.js';

const SIGCHLD = 17;

export function procSyscall(hv: Hypervisor, call: SyscallCall): Answer {
  const p = call.process;
  if (!p?.tracked) return Answer.continue();
  switch (call.name) {
    case 'fork':
      hv.procs.cloning(p, SIGCHLD);
      break;
    case 'vfork':
      hv.procs.cloning(p, CLONE_VM | CLONE_VFORK | SIGCHLD);
      break;
    case 'clone':
      hv.procs.cloning(p, call.int(0));
      break;
    case 'clone3': {
      // struct clone_args starts with u64 flags; a bad pointer makes the kernel fail the call
      let flags = 0;
      try {
        flags = Number(call.readMem(call.args[0], 8).readBigUInt64LE(0) & 0xffffffffn);
      } catch {
        return Answer.continue();
      }
      hv.procs.cloning(p, flags);
      break;
    }
    case 'execve':
    case 'execveat':
      hv.procs.exec(p);
      hv.procs.update(p);
      break;
  }
  return Answer.continue();
}
