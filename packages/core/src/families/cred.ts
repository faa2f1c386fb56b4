/**
 * Credential changes (setuid, setresgid, setgroups...), seen only while umvu runs as root and
 * files are mounted. The kernel makes them (CONTINUE); the process is marked as having its
 * own credentials, so that its path calls come to JavaScript, which performs them under the
 * caller's file-system ids instead of umvu's (families/path.ts performAsCaller).
 */
import { Answer, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';

/** The calls that can give a process other file-system credentials than umvu's. */
export const CREDENTIAL_CHANGES = ['setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setfsuid', 'setfsgid', 'setgroups', 'capset'];

export function credSyscall(hv: Hypervisor, call: SyscallCall): Answer {
  if (CREDENTIAL_CHANGES.includes(call.name)) markOwnCredentials(hv, call.tid);
  return Answer.continue();
}

export function markOwnCredentials(hv: Hypervisor, tid: number): void {
  const p = hv.procs.ensure(tid);
  if (p.ownCredentials) return;
  p.ownCredentials = true;
  hv.procs.update(p);
}
