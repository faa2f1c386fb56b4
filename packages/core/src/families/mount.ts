/**
 * mount(2) and umount2(2): the module whose name prefixes the filesystem type gets the mount
 * (VUOS' choice); umount2 goes to the module that owns a mount with exactly that target.
 * Without a module the kernel handles them as usual.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';

/**
 * Absolute canonical form of a path argument as the caller sees it (cwd from /proc).
 * Symlinks of existing paths are resolved by the kernel's view of the caller's root.
 */
export function callerPath(call: SyscallCall, p: string): string {
  if (p === '') throw new SyscallError('ENOENT');
  const abs = path.posix.resolve(p.startsWith('/') ? '/' : fs.readlinkSync(`/proc/${call.tid}/cwd`), p);
  try {
    return fs.realpathSync.native(abs);
  } catch {
    return abs;
  }
}

export async function mountSyscall(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  if (call.name === 'mount') {
    if (call.args[2] === 0n) return Answer.continue();
    const fstype = call.readString(2, 256);
    const moduleEntry = hv.registry.lookupFsType(fstype);
    if (!moduleEntry) return Answer.continue();
    const service = moduleEntry.service;
    const req = {
      source: call.args[0] === 0n ? '' : call.readString(0),
      target: callerPath(call, call.readString(1)),
      fstype,
      flags: call.long(3),
      data: call.args[4] === 0n ? '' : call.readString(4, 65536),
      call,
    };
    await hv.inModule(service, () => service.definition.mount!(req));
    return Answer.value(0);
  }
  // umount2 (umount has the same number on x86_64 as umount2 with flags 0: only umount2 exists)
  const target = callerPath(call, call.readString(0));
  const entry = hv.registry.lookupMountTarget(target);
  if (!entry) return Answer.continue();
  const flags = call.int(1);
  hv.registry.checkRemovable(entry, flags);
  await hv.inModule(entry.service, () => entry.service.definition.umount?.(entry, flags));
  hv.registry.del(entry, flags);
  return Answer.value(0);
}
