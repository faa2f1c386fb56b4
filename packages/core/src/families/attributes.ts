/**
 * Attributes a mount keeps over its host files (vufs cow/mincow): owners, modes and device nodes
 * that the host refuses an unprivileged user. The host still holds the file and its content; the
 * mount's AttributeKeeper stores what differs, and the view shows the result:
 *
 * - chown/chmod (and fchown/fchmod of an fd opened through the mount) are tried on the host
 *   file; if it refuses (EPERM), or holds something else than asked, the keeper records it;
 * - mknod of a device (EPERM for a user) makes an empty regular file, recorded as the device;
 * - a file made by a process whose file-system ids are not the host owner's (virtual root)
 *   is recorded as that process' own;
 * - stat, lstat, newfstatat, statx (and fstat of such an fd) show the recorded attributes.
 *
 * A refusal is made good only where the kernel would allow the call on what the view shows
 * (mayChange): root, virtual root included, or the file's owner in the view.
 */
import fs from 'node:fs';
import path from 'node:path';
import { withCallerFd } from '../caller.js';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';
import type { Entry } from '../registry.js';
import { syscallNumber } from '../syscalls/x86_64.js';
import type { ProcStatus } from '../process.js';
import { AT_FDCWD, O_CREAT, O_EXCL, O_WRONLY, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_ISGID, S_ISUID, S_IXGRP } from '../linux.js';
import { serviceOf } from './path.js';
import { isVirtualFs } from '../vfs/types.js';
import { devMajor, devMinor } from '../vfs/structs.js';

/** What the view shows of a file instead of its host file's: mode (type included), owner, rdev. */
export interface KeptAttributes {
  mode?: number;
  uid?: number;
  gid?: number;
  rdev?: number;
}

export interface AttributeKeeper {
  /** the attributes kept for mpath, if any */
  of(mpath: string): KeptAttributes | undefined;
  /** mpath, whose host file is host, shows `wanted` from now on (the keeper stores what the host file does not hold) */
  keep(mpath: string, host: string, wanted: KeptAttributes): void;
  /**
   * The path in the mount of one of its host files (an fd's, as /proc shows it), if it is one;
   * keepOnly: that host file must not change (a cow layer's lower file: a change is kept only)
   */
  fileOf(host: string): { mpath: string; keepOnly: boolean } | undefined;
  /** a change of mpath's owner or mode is kept only, its host file left alone (vufs cow nochcopy) */
  keepsOnly?(mpath: string): boolean;
}

/** performs a call as its caller would (path.ts: umask, file-system ids); answers -errno on failure */
export type Perform = (nr: number, args: Array<bigint | number | string | Buffer | null>) => number;

export const keeperOf = (entry: Entry | undefined): AttributeKeeper | undefined => {
  const files = entry && serviceOf(entry);
  return files && !isVirtualFs(files) ? files.attributes : undefined;
};

/** The host file's attributes as the view shows them. */
function shown(keeper: AttributeKeeper, mpath: string, host: string): Required<KeptAttributes> {
  const st = fs.lstatSync(host);
  return { mode: st.mode, uid: st.uid, gid: st.gid, rdev: st.rdev, ...keeper.of(mpath) };
}

const CHOWN = new Set(['chown', 'lchown', 'fchownat', 'fchown']);
const CHMOD = new Set(['chmod', 'fchmodat', 'fchmodat2', 'fchmod']);
const MKNOD = new Set(['mknod', 'mknodat']);
/** where the mode or the owner is in each call's arguments */
const VALUE_ARG: Record<string, number> = { chown: 1, lchown: 1, fchownat: 2, fchown: 1, chmod: 1, fchmodat: 2, fchmodat2: 2, fchmod: 1, mknod: 1, mknodat: 2 };
export const EPERM = 1;

/** The calls whose host refusal (EPERM) a keeper makes good. */
export const isAttributeCall = (call: SyscallCall) => {
  if (!MKNOD.has(call.name)) return VALUE_ARG[call.name] !== undefined;
  const type = call.int(VALUE_ARG[call.name]) & S_IFMT;
  return type === S_IFCHR || type === S_IFBLK; // (files, FIFOs and sockets: the host makes them)
};

/**
 * After chown, chmod or mknod of a device was performed on host file `host` (result r): a
 * refusal (EPERM) the kernel would not have made on what the view shows is made good by the
 * keeper, a success clears what it kept in the way. `args` are the call's as performed
 * (mknod's mode with the umask applied). Undefined when the keeper has nothing to do with the
 * result.
 */
export function keepAttributes(
  call: SyscallCall,
  keeper: AttributeKeeper,
  mpath: string,
  host: string,
  args: Array<bigint | number | string | Buffer | null>,
  r: number,
  caller: ProcStatus | undefined,
  perform: Perform,
): Answer | undefined {
  if (!caller || (r !== 0 && r !== -EPERM)) return undefined;
  const value = (i: number) => Number(BigInt.asIntN(32, BigInt(args[VALUE_ARG[call.name] + i] as bigint | number)));
  if (MKNOD.has(call.name)) {
    if (r === 0 || caller.fsuid !== 0) return undefined; // (only root makes devices)
    // an empty regular file stands for the node; its permission bits are the node's
    const made = perform(syscallNumber('openat'), [AT_FDCWD, host, O_CREAT | O_EXCL | O_WRONLY, value(0) & 0o7777]);
    if (made < 0) return Answer.error(-made);
    fs.closeSync(made);
    keeper.keep(mpath, host, { mode: value(0) >>> 0, rdev: value(1) >>> 0 });
    return Answer.value(0);
  }
  const now = shown(keeper, mpath, host);
  // a refusal is made good where the kernel would have allowed it on what the view shows
  if (r !== 0 && !mayChange(call.name, now, caller, value(0), value(1))) return undefined;
  if (CHMOD.has(call.name)) {
    keeper.keep(mpath, host, { mode: (now.mode & S_IFMT) | (value(0) & 0o7777) });
    return Answer.value(0);
  }
  const [uid, gid] = [value(0), value(1)];
  const wanted: KeptAttributes = {};
  if (uid !== -1) wanted.uid = uid;
  if (gid !== -1) wanted.gid = gid;
  // a change of owner takes set-user-ID away (set-group-ID too, on a group-executable file)
  const type = now.mode & S_IFMT;
  const kill = S_ISUID | (now.mode & S_IXGRP ? S_ISGID : 0);
  if (type !== S_IFDIR && type !== S_IFLNK && now.mode & kill) wanted.mode = now.mode & ~kill;
  keeper.keep(mpath, host, wanted);
  return Answer.value(0);
}

/**
 * The kernel's rule for chown and chmod, applied to the view's owner: root may do anything; the
 * owner may change the mode, and the group to one of its own groups.
 */
function mayChange(name: string, now: Required<KeptAttributes>, caller: ProcStatus, uid: number, gid: number): boolean {
  if (caller.fsuid === 0) return true;
  if (caller.fsuid !== now.uid) return false;
  if (CHMOD.has(name)) return true;
  return (uid === -1 || uid === now.uid) && (gid === -1 || gid === now.gid || gid === caller.fsgid || caller.groups.includes(gid));
}

/**
 * After a creation: a caller whose file-system ids are not the host file's owner made it its
 * own. Its group is the caller's, or its directory's when that is set-group-ID (a directory
 * made there is set-group-ID too), as the view shows the directory.
 */
export function keepCreator(keeper: AttributeKeeper, mpath: string, host: string, caller: ProcStatus | undefined): void {
  if (!caller) return;
  const st = fs.lstatSync(host);
  const parent = mpath === '/' ? undefined : shown(keeper, path.posix.dirname(mpath), path.dirname(host));
  const wanted: KeptAttributes = { uid: caller.fsuid, gid: parent && parent.mode & S_ISGID ? parent.gid : caller.fsgid };
  if (parent && parent.mode & S_ISGID && st.isDirectory()) wanted.mode = st.mode | S_ISGID;
  if (st.uid !== wanted.uid || st.gid !== wanted.gid || (wanted.mode ?? st.mode) !== st.mode) keeper.keep(mpath, host, wanted);
}

/**
 * The host's device node of the type and number of a kept one (/dev/null for c 1,3): what
 * opening the kept node opens, as a real node would (the caller's own permissions apply).
 * Undefined when the host has none (the kernel says ENXIO for a number without a driver).
 */
export function hostDeviceNode(mode: number, rdev: number): string | undefined {
  const key = `${mode & S_IFMT}:${rdev}`;
  if (!deviceNodes.has(key)) {
    deviceNodes.clear();
    for (const name of fs.readdirSync('/dev')) {
      const st = fs.lstatSync(`/dev/${name}`, { throwIfNoEntry: false });
      if (st && (st.isCharacterDevice() || st.isBlockDevice())) deviceNodes.set(`${st.mode & S_IFMT}:${st.rdev}`, `/dev/${name}`);
    }
  }
  return deviceNodes.get(key);
}
const deviceNodes = new Map<string, string>();

/** Writes kept attributes into a struct stat (stat, lstat, newfstatat) or struct statx result. */
export function showKept(buf: Buffer, statx: boolean, kept: KeptAttributes): void {
  if (statx) {
    if (kept.uid !== undefined) buf.writeUInt32LE(kept.uid >>> 0, 20);
    if (kept.gid !== undefined) buf.writeUInt32LE(kept.gid >>> 0, 24);
    if (kept.mode !== undefined) buf.writeUInt16LE(kept.mode & 0xffff, 28);
    if (kept.rdev !== undefined) {
      buf.writeUInt32LE(devMajor(kept.rdev), 128);
      buf.writeUInt32LE(devMinor(kept.rdev), 132);
    }
    return;
  }
  if (kept.mode !== undefined) buf.writeUInt32LE(kept.mode >>> 0, 24);
  if (kept.uid !== undefined) buf.writeUInt32LE(kept.uid >>> 0, 28);
  if (kept.gid !== undefined) buf.writeUInt32LE(kept.gid >>> 0, 32);
  if (kept.rdev !== undefined) buf.writeBigUInt64LE(BigInt(kept.rdev), 40);
}

/** The keeper's mount serving host file `host` (an fd's path), and the file's path in it. */
export function keptFileOf(hv: Hypervisor, host: string): { keeper: AttributeKeeper; mpath: string; keepOnly: boolean; viewPath: string } | undefined {
  if (host.endsWith(' (deleted)')) return undefined; // an unlinked file: nothing is kept for it
  for (const e of hv.registry.all('path').reverse()) {
    const keeper = keeperOf(e); // (the newest mount first)
    const file = keeper?.fileOf(host);
    if (!file || e.options.confirm?.(file.mpath === '/' ? '' : file.mpath) === false) continue; // (except=)
    const target = String(e.key) || '/';
    return { keeper: keeper!, ...file, viewPath: file.mpath === '/' ? target : target === '/' ? file.mpath : target + file.mpath };
  }
  return undefined;
}

/** Some mount keeps attributes (then fstat of host fds is JavaScript's: path/native-table.ts). */
export const anyKeeper = (entries: Entry[]) => entries.some((e) => keeperOf(e) !== undefined);

/**
 * fstat (newfstatat/statx with AT_EMPTY_PATH), fchown and fchmod of an fd opened through a
 * keeper's mount. Undefined when the fd is not such a file.
 */
export function fdAttributesSyscall(hv: Hypervisor, call: SyscallCall, caller: () => ProcStatus | undefined, perform: Perform, outArg?: number): Answer | undefined {
  let host: string;
  try {
    host = fs.readlinkSync(`/proc/${call.tid}/fd/${call.int(0)}`);
  } catch {
    return undefined;
  }
  const file = keptFileOf(hv, host);
  if (!file) return undefined;
  // the call itself, made on umvu's copy of the fd (the same open file: an O_PATH one says EBADF
  // to fchmod as natively)
  const onOwnCopy = (args: Array<bigint | number | string | Buffer | null>): number => withCallerFd(call.tid, call.int(0), (own) => perform(call.nr, [own, ...args.slice(1)]));
  const emptyPath = (args: Array<bigint | number | string | Buffer | null>) => args.map((a, i) => (i === 1 && call.name !== 'fchown' && call.name !== 'fchmod' ? '' : a));
  if (outArg === undefined) {
    // fchown, fchmod and their AT_EMPTY_PATH forms
    const args = emptyPath([...call.args]);
    const r = file.keepOnly || file.keeper.keepsOnly?.(file.mpath) ? -EPERM : onOwnCopy(args);
    return keepAttributes(call, file.keeper, file.mpath, host, args, r, caller(), perform) ?? (r < 0 ? Answer.error(-r) : Answer.value(r));
  }
  const kept = file.keeper.of(file.mpath);
  if (!kept) return undefined; // the kernel's answer is the view's
  const statx = call.name === 'statx';
  const buf = Buffer.alloc(statx ? 256 : 144);
  const r = onOwnCopy(statx ? [0, '', call.args[2], call.args[3], buf] : [0, '', buf, call.args[3]]);
  if (r < 0) throw new SyscallError(-r);
  showKept(buf, statx, kept);
  call.writeMem(call.args[outArg], buf);
  return Answer.value(0);
}

