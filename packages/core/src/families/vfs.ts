/**
 * Path calls on files of a virtual file system (vfs/types.ts): served by the module's methods,
 * with the kernel's structures written into the caller's memory. An opened regular file is a
 * shadow memfd (vfs/shadows.ts); an opened directory is its materialized listing.
 * Argument positions come from the path calls table (families/path.ts).
 */
import { native } from '../native.js';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';
import type { Entry } from '../registry.js';
import { readStatus, type ProcStatus } from '../process.js';
import { hashPath, structStat, structStatfs, structStatx } from '../vfs/structs.js';
import type { Shadow } from '../vfs/shadows.js';
import type { VStat, VirtualFs } from '../vfs/types.js';
import { serviceOf, type ViewPath } from './path.js';
import { currentCaller, withoutCaller } from '../caller.js';
import { reissue } from './reissue.js';
import { AT_FDCWD, AT_REMOVEDIR, R_OK, W_OK, X_OK, O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH, O_TRUNC, O_WRONLY, RENAME_NOREPLACE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../linux.js';

const UTIME_NOW = (1 << 30) - 1;
const UTIME_OMIT = (1 << 30) - 2;
const XATTR_SIZE_MAX = 65536;
const SYS_open = 2;
const SYS_openat = 257;
/** what statfs shows when the module does not say (f_type of a FUSE mount) */
const DEFAULT_STATFS = { type: 0x65735546, bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 };

/** The argument layout the calls table gives for one call. */
export interface CallLayout {
  paths: Array<{ arg: number }>;
  out?: Array<{ arg: number; size: number } | { arg: number; sizeArg: number }>;
  in?: Array<{ arg: number; size: number } | { arg: number; sizeArg: number }>;
  fd?: { flags: number };
  mode?: { arg: number };
}

const need = <K extends keyof VirtualFs>(vfs: VirtualFs, method: K, errno = 'EROFS'): NonNullable<VirtualFs[K]> => {
  const m = vfs[method];
  if (typeof m !== 'function') throw new SyscallError(errno);
  return (m as (...a: unknown[]) => unknown).bind(vfs) as NonNullable<VirtualFs[K]>;
};

/** A stable device number per virtual mount (st_dev). */
const devOf = (entry: Entry) => 0x80 + (entry.epoch % 0x70);

export async function vfsSyscall(hv: Hypervisor, call: SyscallCall, layout: CallLayout, resolved: ViewPath[]): Promise<Answer> {
  const r = resolved[0];
  const vfs = serviceOf(r.entry!) as VirtualFs;
  const m = r.mpath!;
  const p0 = layout.paths[0].arg;
  // the caller's ids and umask: read (from /proc, once per call) by the calls that use them only
  const caller = () => callerStatus(call);
  const st = async () => {
    const s = r.exists ? await vfs.lstat(m) : null;
    if (!s) throw new SyscallError('ENOENT');
    return { ...s, ...hv.shadows.live(shadowKey(r.entry!, m)) };
  };
  const umasked = (mode: number) => mode & 0o7777 & ~caller().umask;
  // what processes wrote and closed before is the module's first (a hard link's size, an
  // mtime set by utimensat after a write-back in flight)
  await hv.shadows.caughtUp(shadowKey(r.entry!, ''));
  switch (call.name) {
    case 'stat':
    case 'lstat':
    case 'newfstatat':
    case 'statx':
      return writeStat(call, layout, await st(), r.entry!, r.path);
    case 'access':
    case 'faccessat':
    case 'faccessat2': {
      const want = call.int(p0 + 1) & 7;
      const s = await st();
      if (want && !permits(s, caller(), want)) throw new SyscallError('EACCES');
      return Answer.value(0);
    }
    case 'readlink':
    case 'readlinkat': {
      if (((await st()).mode & S_IFMT) !== S_IFLNK) throw new SyscallError('EINVAL');
      const o = layout.out![0] as { arg: number; sizeArg: number };
      const text = Buffer.from(await vfs.readlink(m)).subarray(0, Math.max(0, call.long(o.sizeArg)));
      call.writeMem(call.args[o.arg], text);
      return Answer.value(text.length);
    }
    case 'getxattr':
    case 'lgetxattr':
    case 'listxattr':
    case 'llistxattr':
      if (!r.exists) throw new SyscallError('ENOENT');
      return queryXattrs(call, vfs, m);
    case 'setxattr':
    case 'lsetxattr':
      await setXattr(vfs, m, await st(), caller(), call);
      return Answer.value(0);
    case 'removexattr':
    case 'lremovexattr':
      await removeXattr(vfs, m, await st(), caller(), call.readString(1));
      return Answer.value(0);
    case 'statfs':
      await st();
      call.writeMem(call.args[layout.out![0].arg], structStatfs((await vfs.statfs?.(m)) ?? DEFAULT_STATFS));
      return Answer.value(0);
    case 'open':
    case 'openat':
    case 'creat':
      return open(hv, call, layout, r, vfs, caller());
    case 'mkdir':
    case 'mkdirat':
      if (r.exists) throw new SyscallError('EEXIST');
      await need(vfs, 'mkdir')(m, umasked(call.int(layout.mode!.arg)));
      return Answer.value(0);
    case 'mknod':
    case 'mknodat': {
      if (r.exists) throw new SyscallError('EEXIST');
      const mode = call.int(layout.mode!.arg);
      const type = mode & S_IFMT || S_IFREG;
      if (type === S_IFREG) await need(vfs, 'create')(m, umasked(mode));
      else if (type === S_IFDIR) throw new SyscallError('EINVAL');
      else await need(vfs, 'mknod')(m, type | umasked(mode), call.int(layout.mode!.arg + 1));
      return Answer.value(0);
    }
    case 'rmdir':
      if (((await st()).mode & S_IFMT) !== S_IFDIR) throw new SyscallError('ENOTDIR');
      await need(vfs, 'rmdir')(m);
      return Answer.value(0);
    case 'unlink':
    case 'unlinkat': {
      const dir = call.name === 'unlinkat' && (call.int(2) & AT_REMOVEDIR) !== 0;
      const isDir = ((await st()).mode & S_IFMT) === S_IFDIR;
      if (dir !== isDir) throw new SyscallError(dir ? 'ENOTDIR' : 'EISDIR');
      await need(vfs, dir ? 'rmdir' : 'unlink')(m);
      if (!dir) hv.shadows.detach(shadowKey(r.entry!, m));
      return Answer.value(0);
    }
    case 'rename':
    case 'renameat':
    case 'renameat2': {
      await st();
      const flags = call.name === 'renameat2' ? call.int(4) : 0;
      if (flags & ~RENAME_NOREPLACE) throw new SyscallError('EINVAL');
      if (flags & RENAME_NOREPLACE && resolved[1].exists) throw new SyscallError('EEXIST');
      await need(vfs, 'rename')(m, resolved[1].mpath!);
      hv.shadows.detach(shadowKey(r.entry!, resolved[1].mpath!)); // the file replaced, if open
      for (const { shadow, key } of hv.shadows.rekey(shadowKey(r.entry!, m), shadowKey(r.entry!, resolved[1].mpath!))) {
        const owner = shadow.owner as OpenFileOwner;
        owner.mpath = key.slice(key.indexOf(':') + 1);
        owner.viewPath = resolved[1].path + owner.mpath.slice(resolved[1].mpath!.length);
      }
      return Answer.value(0);
    }
    case 'link':
    case 'linkat':
      await st();
      if (resolved[1].exists) throw new SyscallError('EEXIST');
      await need(vfs, 'link')(m, resolved[1].mpath!);
      return Answer.value(0);
    case 'symlink':
    case 'symlinkat':
      if (r.exists) throw new SyscallError('EEXIST');
      await need(vfs, 'symlink')(call.readString(0), m);
      return Answer.value(0);
    case 'chmod':
    case 'fchmodat':
    case 'fchmodat2':
      await setAttributes(vfs, m, await st(), caller(), { mode: call.int(p0 + 1) & 0o7777 });
      return Answer.value(0);
    case 'chown':
    case 'lchown':
    case 'fchownat':
      await setAttributes(vfs, m, await st(), caller(), { uid: call.int(p0 + 1), gid: call.int(p0 + 2) });
      return Answer.value(0);
    case 'utimensat':
    case 'utimes':
    case 'utime':
    case 'futimesat': {
      const old = await st();
      const change = timesChange(call, layout.in![0].arg, old);
      if (change.nothing) return Answer.value(0);
      await setAttributes(vfs, m, old, caller(), change);
      return Answer.value(0);
    }
    case 'truncate': {
      const s = await st();
      if ((s.mode & S_IFMT) === S_IFDIR) throw new SyscallError('EISDIR');
      if (!permits(s, caller(), W_OK)) throw new SyscallError('EACCES');
      await need(vfs, 'truncate')(m, call.long(p0 + 1));
      return Answer.value(0);
    }
    default:
      throw new SyscallError('ENOTSUP');
  }
}

export const shadowKey = (entry: Entry, mpath: string) => `${entry.epoch}:${mpath}`;

/**
 * getxattr or listxattr in any form (path, l-, f-: the same arguments from 1 on): the size when
 * asked with size 0, else the bytes (ERANGE if they do not fit). A module without xattrs has none.
 */
async function queryXattrs(call: SyscallCall, vfs: VirtualFs, mpath: string): Promise<Answer> {
  const list = call.name.endsWith('listxattr');
  const bufArg = list ? 1 : 2;
  if (!list && !vfs.getxattr) throw new SyscallError('ENODATA');
  const data = list ? Buffer.from(((await vfs.listxattr?.(mpath)) ?? []).map((n) => `${n}\0`).join('')) : await vfs.getxattr!(mpath, call.readString(1));
  const size = call.long(bufArg + 1);
  if (size === 0) return Answer.value(data.length);
  if (size < data.length) throw new SyscallError('ERANGE');
  call.writeMem(call.args[bufArg], data);
  return Answer.value(data.length);
}

/**
 * setxattr, lsetxattr, fsetxattr (name, value, size, flags from argument 1 on). cp -a and
 * friends give modes as an access ACL: one made of the mode's three entries is a chmod, as the
 * kernel makes it (for a module without xattrs too); other attributes go to the module.
 */
async function setXattr(vfs: VirtualFs, mpath: string, st: VStat, caller: ProcStatus, call: SyscallCall): Promise<void> {
  const name = call.readString(1);
  mayChangeXattr(st, caller, name);
  const size = call.long(3);
  if (size > XATTR_SIZE_MAX) throw new SyscallError('E2BIG');
  const value = size > 0 ? call.readMem(call.args[2], size) : Buffer.alloc(0);
  const mode = name === 'system.posix_acl_access' ? aclAsMode(value) : undefined;
  if (mode !== undefined) await setAttributes(vfs, mpath, st, caller, { mode: (st.mode & 0o7000) | mode });
  else await need(vfs, 'setxattr', 'ENOTSUP')(mpath, name, value, call.int(4));
}

/**
 * removexattr: the module's; without xattrs, a file has ACLs only as its mode, so removing one
 * finds none (cp -a clears a directory's default ACL so, and takes ENODATA as done)
 */
async function removeXattr(vfs: VirtualFs, mpath: string, st: VStat, caller: ProcStatus, name: string): Promise<void> {
  mayChangeXattr(st, caller, name);
  if (!vfs.removexattr && name.startsWith('system.posix_acl_')) throw new SyscallError('ENODATA');
  await need(vfs, 'removexattr', 'ENOTSUP')(mpath, name);
}

/**
 * The kernel's checks before an xattr changes (xattr_permission): trusted.* is root's; user.*
 * exists on regular files and directories only, and takes write access; the others (security,
 * system) are the file system's to judge.
 */
function mayChangeXattr(st: VStat, caller: ProcStatus, name: string): void {
  if (name.startsWith('trusted.') && caller.fsuid !== 0) throw new SyscallError('EPERM');
  if (!name.startsWith('user.')) return;
  const type = st.mode & S_IFMT;
  if (type !== S_IFREG && type !== S_IFDIR) throw new SyscallError('EPERM');
  if (!permits(st, caller, W_OK)) throw new SyscallError('EACCES');
}

/** Whose file a shadow holds (renames update it). */
/** Where the module's file behind an open fd is: its mount, its path there and in the view. */
export interface OpenFileOwner {
  entry: Entry;
  mpath: string;
  viewPath: string;
}

/** The virtual file an fd of a process stands for: its shadow (a regular file) or a stand-in. */
export interface FdFile {
  entry: Entry;
  mpath: string;
  shadow?: Shadow;
}

/** The virtual file of an open shadow, if fd is one. */
export function shadowFile(hv: Hypervisor, tid: number, fd: number): FdFile | undefined {
  const shadow = hv.shadows.ofFd(tid, fd);
  if (!shadow) return undefined;
  const { entry, mpath } = shadow.owner as OpenFileOwner;
  return { entry, mpath, shadow };
}

/**
 * fchmod, fchown, futimens, the f*xattr calls and their AT_EMPTY_PATH forms on an open virtual
 * file are about the module's file (the fd is a shadow memfd holding its content, or a host
 * stand-in for a directory or an O_PATH open).
 */
export async function fdMetaSyscall(hv: Hypervisor, call: SyscallCall, owner: FdFile): Promise<Answer> {
  const { shadow } = owner;
  const vfs = serviceOf(owner.entry) as VirtualFs;
  const caller = callerStatus(call);
  const st = await vfs.lstat(owner.mpath);
  if (!st) throw new SyscallError('ENOENT');
  switch (call.name) {
    case 'fchmod':
    case 'fchmodat2':
      await setAttributes(vfs, owner.mpath, st, caller, { mode: call.int(call.name === 'fchmod' ? 1 : 2) & 0o7777 });
      break;
    case 'fchown':
    case 'fchownat': {
      const at = call.name === 'fchown' ? 1 : 2;
      await setAttributes(vfs, owner.mpath, st, caller, { uid: call.int(at), gid: call.int(at + 1) });
      break;
    }
    case 'fsetxattr':
      await setXattr(vfs, owner.mpath, st, caller, call);
      break;
    case 'fgetxattr':
    case 'flistxattr':
      return queryXattrs(call, vfs, owner.mpath);
    case 'fremovexattr':
      await removeXattr(vfs, owner.mpath, st, caller, call.readString(1));
      break;
    default: {
      const change = timesChange(call, 2, st);
      if (change.nothing) break;
      // utimensat(fd, NULL or "", times, flags): what was written comes first (writing it later
      // would make the mtime now), as in the kernel, where data is in the file when times are set
      if (shadow) await hv.shadows.saveContent(shadow);
      await setAttributes(vfs, owner.mpath, st, caller, change);
      if (shadow) hv.shadows.markUnchanged(shadow); // its metadata is the module's again
    }
  }
  return Answer.value(0);
}

function writeStat(call: SyscallCall, layout: CallLayout, st: VStat, entry: Entry, viewPath: string): Answer {
  const make = call.name === 'statx' ? structStatx : structStat;
  call.writeMem(call.args[layout.out![0].arg], make(st, devOf(entry), hashPath(viewPath)));
  return Answer.value(0);
}

/**
 * fstat of an open virtual file (newfstatat/statx with AT_EMPTY_PATH, which is what the C
 * library's fstat calls): the module's metadata with the live size, not the memfd's. Undefined
 * when the fd is no shadow.
 */
export async function fstatShadow(hv: Hypervisor, call: SyscallCall, layout: CallLayout): Promise<Answer | undefined> {
  const shadow = hv.shadows.ofFd(call.tid, call.int(0));
  if (!shadow) return undefined;
  const { entry, mpath } = shadow.owner as OpenFileOwner;
  // (unlinked while open: the memfd's own metadata)
  return writeOwnerStat(call, layout, shadow.owner as OpenFileOwner, hv.shadows.live(shadowKey(entry, mpath)));
}

/**
 * Writes what stat shows of the module's file behind an open fd (live: the size and times of
 * content written and not saved yet). Undefined when the file is gone.
 */
export async function writeOwnerStat(call: SyscallCall, layout: CallLayout, owner: OpenFileOwner, live?: Partial<VStat>): Promise<Answer | undefined> {
  const st = await (serviceOf(owner.entry) as VirtualFs).lstat(owner.mpath);
  return st ? writeStat(call, layout, { ...st, ...live }, owner.entry, owner.viewPath) : undefined;
}

/** The ids and umask of the process whose call is served (ESRCH when it is gone). */
function callerStatus(call: SyscallCall): ProcStatus {
  const status = currentCaller()?.status() ?? readStatus(call.tid);
  if (!status) throw new SyscallError('ESRCH');
  return status;
}

/** The permission bits an access ACL (xattr form) amounts to, if it holds only the owner, group and other entries. */
function aclAsMode(acl: Buffer): number | undefined {
  const ACL_USER_OBJ = 1;
  const ACL_GROUP_OBJ = 4;
  const ACL_OTHER = 0x20;
  if (acl.length !== 4 + 3 * 8 || acl.readUInt32LE(0) !== 2) return undefined;
  let mode = 0;
  for (let off = 4; off < acl.length; off += 8) {
    const shift = { [ACL_USER_OBJ]: 6, [ACL_GROUP_OBJ]: 3, [ACL_OTHER]: 0 }[acl.readUInt16LE(off)];
    if (shift === undefined) return undefined;
    mode |= (acl.readUInt16LE(off + 2) & 7) << shift;
  }
  return mode;
}

type AttributeChange = { mode: number } | { uid: number; gid: number } | { times: [bigint, bigint]; explicit: boolean };

/**
 * chmod, chown and utimens, after the checks the kernel makes whatever the file system
 * (setattr_prepare): only the owner (or root) changes modes and explicit times, gives a file
 * to a group of theirs and never to another user; setting times to now also takes write access.
 */
async function setAttributes(vfs: VirtualFs, mpath: string, st: VStat, caller: ProcStatus, change: AttributeChange): Promise<void> {
  const root = caller.fsuid === 0;
  const owns = root || caller.fsuid === (st.uid ?? 0);
  if ('mode' in change) {
    if (!owns) throw new SyscallError('EPERM');
    const inGroup = root || caller.fsgid === (st.gid ?? 0) || caller.groups.includes(st.gid ?? 0);
    await need(vfs, 'chmod')(mpath, inGroup ? change.mode : change.mode & ~0o2000); // S_ISGID
  } else if ('uid' in change) {
    const newUid = change.uid === -1 || change.uid === (st.uid ?? 0);
    const newGid = change.gid === -1 || change.gid === (st.gid ?? 0) || caller.fsgid === change.gid || caller.groups.includes(change.gid);
    if (!root && (!newUid || !newGid || (!owns && (change.uid !== -1 || change.gid !== -1)))) throw new SyscallError('EPERM');
    await need(vfs, 'chown')(mpath, change.uid, change.gid);
  } else {
    if (!owns && (change.explicit || !permits(st, caller, W_OK))) throw new SyscallError(change.explicit ? 'EPERM' : 'EACCES');
    const [a, m] = change.times;
    await need(vfs, 'utimens')(mpath, Number(a / 1_000_000n), Number(m / 1_000_000n), a, m);
  }
}

/**
 * The times a utimensat/utimes/utime/futimesat call gives, whether they are explicit (not now),
 * and whether it changes nothing (UTIME_OMIT for both: no check either, as in the kernel).
 */
function timesChange(call: SyscallCall, timesArg: number, old: VStat): { times: [bigint, bigint]; explicit: boolean; nothing?: boolean } {
  let explicit = call.args[timesArg] !== 0n;
  let nothing = false;
  if (explicit && call.name === 'utimensat') {
    const b = call.readMem(call.args[timesArg], 32);
    const both = (v: number) => b.readBigInt64LE(8) === BigInt(v) && b.readBigInt64LE(24) === BigInt(v);
    explicit = !both(UTIME_NOW);
    nothing = both(UTIME_OMIT);
  }
  return { times: newTimes(call, timesArg, old), explicit, nothing };
}

/** Permission bits as the kernel checks them (root passes, except x without any x bit). */
function permits(st: VStat, caller: ProcStatus, want: number): boolean {
  if (caller.fsuid === 0) return !(want & X_OK) || (st.mode & 0o111) !== 0 || (st.mode & S_IFMT) === S_IFDIR;
  const bits =
    caller.fsuid === (st.uid ?? 0) ? (st.mode >> 6) & 7 : caller.fsgid === (st.gid ?? 0) || caller.groups.includes(st.gid ?? 0) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & want) === want;
}

/** atime and mtime a utimensat/utimes/utime/futimesat call asks for, in ns since the epoch. */
function newTimes(call: SyscallCall, times: number, old: VStat): [bigint, bigint] {
  const now = BigInt(Date.now()) * 1_000_000n;
  if (call.args[times] === 0n) return [now, now];
  if (call.name === 'utime') {
    const b = call.readMem(call.args[times], 16);
    return [b.readBigInt64LE(0) * 1_000_000_000n, b.readBigInt64LE(8) * 1_000_000_000n];
  }
  const b = call.readMem(call.args[times], 32);
  const ts = (off: number, oldNs: bigint | undefined, oldMs: number | undefined) => {
    const secs = b.readBigInt64LE(off) * 1_000_000_000n;
    const frac = b.readBigInt64LE(off + 8);
    if (call.name !== 'utimensat') return secs + frac * 1000n; // timeval: microseconds
    if (frac === BigInt(UTIME_NOW)) return now;
    if (frac === BigInt(UTIME_OMIT)) return oldNs ?? (oldMs !== undefined ? BigInt(Math.round(oldMs * 1e6)) : now);
    return secs + frac;
  };
  return [ts(0, old.atimeNs, old.atimeMs), ts(16, old.mtimeNs, old.mtimeMs)];
}

/**
 * open of a virtual file: a directory is its materialized listing, a regular file a shadow
 * memfd shared by every opener until the last one is done (then written back).
 */
async function open(hv: Hypervisor, call: SyscallCall, layout: CallLayout, r: ViewPath, vfs: VirtualFs, caller: ProcStatus): Promise<Answer> {
  const m = r.mpath!;
  const creat = call.name === 'creat';
  let flags = creat ? O_CREAT | O_TRUNC | O_WRONLY : call.int(layout.fd!.flags);
  const wasPath = (flags & O_PATH) !== 0;
  const linkItself = wasPath && (flags & O_NOFOLLOW) !== 0;
  // ADDFD cannot inject an O_PATH description: the caller gets a read-only one (cp opens its
  // target directory so)
  if (flags & O_PATH) flags &= O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  const writes = (flags & O_ACCMODE) !== 0;
  // a file made now, or emptied by this open (the module empties it now, as the kernel asks at
  // open: a file opened with O_TRUNC and closed unwritten is empty), has no content to load
  let empty = !r.exists;
  if (!r.exists) {
    if (!(flags & O_CREAT)) throw new SyscallError('ENOENT');
    if (r.trailingSlash) throw new SyscallError('EISDIR');
    await need(vfs, 'create')(m, call.int(layout.mode!.arg) & 0o7777 & ~caller.umask);
  } else if (flags & O_CREAT && flags & O_EXCL) {
    throw new SyscallError('EEXIST');
  }
  const st = await vfs.lstat(m);
  if (!st) throw new SyscallError('ENOENT');
  const type = st.mode & S_IFMT;
  if (type === S_IFLNK) {
    if (!linkItself) throw new SyscallError('ELOOP'); // O_NOFOLLOW on a symlink
    // O_PATH|O_NOFOLLOW opens the link itself (glibc's lchmod does, to say EOPNOTSUPP): the
    // caller opens a host copy of it
    const copy = hv.dirViews.linkCopy(await vfs.readlink(m));
    return reissue(hv, call, SYS_openat, [BigInt(AT_FDCWD), copy, BigInt(O_PATH | O_NOFOLLOW | (flags & O_CLOEXEC)), 0n], copy);
  }
  if (flags & O_DIRECTORY && type !== S_IFDIR) throw new SyscallError('ENOTDIR');
  const access = (flags & O_ACCMODE) === 0 ? R_OK : (flags & O_ACCMODE) === 1 ? W_OK : R_OK | W_OK;
  // (an O_PATH open needs no access to the file itself)
  if (r.exists && !wasPath && !permits(st, caller, access)) throw new SyscallError('EACCES');
  let fd: number;
  if (type === S_IFDIR) {
    if (writes || flags & O_CREAT) throw new SyscallError('EISDIR');
    // an O_PATH open never reads the directory (lchmod and fchownat(AT_EMPTY_PATH) users open
    // many): it stands for the directory, with no listing to make
    const entries = wasPath ? [] : await vfs.readdir(m);
    fd = native.syscall(SYS_open, hv.dirViews.materialize(r.path, entries), (flags & ~O_CREAT) | O_CLOEXEC, 0);
  } else if (wasPath) {
    fd = native.syscall(SYS_open, hv.dirViews.standIn(r.path), O_CLOEXEC, 0); // O_RDONLY
  } else if (type === S_IFREG) {
    // no way to take the content back (a read-only mount): opening to change it is refused
    if ((writes || flags & O_TRUNC) && (vfs.readOnly || typeof vfs.write !== 'function')) throw new SyscallError('EROFS');
    const entry = r.entry!;
    const shadow = await hv.shadows.get(shadowKey(entry, m), async () => {
      if (!empty && writes && flags & O_TRUNC && vfs.truncate) {
        await vfs.truncate(m, 0); // even when empty: the kernel sets mtime and ctime
        empty = true;
      }
      const content = empty ? Buffer.alloc(0) : await vfs.read(m);
      hv.registry.acquire(entry); // an open file keeps its mount busy (umount: EBUSY)
      const owner: OpenFileOwner = { entry, mpath: m, viewPath: r.path };
      return {
        content,
        mode: st.mode,
        mtimeMs: st.mtimeMs,
        owner,
        label: r.path,
        // the process was allowed to write when it opened the file: the module hears it as
        // the kernel's own request, not as whatever call happened to see the release
        save: (data: Buffer) => withoutCaller(async () => need(vfs, 'write')(owner.mpath, data)),
        release: () => hv.registry.release(entry),
      };
    });
    fd = hv.shadows.open(shadow, flags);
  } else if (vfs.openDevice) {
    const opened = await vfs.openDevice(m, flags);
    if (typeof opened !== 'number') return hv.devices.open(call, { entry: r.entry!, mpath: m, viewPath: r.path }, opened, flags);
    fd = opened;
  } else {
    throw new SyscallError('ENXIO'); // devices, fifos and sockets of a virtual fs
  }
  if (fd < 0) return Answer.error(-fd);
  try {
    const injected = native.addFd(call.id, fd, -1, { send: true, cloexec: (flags & O_CLOEXEC) !== 0 });
    return injected < 0 ? Answer.error(-injected) : Answer.answered();
  } finally {
    native.syscall(3 /* close */, fd);
  }
}
