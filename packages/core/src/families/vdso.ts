/**
 * An exec that the kernel performs (the exec family's CONTINUE). While the view has a virtual
 * clock (families/clock.ts), the new program must read the time with system calls, which the
 * view answers, and not in the vDSO, which it cannot see: the caller is traced for the exec
 * (native/src/vdso.cc), and the program starts with the vDSO gone from its auxiliary vector, so
 * the C library (dynamic or static), Go and the rest fall back to the system calls. A thread
 * that does not lead its process, or that is traced already (a debugger in the view), runs its
 * program with the vDSO: that program's clock is the real one.
 */
import { native } from '../native.js';
import { Answer, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';
import { errnoOf } from '../errno.js';

export async function continueExec(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  if (!hv.clock) return Answer.continue();
  // what was written to the clock module's files and closed before the exec sets its clock
  await hv.clockSettled();
  const r = await native.execHidingVdso(call.id, call.tid);
  if (r < 0) {
    const why = r === -errnoOf('EXDEV') ? 'not its process leader' : native.strerror(-r);
    hv.logger.printk(5, `umvu: ${call.name} of ${call.tid}: the program keeps the vDSO and the real time (${why})`);
    return Answer.continue();
  }
  // the outcome is known now: the modules' exec hooks run (unless a call of the new program came first)
  if (call.process?.pendingExec) hv.procs.execSettles(call.process);
  return Answer.answered();
}
