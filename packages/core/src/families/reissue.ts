/**
 * Calls the caller must make itself, with other arguments (native/src/ptrace.cc): exec of a
 * file in a mount, O_PATH opens under a mount. The reissued call is notified again; it names a
 * host path that must reach the kernel as is, whatever the mounts say of that path.
 */
import { native } from '../native.js';
import { Answer, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';

/** tid → the path its reissued call names */
const pending = new Map<number, string>();

/** Makes the caller issue syscall nr(args) instead of call; path: the host path it names. */
export async function reissue(hv: Hypervisor, call: SyscallCall, nr: number, args: Parameters<typeof native.reissue>[4], path: string): Promise<Answer> {
  pending.set(call.tid, path);
  const r = await native.reissue(call.id, call.tid, call.notifiedNr, nr, args);
  if (r < 0) {
    pending.delete(call.tid);
    hv.logger.printk(4, `umvu: ${call.name} of ${call.tid} cannot be redirected to ${path}: ${native.strerror(-r)}`);
    return Answer.error(-r);
  }
  return Answer.answered();
}

/** Whether call, naming path, is the reissued form of an earlier one (the kernel performs it). */
export function isReissued(call: SyscallCall, path: string | (() => string)): boolean {
  const expected = pending.get(call.tid);
  if (expected === undefined) return false;
  pending.delete(call.tid);
  return expected === (typeof path === 'string' ? path : path());
}
