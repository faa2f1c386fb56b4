/**
 * mount(2) and umount2(2): the module whose name prefixes the filesystem type gets the mount
 * (VUOS' choice); umount2 goes to the module that owns a mount with exactly that target.
 * Without a module the kernel handles them as usual.
 */
import fs from 'node:fs';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import { MNT_DETACH } from '../registry.js';
import { shadowKey } from './vfs.js';
import { resolvePath, realOracle } from '../path/resolve.js';
import type { Hypervisor } from '../hypervisor.js';

/** MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW: what umount2 knows */
const UMOUNT_FLAGS = 0xf;

/** The canonical absolute form of a path argument, resolved from the caller's cwd. */
export async function callerPath(call: SyscallCall, p: string): Promise<string> {
  const base = fs.readlinkSync(`/proc/${call.tid}/cwd`);
  return (await resolvePath(p, { base, follow: true }, realOracle)).path;
}

export async function mountSyscall(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  if (call.name === 'mount') {
    if (call.args[2] === 0n) return Answer.continue();
    const fstype = call.readString(2, 256);
    const moduleEntry = hv.registry.lookupFsType(fstype);
    if (!moduleEntry) return Answer.continue();
    const service = moduleEntry.service;
    const source = call.args[0] === 0n ? '' : call.readString(0);
    const target = await callerPath(call, call.readString(1));
    const flags = call.long(3);
    const data = call.args[4] === 0n ? '' : call.readString(4, 65536);
    const req = { source, target, fstype, flags, data, call, info: { source, target, fstype, options: data, flags } };
    await hv.inModule(service, () => service.definition.mount!(req));
    return Answer.value(0);
  }
  // umount2 (umount has the same number on x86_64 as umount2 with flags 0: only umount2 exists)
  const flags = call.int(1);
  // unknown flags or an empty path name no mount of ours: the kernel's errors (EINVAL, ENOENT),
  // which fusermount probes for UMOUNT_NOFOLLOW
  if (flags & ~UMOUNT_FLAGS || call.args[0] === 0n) return Answer.continue();
  const text = call.readString(0);
  if (text === '') return Answer.continue();
  const target = await callerPath(call, text);
  const entry = hv.registry.lookupMountTarget(target);
  if (!entry) {
    // detached (MNT_DETACH) and still in use, or still being ended by its module: whoever
    // unmounts it again on the way out (a FUSE daemon's libfuse) finds it done
    const detached = hv.detachedMounts.get(target);
    if (detached && (detached.refs > 0 || detached.ending)) return Answer.value(0);
    hv.detachedMounts.delete(target);
    return Answer.continue();
  }
  // a process working inside keeps it busy, as the kernel's cwd and root do
  if (!(flags & MNT_DETACH) && hv.procs.someWithin(target)) throw new SyscallError('EBUSY');
  await hv.shadows.caughtUp(shadowKey(entry, '')); // a file closed just before is still being written back: not busy
  hv.devices.caughtUp(); // (and a device closed just before is free)
  if (hv.registry.lookupMountTarget(target) !== entry) throw new SyscallError('EINVAL'); // unmounted meanwhile
  hv.registry.checkRemovable(entry, flags);
  await hv.inModule(entry.service, () => entry.service.definition.umount?.(entry, flags));
  // the module has ended it: what raced with its end is detached (and released when done)
  hv.registry.del(entry, flags | MNT_DETACH);
  if (entry.refs > 0) hv.detachedMounts.set(target, entry);
  return Answer.value(0);
}
