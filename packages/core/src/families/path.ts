/**
 * Path calls while files are mounted: every path argument is resolved over the view (module or
 * kernel, component by component). A call that touches nothing virtual goes to the kernel
 * unchanged (CONTINUE). One that does is performed *on behalf*: the supervisor runs the same
 * system call with the host paths the mounts redirect to, copies output buffers back and
 * injects resulting fds (ADDFD), since a target's arguments cannot be changed.
 *
 * Served here: the calls in PATH_CALLS, and chdir/getcwd: a process that enters a mount gets a
 * virtual cwd (VuProcess.vcwd). Others that touch a mount fail with ENOTSUP until the path
 * engine covers them.
 *
 * Most calls never get here: the native listener continues those it proves touch no mount
 * and performs the simple ones inside pure redirects itself (path/native-table.ts); this is
 * what it cannot prove, and everything under `umvu -S`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../native.js';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import { isDir, resolvePath, type PathOracle } from '../path/resolve.js';
import type { Entry, MountInfo } from '../registry.js';
import type { Hypervisor } from '../hypervisor.js';
import { pathArg } from '../describe.js';
import { readStatus, type ProcStatus } from '../process.js';
import { errnoName } from '../errno.js';
import { fdPathSyscall } from './fdpath.js';
import { isReissued, reissue } from './reissue.js';
import { fdMetaSyscall, fstatShadow, shadowFile, vfsSyscall, type FdFile } from './vfs.js';
import { fstatDevice } from './devices.js';
import { EPERM, fdAttributesSyscall, hostDeviceNode, isAttributeCall, keptFileOf, keepAttributes, keepCreator, keeperOf, showKept, type AttributeKeeper } from './attributes.js';
import { memfdWith } from '../vfs/memfd.js';
import { isVirtualFs, type SourceFile, type VirtualFs } from '../vfs/types.js';
import {
  O_RDONLY,
  O_RDWR,
  O_CREAT,
  S_IFMT,
  O_ACCMODE,
  O_NOFOLLOW,
  MS_RDONLY,
  AT_SYMLINK_FOLLOW,
  S_IFREG,
  S_IFDIR,
  AT_EACCESS,
  O_TMPFILE_BIT,
  AT_REMOVEDIR,
  W_OK,
  X_OK,
  O_PATH,
  RENAME_EXCHANGE,
  O_CLOEXEC,
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  AT_EMPTY_PATH,
  O_TRUNC,
  S_IFBLK,
  S_IFSOCK,
  S_IFLNK,
  S_IFIFO,
  S_IFCHR,
} from '../linux.js';
import { syscallNumber } from '../syscalls/x86_64.js';

const SYS_open = 2;

/**
 * What a call does to a path, for services that place files by it (vufs cow copies a file up
 * before its first change): read, change (write), change owner or mode only (attributes), make
 * (create), unlink/rmdir (remove), or move away (rename: the old name).
 */
export type Access = 'read' | 'write' | 'attributes' | 'create' | 'remove' | 'rename';

/** An entry of a directory listing served by a module. */
export interface DirEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';
}

const DIRENT_TYPES: Record<number, DirEntry['type']> = {
  [S_IFREG]: 'file',
  [S_IFDIR]: 'dir',
  [S_IFLNK]: 'symlink',
  [S_IFIFO]: 'fifo',
  [S_IFSOCK]: 'socket',
  [S_IFCHR]: 'char',
  [S_IFBLK]: 'block',
};

/** The listing type of a file of mode (or of a d_type << 12); undefined for no file type. */
export const direntTypeOf = (mode: number): DirEntry['type'] | undefined => DIRENT_TYPES[mode & S_IFMT];

/**
 * A mount's file service. Paths inside the mount (mpath, '/' = the mount point) are served by
 * host files: redirect says which. The optional hooks are for union mounts.
 */
export interface PathService {
  /** where mpath lives on the host, for this kind of access (read when omitted) */
  redirect(mpath: string, access?: Access): string;
  /** the call failed on the host path with errno: another host path to redo it on, if any */
  retry?(mpath: string, access: Access, errno: string): string | undefined;
  /** unlink/rmdir of an existing mpath, done by the module itself (whiteouts...) */
  remove?(mpath: string, dir: boolean): void;
  /** a successful rename of mpath to `to` (exchange: RENAME_EXCHANGE, they changed places) */
  renamed?(mpath: string, to: string, exchange: boolean): void;
  /** owners, modes and device nodes the service keeps over its host files' (attributes.ts) */
  attributes?: AttributeKeeper;
  /** the entries of directory mpath when no single host directory has them (undefined: it has) */
  list?(mpath: string): DirEntry[] | undefined;
  /**
   * Declares a pure prefix redirect: redirect(mpath) is always hostPrefix + mpath, for every
   * access, and nothing else of the mount changes resolution (no exceptions, no hooks). The
   * native fast path may then serve stat, access, readlink, getxattr and open of paths that stay
   * inside the mount itself.
   */
  hostPrefix?: string;
  /** the host directories whose files the mount serves (default: redirect('/')) */
  hostDirs?(): string[];
}

export type Follow = boolean | { flags: number; nofollow?: number; follow?: number };
export interface PathArg {
  arg: number;
  dirfd?: number;
  follow: Follow;
  /** flags argument whose AT_EMPTY_PATH allows an empty path */
  emptyFlags?: number;
  /** what the call does to it (read by default); open's depends on its flags and on whether it exists */
  access?: Access | ((call: SyscallCall, exists: boolean) => Access);
}
interface Spec {
  paths: PathArg[];
  /** output buffers: fixed size, or the size in an argument (the result says how much was written) */
  out?: Array<{ arg: number; size: number } | { arg: number; sizeArg: number }>;
  /** string arguments passed through (xattr names, symlink targets) */
  strings?: number[];
  /** input buffers copied from the caller: fixed size, or the size in an argument */
  in?: Array<{ arg: number; size: number } | { arg: number; sizeArg: number }>;
  /** the result is a new fd; flags argument for O_CLOEXEC */
  fd?: { flags: number };
  /** argument holding a mode to mask with the caller's umask (creating calls) */
  mode?: { arg: number; when?: { flags: number; bit: number } };
}

const f = (arg: number, follow: Follow, dirfd?: number, emptyFlags?: number, access?: PathArg['access']): PathArg => ({
  arg,
  follow,
  dirfd,
  emptyFlags,
  access,
});
const atFlags = (flags: number): Follow => ({ flags, nofollow: AT_SYMLINK_NOFOLLOW });
const openAccess =
  (flagsArg: number) =>
  (call: SyscallCall, exists: boolean): Access => {
    const flags = call.int(flagsArg);
    if (flags & O_CREAT && !exists) return 'create';
    return (flags & O_ACCMODE) !== 0 || flags & O_TRUNC ? 'write' : 'read';
  };

/** The path calls performed on behalf, by name (x86_64 argument positions). */
const PATH_CALLS: Record<string, Spec> = {
  stat: { paths: [f(0, true)], out: [{ arg: 1, size: 144 }] },
  lstat: { paths: [f(0, false)], out: [{ arg: 1, size: 144 }] },
  newfstatat: { paths: [f(1, atFlags(3), 0, 3)], out: [{ arg: 2, size: 144 }] },
  statx: { paths: [f(1, atFlags(2), 0, 2)], out: [{ arg: 4, size: 256 }] },
  access: { paths: [f(0, true)] },
  faccessat: { paths: [f(1, true, 0)] },
  faccessat2: { paths: [f(1, atFlags(3), 0, 3)] },
  readlink: { paths: [f(0, false)], out: [{ arg: 1, sizeArg: 2 }] },
  readlinkat: { paths: [f(1, false, 0)], out: [{ arg: 2, sizeArg: 3 }] },
  open: { paths: [f(0, { flags: 1, nofollow: O_NOFOLLOW }, undefined, undefined, openAccess(1))], fd: { flags: 1 }, mode: { arg: 2, when: { flags: 1, bit: O_CREAT | O_TMPFILE_BIT } } },
  openat: { paths: [f(1, { flags: 2, nofollow: O_NOFOLLOW }, 0, undefined, openAccess(2))], fd: { flags: 2 }, mode: { arg: 3, when: { flags: 2, bit: O_CREAT | O_TMPFILE_BIT } } },
  creat: { paths: [f(0, true, undefined, undefined, (_, exists) => (exists ? 'write' : 'create'))], fd: { flags: -1 }, mode: { arg: 1 } },
  getxattr: { paths: [f(0, true)], strings: [1], out: [{ arg: 2, sizeArg: 3 }] },
  lgetxattr: { paths: [f(0, false)], strings: [1], out: [{ arg: 2, sizeArg: 3 }] },
  listxattr: { paths: [f(0, true)], out: [{ arg: 1, sizeArg: 2 }] },
  llistxattr: { paths: [f(0, false)], out: [{ arg: 1, sizeArg: 2 }] },
  statfs: { paths: [f(0, true)], out: [{ arg: 1, size: 120 }] },
  mkdir: { paths: [f(0, false, undefined, undefined, 'create')], mode: { arg: 1 } },
  mkdirat: { paths: [f(1, false, 0, undefined, 'create')], mode: { arg: 2 } },
  unlink: { paths: [f(0, false, undefined, undefined, 'remove')] },
  unlinkat: { paths: [f(1, false, 0, undefined, 'remove')] },
  rmdir: { paths: [f(0, false, undefined, undefined, 'remove')] },
  chmod: { paths: [f(0, true, undefined, undefined, 'attributes')] },
  fchmodat: { paths: [f(1, true, 0, undefined, 'attributes')] },
  chown: { paths: [f(0, true, undefined, undefined, 'attributes')] },
  lchown: { paths: [f(0, false, undefined, undefined, 'attributes')] },
  fchownat: { paths: [f(1, atFlags(4), 0, 4, 'attributes')] },
  truncate: { paths: [f(0, true, undefined, undefined, 'write')] },
  utimensat: { paths: [f(1, atFlags(3), 0, 3, 'write')], in: [{ arg: 2, size: 32 }] },
  rename: { paths: [f(0, false, undefined, undefined, 'rename'), f(1, false, undefined, undefined, 'create')] },
  renameat: { paths: [f(1, false, 0, undefined, 'rename'), f(3, false, 2, undefined, 'create')] },
  renameat2: { paths: [f(1, false, 0, undefined, 'rename'), f(3, false, 2, undefined, 'create')] },
  link: { paths: [f(0, false, undefined, undefined, 'write'), f(1, false, undefined, undefined, 'create')] },
  linkat: { paths: [f(1, { flags: 4, follow: AT_SYMLINK_FOLLOW }, 0, 4, 'write'), f(3, false, 2, undefined, 'create')] },
  symlink: { paths: [f(1, false, undefined, undefined, 'create')], strings: [0] },
  symlinkat: { paths: [f(2, false, 1, undefined, 'create')], strings: [0] },
  utime: { paths: [f(0, true, undefined, undefined, 'write')], in: [{ arg: 1, size: 16 }] },
  utimes: { paths: [f(0, true, undefined, undefined, 'write')], in: [{ arg: 1, size: 32 }] },
  futimesat: { paths: [f(1, true, 0, undefined, 'write')], in: [{ arg: 2, size: 32 }] },
  mknod: { paths: [f(0, false, undefined, undefined, 'create')], mode: { arg: 1 } },
  mknodat: { paths: [f(1, false, 0, undefined, 'create')], mode: { arg: 2 } },
  fchmodat2: { paths: [f(1, atFlags(3), 0, 3, 'attributes')] },
  setxattr: { paths: [f(0, true, undefined, undefined, 'write')], strings: [1], in: [{ arg: 2, sizeArg: 3 }] },
  lsetxattr: { paths: [f(0, false, undefined, undefined, 'write')], strings: [1], in: [{ arg: 2, sizeArg: 3 }] },
  removexattr: { paths: [f(0, true, undefined, undefined, 'write')], strings: [1] },
  lremovexattr: { paths: [f(0, false, undefined, undefined, 'write')], strings: [1] },
};

export interface ViewPath {
  /** the canonical path in the view */
  path: string;
  /** where it lives on the host (path itself, outside every mount) */
  host: string;
  exists: boolean;
  isDir: boolean;
  /** the mount serving it, if any, and the path inside it */
  entry?: Entry;
  mpath?: string;
  /** any component was served by a mount */
  virtual: boolean;
  /** the path ended with '/' (passed on to the host path: the kernel's rules apply) */
  trailingSlash?: boolean;
  /** the final component was `.` or `..` */
  dotLast?: '.' | '..';
  /** type and permission bits of what it names, when it exists */
  mode?: number;
}

/** The newest mount with a file service that owns abs (older than epoch, for nested layers), and the path inside it. */
function owner(hv: Hypervisor, abs: string, epoch = Infinity): { entry: Entry; mpath: string } | undefined {
  const entry = hv.registry.lookup('path', abs, epoch);
  if (!entry || !(entry.options as { files?: PathService }).files) return undefined;
  const tail = abs.slice(String(entry.key).length);
  return { entry, mpath: tail === '' ? '/' : tail };
}

/** The file service of a mount: host files (PathService) or the module's own (VirtualFs). */
export const serviceOf = (entry: Entry) => (entry.options as { files: PathService | VirtualFs }).files;
/** The host-file service of a mount (undefined for a virtual file system). */
const filesOf = (entry: Entry): PathService | undefined => {
  const files = serviceOf(entry);
  return isVirtualFs(files) ? undefined : files;
};

/**
 * Where abs lives on the host; pass its owner when it is already known. A service answers
 * with a path as its mount sees it, which older mounts may serve in turn (vufs of / mounted
 * twice on /mnt shows the first mount at /mnt/mnt, as in VUOS). A file of a virtual file
 * system has no host path: ''.
 */
function hostPath(hv: Hypervisor, abs: string, o = owner(hv, abs), access: Access = 'read'): string {
  if (!o) return abs;
  const files = filesOf(o.entry);
  return files ? throughOlderMounts(hv, files.redirect(o.mpath, access), o.entry, access) : '';
}

/** p as a service of entry sees it, on the host (older mounts may serve it). */
function throughOlderMounts(hv: Hypervisor, p: string, entry: Entry, access: Access): string {
  if (hv.noNesting) return p; // umvu -x: a module's paths are host paths
  for (let cur = owner(hv, p, entry.epoch); cur; cur = owner(hv, p, cur.entry.epoch)) {
    const files = filesOf(cur.entry);
    if (!files) return ''; // inside a virtual file system
    p = files.redirect(cur.mpath, access);
  }
  return p;
}

/**
 * Opens abs as the view shows it now, for a module's own I/O (the source of its mount): a host
 * file, reached through the mounts that redirect it, or another module's device (nesting: a
 * file system on a partition). With umvu -x, the host's own abs.
 */
export async function openSource(hv: Hypervisor, abs: string, writable: boolean): Promise<SourceFile> {
  const o = hv.noNesting ? undefined : owner(hv, abs);
  const vfs = o && serviceOf(o.entry);
  if (o && isVirtualFs(vfs)) {
    const opened = await vfs.openDevice?.(o.mpath, writable ? O_RDWR : O_RDONLY);
    if (typeof opened === 'number') native.syscall(3 /* close */, opened);
    if (opened === undefined || typeof opened === 'number') throw new SyscallError(15 /* ENOTBLK */, `${abs}: not a block device or a host file`);
    hv.registry.acquire(o.entry); // the device's mount stays while it is used
    return {
      fd: opened.fd,
      offset: opened.offset,
      size: opened.size,
      readOnly: !writable,
      close: () => {
        opened.close?.();
        hv.registry.release(o.entry);
      },
    };
  }
  const fd = fs.openSync(o ? hostPath(hv, abs, o, writable ? 'write' : 'read') : abs, writable ? 'r+' : 'r');
  const size = native.syscall(8 /* lseek */, fd, 0, 2 /* SEEK_END */); // (also a block device's size)
  return { fd, offset: 0, size: Math.max(0, size), readOnly: !writable, close: () => fs.closeSync(fd) };
}

/** Resolves one path argument; an error is returned (not thrown) with whether a mount was involved. */
export async function resolveArg(hv: Hypervisor, call: SyscallCall, p: PathArg): Promise<ViewPath | ResolveFailure> {
  const flags = typeof p.follow === 'object' ? call.int(p.follow.flags) : 0;
  const follow =
    typeof p.follow === 'boolean'
      ? p.follow
      : p.follow.nofollow !== undefined
        ? !(flags & p.follow.nofollow)
        : !!(flags & (p.follow.follow ?? 0));
  const emptyPathAllowed = p.emptyFlags !== undefined && (call.int(p.emptyFlags) & AT_EMPTY_PATH) !== 0;
  const dirfd = p.dirfd === undefined ? AT_FDCWD : call.int(p.dirfd);
  let text: string;
  try {
    text = call.args[p.arg] === 0n ? '' : call.readString(p.arg);
  } catch (error) {
    return { error, virtual: false };
  }
  const finalName = p.access === 'create' || p.access === 'remove' || p.access === 'rename';
  return resolveText(hv, call, text, { dirfd, follow, emptyPathAllowed, finalName });
}

type ResolveFailure = { error: unknown; virtual: boolean };

/** Resolves a path string as the caller would (from its cwd or dirfd), over the view. */
export async function resolveText(
  hv: Hypervisor,
  call: SyscallCall,
  text: string,
  opts: {
    dirfd: number;
    follow: boolean;
    emptyPathAllowed?: boolean;
    finalName?: boolean;
    /** openat2's RESOLVE_* restrictions */
    restrict?: { noSymlinks: boolean; noMagicLinks: boolean; beneath: boolean; inRoot: boolean; noXdev: boolean };
  },
): Promise<ViewPath | ResolveFailure> {
  // AT_EMPTY_PATH on an fd: the call is about the fd's own file, resolved by nobody (a file
  // outside every mount, hence EXDEV if the call also names a path in a mount)
  if (text === '' && opts.emptyPathAllowed && opts.dirfd !== AT_FDCWD) return { error: new SyscallError('EXDEV'), virtual: false };
  let virtual = false;
  const oracle: PathOracle = {
    lstat(abs) {
      const o = owner(hv, abs);
      if (o) virtual = true;
      const vfs = o && serviceOf(o.entry);
      if (isVirtualFs(vfs)) {
        // resolving needs only the file type: a module may know it without asking (kind)
        if (vfs.kind) return Promise.resolve(vfs.kind(o!.mpath)).then((type) => (type === null ? null : { mode: type }));
        return Promise.resolve(vfs.lstat(o!.mpath)).then((st) => st && { mode: st.mode });
      }
      try {
        const st = fs.lstatSync(hostPath(hv, abs, o));
        return { mode: st.mode, dev: st.dev };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return null;
        throw new SyscallError(code ?? 'EIO');
      }
    },
    readlink(abs) {
      const o = owner(hv, abs);
      const vfs = o && serviceOf(o.entry);
      if (isVirtualFs(vfs)) return vfs.readlink(o!.mpath);
      if (opts.restrict?.noMagicLinks && /^\/proc\/\d+(\/task\/\d+)?\/(cwd|root|exe|fd\/\d+|map_files\/[^/]+)$/.test(abs)) throw new SyscallError('ELOOP');
      const link = procLink(hv, call, abs);
      if (link?.substituted) virtual = true; // the kernel would follow it elsewhere
      return link?.target ?? fs.readlinkSync(hostPath(hv, abs, o));
    },
  };
  const vcwd = opts.dirfd === AT_FDCWD ? call.process?.vcwd : undefined;
  // after chroot, every path starts from the process' root: the kernel's would be the real one
  const root = call.process?.root;
  if (root !== undefined) virtual = true;
  let base: string;
  try {
    base = vcwd ?? fs.readlinkSync(opts.dirfd === AT_FDCWD ? `/proc/${call.tid}/cwd` : `/proc/${call.tid}/fd/${opts.dirfd}`);
  } catch {
    return { error: new SyscallError('EBADF'), virtual };
  }
  // a dirfd opened on the caller's behalf: its directory's path in the view
  const dirView = opts.dirfd === AT_FDCWD ? undefined : hv.dirViews.viewPathOf(base);
  if (dirView !== undefined) {
    base = dirView;
    virtual = true;
  }
  if (!base.startsWith('/')) return { error: new SyscallError('ENOTDIR'), virtual }; // a pipe, a socket...
  try {
    // relative to a virtual cwd, the kernel would start from a stale directory
    if (vcwd !== undefined && !text.startsWith('/')) virtual = true;
    const x = opts.restrict;
    const r = await resolvePath(
      text,
      {
        base,
        root: x?.inRoot ? base : root,
        follow: opts.follow,
        emptyPathAllowed: opts.emptyPathAllowed,
        finalName: opts.finalName,
        noSymlinks: x?.noSymlinks,
        beneath: x?.beneath,
        noXdev: x?.noXdev,
      },
      oracle,
    );
    const o = owner(hv, r.path);
    return {
      path: r.path,
      host: hostPath(hv, r.path, o),
      exists: r.exists,
      isDir: isDir(r.info),
      entry: o?.entry,
      mpath: o?.mpath,
      virtual: virtual || o !== undefined,
      trailingSlash: r.trailingSlash,
      dotLast: r.dotLast,
      mode: r.info?.mode,
    };
  } catch (error) {
    return { error, virtual };
  }
}

/**
 * The /proc links that must be read as the caller sees them, not as the supervisor: self and
 * thread-self name the caller; cwd and fd links name view paths (viewLinkOf). `substituted`:
 * the kernel would have resolved the link elsewhere. Undefined for any other path.
 */
function procLink(hv: Hypervisor, call: SyscallCall, abs: string): { target: string; substituted: boolean } | undefined {
  if (!abs.startsWith('/proc/')) return undefined;
  const tgid = () => call.process?.tgid ?? readStatus(call.tid)?.tgid ?? call.tid;
  if (abs === '/proc/self') return { target: String(tgid()), substituted: false };
  if (abs === '/proc/thread-self') return { target: `${tgid()}/task/${call.tid}`, substituted: false };
  const m = PROC_LINK.exec(abs);
  const view = m && viewLinkOf(hv, Number(m[2] ?? m[1]), m[3]);
  return view ? { target: view, substituted: true } : undefined;
}

const PROC_LINK = /^\/proc\/(self|thread-self|\d+)(?:\/task\/(\d+))?\/(cwd|fd\/\d+)$/;

/**
 * What /proc/PID/cwd or /proc/PID/fd/N names in the view when it is not what the kernel says: a
 * virtual cwd, an open file of a virtual file system, a host file standing for a view path.
 */
function viewLinkOf(hv: Hypervisor, pid: number, link: string): string | undefined {
  if (link === 'cwd') return hv.procs.get(pid)?.vcwd;
  const fd = Number(link.slice(3));
  const owner = hv.shadows.ofFd(pid, fd)?.owner as { viewPath: string } | undefined;
  if (owner) return owner.viewPath;
  try {
    const host = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    // (a file whose mount keeps its attributes: glibc's lchmod is chmod of /proc/self/fd/N)
    return hv.dirViews.viewPathOf(host) ?? keptFileOf(hv, host)?.viewPath;
  } catch {
    return undefined;
  }
}

/**
 * readlink of /proc/PID/cwd or /proc/PID/fd/N (ls -l /proc/self/fd, realpath, pwd -P...): the
 * view's path when it differs from the kernel's. Undefined otherwise.
 */
function readProcLink(hv: Hypervisor, call: SyscallCall, arg: number): Answer | undefined {
  const m = PROC_LINK.exec(call.readString(arg));
  if (!m) return undefined;
  const pid = m[1] === 'self' || m[1] === 'thread-self' ? call.tid : Number(m[2] ?? m[1]);
  const view = viewLinkOf(hv, pid, m[3]);
  if (view === undefined) return undefined;
  const size = call.long(arg + 2);
  if (size <= 0) throw new SyscallError('EINVAL');
  const text = Buffer.from(view).subarray(0, size);
  call.writeMem(call.args[arg + 1], text);
  return Answer.value(text.length);
}

/**
 * chdir: into a mount, or anywhere from a virtual cwd, the process keeps a virtual cwd (the
 * kernel's cannot be changed from outside); an absolute real path from a real cwd is the
 * kernel's business.
 */
async function chdir(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  const r = await resolveArg(hv, call, f(0, true));
  if (!r.virtual && call.process?.vcwd === undefined) return Answer.continue();
  if ('error' in r) throw r.error;
  if (!r.exists) throw new SyscallError('ENOENT');
  if (!r.isDir) throw new SyscallError('ENOTDIR');
  const p = hv.procs.ensure(call.tid);
  hv.procs.adoptNewborns(p); // (children made before keep the old one)
  p.vcwd = r.path;
  hv.procs.update(p);
  return Answer.value(0);
}

/**
 * fchdir: the kernel's cwd becomes the fd's directory. A directory opened on the caller's behalf
 * stands for one of the view, which becomes the virtual cwd; any other ends a virtual cwd.
 */
function fchdir(hv: Hypervisor, call: SyscallCall): Answer {
  let target: string;
  try {
    target = fs.readlinkSync(`/proc/${call.tid}/fd/${call.int(0)}`);
  } catch {
    return Answer.continue(); // the kernel says EBADF
  }
  const dirView = hv.dirViews.viewPathOf(target);
  if (dirView === undefined && call.process?.vcwd === undefined) return Answer.continue();
  const p = hv.procs.ensure(call.tid);
  hv.procs.adoptNewborns(p); // (children made before keep the old one)
  p.vcwd = dirView;
  hv.procs.update(p);
  return Answer.continue();
}

/**
 * chroot is always virtual (and allowed to every user: a view is a convenience): the process'
 * paths are resolved from its new root from now on, its children's too.
 */
async function chroot(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  const r = await resolveArg(hv, call, f(0, true));
  if ('error' in r) throw r.error;
  if (!r.exists) throw new SyscallError('ENOENT');
  if (!r.isDir) throw new SyscallError('ENOTDIR');
  const p = hv.procs.ensure(call.tid);
  hv.procs.adoptNewborns(p); // (children made before keep the old one)
  p.root = r.path === '/' ? undefined : r.path;
  hv.procs.update(p);
  return Answer.value(0);
}

/**
 * getcwd from a virtual cwd or root: the view's path, as the kernel would write it (a cwd
 * outside the root, as right after chroot, is "(unreachable)").
 */
function getcwd(call: SyscallCall): Answer {
  const p = call.process;
  if (p?.vcwd === undefined && p?.root === undefined) return Answer.continue();
  let cwd = p.vcwd ?? fs.readlinkSync(`/proc/${call.tid}/cwd`);
  if (p.root !== undefined) cwd = cwd === p.root ? '/' : cwd.startsWith(`${p.root}/`) ? cwd.slice(p.root.length) : `(unreachable)${cwd}`;
  const bytes = Buffer.from(cwd + '\0');
  if (call.long(1) < bytes.length) throw new SyscallError('ERANGE');
  call.writeMem(call.args[0], bytes);
  return Answer.value(bytes.length);
}

/**
 * /proc/mounts, /proc/self/mounts, /proc/PID/mountinfo...: the kernel's table of the caller
 * followed by the view's mounts (what mount, df and findmnt read). Undefined for other paths.
 */
function mountTableOf(hv: Hypervisor, call: SyscallCall, arg: number): string | undefined {
  if (call.args[arg] === 0n) return undefined;
  const m = /^\/proc\/(?:(?:self|thread-self|\d+)(?:\/task\/\d+)?\/)?(mounts|mountinfo)$/.exec(call.readString(arg));
  if (!m || (m[1] === 'mountinfo' && !m[0].includes('/', 6))) return undefined;
  const mounts = hv.registry.all('path').flatMap((e) => (e.options.mount ? [e.options.mount] : []));
  const real = fs.readFileSync(`/proc/${call.tid}/${m[1]}`, 'utf8');
  const esc = (s: string) => s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  // options as the kernel shows them: ro or rw first (MS_RDONLY), then the others
  const opts = (i: MountInfo) => [i.flags & MS_RDONLY ? 'ro' : 'rw', ...i.options.split(',').filter((w) => w && w !== 'ro' && w !== 'rw')].join(',');
  if (m[1] === 'mounts') return real + mounts.map((i) => `${esc(i.source || 'none')} ${esc(i.target)} ${i.fstype} ${opts(i)} 0 0\n`).join('');
  // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS - FSTYPE SOURCE SUPEROPTIONS"
  const lines = real.split('\n').filter(Boolean).map((l) => l.split(' '));
  const parentOf = (target: string) =>
    lines.filter((l) => target === l[4] || target.startsWith(l[4] === '/' ? '/' : `${l[4]}/`)).at(-1)?.[0] ?? '1';
  return (
    real +
    mounts.map((i, k) => `${900000 + k} ${parentOf(i.target)} 0:0 / ${esc(i.target)} ${opts(i).split(',')[0]} - ${i.fstype} ${esc(i.source || 'none')} ${opts(i)}\n`).join('')
  );
}

/** Answers an open with a fresh read-only file holding `content` (a memfd, injected). */
function openGenerated(call: SyscallCall, content: string, flagsArg: number): Answer {
  const fd = memfdWith('umvu-mounts', content);
  try {
    const r = native.addFd(call.id, fd, -1, { send: true, cloexec: (call.int(flagsArg) & O_CLOEXEC) !== 0 });
    return r < 0 ? Answer.error(-r) : Answer.answered();
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The path arguments pathSyscall resolves for a call (what the native fast path must check
 * before a CONTINUE); [] for calls that name no path or that JS must see (fchdir, sockets...);
 * undefined for calls that are not path calls.
 */
export function pathArgsOf(name: string): PathArg[] | undefined {
  if (name === 'chdir') return [f(0, true)];
  if (name === 'inotify_add_watch') return [f(1, true)];
  if (PATH_CALLS[name]) return PATH_CALLS[name].paths;
  const arg = pathArg(name);
  return arg < 0 || name === 'fchdir' ? [] : [f(arg, true, arg === 1 ? 0 : undefined)];
}

export async function pathSyscall(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  const arg = pathArg(call.name);
  if (arg >= 0 && isReissued(call, () => call.readString(arg))) return Answer.continue();
  if (call.name === 'chdir') return chdir(hv, call);
  if (call.name === 'getcwd') return getcwd(call);
  if (call.name === 'chroot') return chroot(hv, call);
  if (call.name === 'fchdir') return fchdir(hv, call);
  if (call.name === 'open' || call.name === 'openat') {
    const table = mountTableOf(hv, call, call.name === 'open' ? 0 : 1);
    if (table !== undefined) return openGenerated(call, table, call.name === 'open' ? 1 : 2);
  }
  if (call.name === 'openat2') return openat2(hv, call);
  if (call.name.endsWith('xattrat')) return xattrat(hv, call);
  if (call.name === 'readlink' || call.name === 'readlinkat') {
    const answer = readProcLink(hv, call, arg);
    if (answer) return answer;
  }
  if (call.name === 'bind' || call.name === 'connect' || call.name === 'inotify_add_watch') return fdPathSyscall(hv, call);
  const ownFileFd = fdOwnFile(call);
  if (ownFileFd !== undefined) {
    const file = shadowFile(hv, call.tid, ownFileFd) ?? hv.devices.of(call.tid, ownFileFd)?.owner ?? (await standInFile(hv, call, ownFileFd));
    if (file) return fdMetaSyscall(hv, call, file);
    const caller = callerStatus(call);
    return (/^fch(own|mod)/.test(call.name) && fdAttributesSyscall(hv, call, caller, (nr, a) => performAsCaller(caller, nr, a))) || Answer.continue();
  }
  const spec = PATH_CALLS[call.name];
  if (!spec) {
    // not served yet: the kernel may do it as long as it touches no mount
    const dirfd = arg === 1 ? 0 : undefined;
    if (arg < 0 || call.args[arg] === 0n) return Answer.continue();
    const r = await resolveArg(hv, call, f(arg, true, dirfd));
    return r.virtual ? Answer.error('ENOTSUP') : Answer.continue();
  }
  if ((call.name === 'newfstatat' || call.name === 'statx') && call.int(0) !== AT_FDCWD && call.int(call.name === 'statx' ? 2 : 3) & AT_EMPTY_PATH && (call.args[1] === 0n || call.readString(1) === '')) {
    // fstat of an fd
    const caller = callerStatus(call);
    const kept = () => fdAttributesSyscall(hv, call, caller, (nr, a) => performAsCaller(caller, nr, a), spec.out![0].arg);
    return (await fstatShadow(hv, call, spec)) ?? (await fstatDevice(hv, call, spec)) ?? (await fstatStandIn(hv, call, spec)) ?? kept() ?? Answer.continue();
  }
  const results = await Promise.all(spec.paths.map((p) => resolveArg(hv, call, p)));
  // nothing virtual involved: the kernel resolves it exactly so (errors included)
  if (!results.some((r) => r.virtual)) return Answer.continue();
  const failed = results.find((r): r is { error: unknown; virtual: boolean } => 'error' in r);
  if (failed) throw failed.error;
  const resolved = results as ViewPath[];
  const entries = new Set(resolved.map((r) => r.entry));
  if (resolved.length > 1 && entries.size > 1) throw new SyscallError('EXDEV');
  if (resolved[0].entry && isVirtualFs(serviceOf(resolved[0].entry))) return vfsSyscall(hv, call, spec, resolved);
  return performOnBehalf(hv, call, spec, resolved);
}

/**
 * fstat of a directory of a virtual file system, or of a file opened with O_PATH: the fd is a
 * host stand-in (the materialized listing, an empty file), but the caller must see the file
 * itself, as its path gives it (fts, under find, checks that the `..` it opens is the directory
 * it came from). Undefined when the fd is no stand-in.
 */
async function fstatStandIn(hv: Hypervisor, call: SyscallCall, spec: Spec): Promise<Answer | undefined> {
  const r = await standInPath(hv, call, call.int(0));
  if (!r?.entry) return undefined;
  if (isVirtualFs(serviceOf(r.entry))) return vfsSyscall(hv, call, spec, [r]);
  // a union's directory: its materialized listing stands for it (a host directory opened
  // through a mount is its own: the fd says best what it is, even once renamed)
  return r.listing ? performOnBehalf(hv, call, spec, [r]) : undefined;
}

/** The virtual file (a directory, an O_PATH open) whose host stand-in fd N of the caller is. */
async function standInFile(hv: Hypervisor, call: SyscallCall, fd: number): Promise<(FdFile & { resolved: ViewPath }) | undefined> {
  const r = await standInPath(hv, call, fd);
  if (!r?.entry || !isVirtualFs(serviceOf(r.entry))) return undefined;
  return { entry: r.entry, mpath: r.mpath!, resolved: r };
}

/**
 * The view's file that fd N of the caller, a directory opened through a mount, stands for;
 * listing: the fd is a materialized listing, not the host directory itself.
 */
async function standInPath(hv: Hypervisor, call: SyscallCall, fd: number): Promise<(ViewPath & { listing: boolean }) | undefined> {
  let host: string;
  try {
    host = fs.readlinkSync(`/proc/${call.tid}/fd/${fd}`);
  } catch {
    return undefined;
  }
  const viewPath = hv.dirViews.viewPathOf(host);
  if (viewPath === undefined) return undefined;
  const r = await resolveText(hv, call, viewPath, { dirfd: AT_FDCWD, follow: false });
  return 'error' in r || !r.exists ? undefined : { ...r, listing: host.startsWith(`${hv.dirViews.root}/`) };
}

/** The fd whose own file a metadata change is about (fchmod, futimens, AT_EMPTY_PATH forms). */
function fdOwnFile(call: SyscallCall): number | undefined {
  if (['fchmod', 'fchown', 'fsetxattr', 'fgetxattr', 'flistxattr', 'fremovexattr'].includes(call.name)) return call.int(0);
  const flagsArg = { utimensat: 3, fchownat: 4, fchmodat2: 3 }[call.name as 'utimensat'];
  if (flagsArg === undefined || call.int(0) === AT_FDCWD) return undefined;
  if (call.name === 'utimensat' && call.args[1] === 0n) return call.int(0); // futimens
  const empty = call.args[1] === 0n || call.readString(1) === '';
  return empty && call.int(flagsArg) & AT_EMPTY_PATH ? call.int(0) : undefined;
}

/**
 * openat2 is openat with flags and mode in a struct open_how, plus RESOLVE_* restrictions on
 * the resolution, which the view applies as the kernel does: NO_SYMLINKS (ELOOP), BENEATH
 * (EXDEV when leaving the dirfd), IN_ROOT (the dirfd as root), NO_MAGICLINKS (the /proc links
 * of fds and cwds: ELOOP), NO_XDEV (EXDEV on reaching another host file system: the view's
 * mounts are not file-system boundaries). CACHED says EAGAIN: "retry without it".
 */
async function openat2(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  const OPEN_HOW_SIZE = 24;
  const RESOLVE = { NO_XDEV: 0x01, NO_MAGICLINKS: 0x02, NO_SYMLINKS: 0x04, BENEATH: 0x08, IN_ROOT: 0x10, CACHED: 0x20 };
  if (call.args[2] === 0n || call.long(3) < OPEN_HOW_SIZE) return Answer.continue(); // the kernel says EFAULT/EINVAL
  const how = call.readMem(call.args[2], OPEN_HOW_SIZE);
  const resolve = Number(how.readBigUInt64LE(16));
  const asOpenat = call.as(syscallNumber('openat'), [call.args[0], call.args[1], how.readBigUInt64LE(0), how.readBigUInt64LE(8), 0n, 0n]);
  if (resolve === 0) return pathSyscall(hv, asOpenat);
  const flags = asOpenat.int(2);
  const restrict = {
    noSymlinks: (resolve & RESOLVE.NO_SYMLINKS) !== 0,
    noMagicLinks: (resolve & RESOLVE.NO_MAGICLINKS) !== 0,
    beneath: (resolve & RESOLVE.BENEATH) !== 0,
    inRoot: (resolve & RESOLVE.IN_ROOT) !== 0,
    noXdev: (resolve & RESOLVE.NO_XDEV) !== 0,
  };
  const text = asOpenat.args[1] === 0n ? '' : asOpenat.readString(1);
  const r = await resolveText(hv, asOpenat, text, { dirfd: asOpenat.int(0), follow: !(flags & O_NOFOLLOW), restrict });
  if (!r.virtual) return Answer.continue(); // the kernel applies the restrictions itself
  if ('error' in r) throw r.error;
  if (resolve & RESOLVE.CACHED) throw new SyscallError('EAGAIN');
  return performOnBehalf(hv, asOpenat, PATH_CALLS.openat, [r]);
}

/**
 * The *xattrat calls (Linux 6.13): dirfd, path and AT_* flags as the other *at calls, the value
 * of get/set in a struct xattr_args. Under a mount they are performed as the classic xattr
 * calls on the host path.
 */
async function xattrat(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  const XATTR_ARGS_SIZE = 16;
  const XATTR_SIZE_MAX = 65536;
  const changes = call.name === 'setxattrat' || call.name === 'removexattrat';
  const r = await resolveArg(hv, call, f(1, atFlags(2), 0, 2, changes ? 'write' : 'read'));
  if (!r.virtual) return Answer.continue();
  if ('error' in r) throw r.error;
  if (r.entry && isVirtualFs(serviceOf(r.entry))) {
    if (!r.exists) throw new SyscallError('ENOENT');
    if (changes) throw new SyscallError('ENOTSUP');
    if (call.name === 'getxattrat') throw new SyscallError('ENODATA');
    return Answer.value(0);
  }
  const host = r.entry ? hostPath(hv, r.path, { entry: r.entry, mpath: r.mpath! }, changes ? 'write' : 'read') : r.host;
  const l = call.int(2) & AT_SYMLINK_NOFOLLOW ? 'l' : '';
  const args = () => {
    if (call.args[4] === 0n || call.long(5) < XATTR_ARGS_SIZE) throw new SyscallError('EINVAL');
    const a = call.readMem(call.args[4], XATTR_ARGS_SIZE);
    return { value: a.readBigUInt64LE(0), size: Math.min(a.readUInt32LE(8), XATTR_SIZE_MAX), flags: a.readUInt32LE(12) };
  };
  let n: number;
  switch (call.name) {
    case 'getxattrat': {
      const a = args();
      const buf = Buffer.alloc(a.size);
      n = native.syscall(syscallNumber(`${l}getxattr`), host, call.readString(3), a.size ? buf : null, a.size);
      if (n > 0 && a.size) call.writeMem(a.value, buf.subarray(0, n));
      break;
    }
    case 'setxattrat': {
      const a = args();
      n = native.syscall(syscallNumber(`${l}setxattr`), host, call.readString(3), call.readMem(a.value, a.size), a.size, a.flags);
      break;
    }
    case 'listxattrat': {
      const size = Math.min(Math.max(call.long(4), 0), XATTR_SIZE_MAX);
      const buf = Buffer.alloc(size);
      n = native.syscall(syscallNumber(`${l}listxattr`), host, size ? buf : null, size);
      if (n > 0 && size) call.writeMem(call.args[3], buf.subarray(0, n));
      break;
    }
    default:
      n = native.syscall(syscallNumber(`${l}removexattr`), host, call.readString(3));
  }
  return n < 0 ? Answer.error(-n) : Answer.value(n);
}

/** What the kernel answers a call on a final name that is `.` or `..` (it names no entry). */
function dotLastError(call: SyscallCall, dot: '.' | '..'): SyscallError {
  if (call.name === 'rmdir' || (call.name === 'unlinkat' && call.int(2) & AT_REMOVEDIR)) return new SyscallError(dot === '.' ? 'EINVAL' : 'ENOTEMPTY');
  if (call.name.startsWith('unlink')) return new SyscallError('EISDIR');
  if (call.name.startsWith('rename')) return new SyscallError('EBUSY');
  return new SyscallError('EEXIST'); // mkdir, mknod, symlink, link
}

/** unlink/rmdir under a mount whose service removes files itself (vufs cow: whiteouts). */
function removeOnBehalf(call: SyscallCall, files: PathService, r: ViewPath): Answer {
  if (!r.exists) throw new SyscallError('ENOENT');
  if (r.mpath === '/') throw new SyscallError('EBUSY');
  const dir = call.name === 'rmdir' || (call.name === 'unlinkat' && (call.int(2) & AT_REMOVEDIR) !== 0);
  if (dir && !r.isDir) throw new SyscallError('ENOTDIR');
  if (!dir && r.isDir) throw new SyscallError('EISDIR');
  // the module removes as umvu: the caller must be allowed to change the directory (as the
  // kernel asks of unlink), which is checked on the directory's host path under its ids; root,
  // virtual root included, may as natively
  const caller = callerStatus(call);
  const parent = files.redirect(path.posix.dirname(r.mpath!), 'read');
  const allowed = caller()?.fsuid === 0 ? 0 : performAsCaller(caller, syscallNumber('faccessat2'), [AT_FDCWD, parent, W_OK | X_OK, AT_EACCESS]);
  if (allowed < 0) return Answer.error(-allowed);
  files.remove!(r.mpath!, dir);
  return Answer.value(0);
}

/**
 * Opens the caller makes itself, on the host path (reissue.ts): O_PATH, which ADDFD cannot
 * inject, and files that are neither regular nor directories (a FIFO's open waits for the
 * other end, a tty becomes the opener's): opening those in the supervisor would block it or
 * give them to the wrong process. A directory's view path is recorded for calls relative to it.
 */
function openInCaller(hv: Hypervisor, call: SyscallCall, r: ViewPath, host: string, flags: number, mode: number): Promise<Answer> {
  if (r.isDir) hv.dirViews.record(fs.realpathSync(host), r.path);
  return reissue(hv, call, syscallNumber('openat'), [BigInt(AT_FDCWD), host, BigInt(flags), BigInt(mode)], host);
}

function performOnBehalf(hv: Hypervisor, call: SyscallCall, spec: Spec, resolved: ViewPath[]): Answer | Promise<Answer> {
  const access = resolved.map((r, i) => {
    const a = spec.paths[i].access ?? 'read';
    return typeof a === 'function' ? a(call, r.exists) : a;
  });
  resolved.forEach((r, i) => {
    if (r.dotLast && (access[i] === 'create' || access[i] === 'remove' || access[i] === 'rename')) throw dotLastError(call, r.dotLast);
  });
  const services = resolved.map((r) => (r.entry ? filesOf(r.entry) : undefined));
  if (access[0] === 'remove' && services[0]?.remove) return removeOnBehalf(call, services[0], resolved[0]);
  const args: Array<bigint | number | string | Buffer | null> = [...call.args];
  // a path outside every mount (the other end of a link, say) keeps its resolved real path
  const hosts = resolved.map((r, i) => {
    const host = r.entry ? hostPath(hv, r.path, { entry: r.entry, mpath: r.mpath! }, access[i]) : r.host;
    return r.trailingSlash && !host.endsWith('/') ? `${host}/` : host;
  });
  spec.paths.forEach((p, i) => {
    args[p.arg] = hosts[i];
    if (p.dirfd !== undefined) args[p.dirfd] = AT_FDCWD;
  });
  for (const s of spec.strings ?? []) args[s] = call.readString(s);
  for (const b of spec.in ?? [])
    if (call.args[b.arg] !== 0n) args[b.arg] = call.readMem(call.args[b.arg], 'size' in b ? b.size : Math.min(call.long(b.sizeArg), 1 << 16));
  const outs = (spec.out ?? []).map((o) => {
    const size = 'size' in o ? o.size : Math.max(0, Math.min(call.long(o.sizeArg), 1 << 20));
    const buf = call.args[o.arg] === 0n ? null : Buffer.alloc(size);
    args[o.arg] = buf;
    return { o, buf };
  });
  const keeper = keeperOf(resolved[0].entry);
  if (spec.fd && spec.fd.flags >= 0) {
    const flags = call.int(spec.fd.flags);
    // a device node kept over an empty host file opens the host's device of its number
    const kept = resolved[0].exists && !(flags & O_PATH) ? keeper?.of(resolved[0].mpath!) : undefined;
    const keptType = (kept?.mode ?? 0) & S_IFMT;
    if (keptType === S_IFCHR || keptType === S_IFBLK) {
      const node = hostDeviceNode(keptType, kept!.rdev ?? 0);
      if (!node) throw new SyscallError('ENXIO');
      return openInCaller(hv, call, resolved[0], node, flags, call.int(spec.mode!.arg));
    }
    const type = resolved[0].exists ? (resolved[0].mode ?? 0) & S_IFMT : S_IFREG;
    if (flags & O_PATH || (type !== S_IFREG && type !== S_IFDIR)) return openInCaller(hv, call, resolved[0], hosts[0], flags, call.int(spec.mode!.arg));
  }
  const caller = callerStatus(call);
  if (spec.mode) {
    const w = spec.mode.when;
    if (!w || call.int(w.flags) & w.bit) {
      const mode = call.int(spec.mode.arg);
      const umask = caller()?.umask ?? 0o022;
      args[spec.mode.arg] = (mode & ~0o7777) | (mode & 0o7777 & ~umask); // mknod's file type stays
    }
  }
  // (a change the mount only keeps is refused by the host, as it were)
  let r = keeper?.keepsOnly?.(resolved[0].mpath!) && isAttributeCall(call) ? -EPERM : performAsCaller(caller, call.nr, args);
  if (r < 0) {
    // a service may place the file elsewhere when the host refuses (vufs mincow)
    const again = resolved.map((v, i) => v.entry && services[i]?.retry?.(v.mpath!, access[i], errnoName(-r)));
    if (again.some((p) => p !== undefined)) {
      spec.paths.forEach((p, i) => {
        if (again[i] !== undefined) args[p.arg] = throughOlderMounts(hv, again[i]!, resolved[i].entry!, access[i]);
      });
      r = performAsCaller(caller, call.nr, args);
    }
  }
  if (keeper) {
    const done = keptAfterCall(call, keeper, resolved, access, args, spec, r, caller);
    if (done) return done;
  }
  if (r < 0) return Answer.error(-r);
  for (const { o, buf } of outs) {
    if (!buf) continue;
    const n = 'size' in o ? o.size : Math.min(r, buf.length);
    if (n > 0) call.writeMem(call.args[o.arg], buf.subarray(0, n));
  }
  if (access[0] === 'rename') services[0]?.renamed?.(resolved[0].mpath!, resolved[1].mpath!, call.name === 'renameat2' && (call.int(4) & RENAME_EXCHANGE) !== 0);
  if (spec.fd) return injectFd(hv, call, spec.fd, r, resolved[0], services[0]);
  return Answer.value(r);
}

/**
 * What a mount that keeps attributes adds to a call performed on its host files: chown, chmod
 * and mknod the host refused are kept, files made are their maker's, stat shows what is kept,
 * links take it along (renames: the service's renamed hook). An answer when the call's result
 * changes.
 */
function keptAfterCall(
  call: SyscallCall,
  keeper: AttributeKeeper,
  resolved: ViewPath[],
  access: Access[],
  args: Array<bigint | number | string | Buffer | null>,
  spec: Spec,
  r: number,
  caller: () => ProcStatus | undefined,
): Answer | undefined {
  const host = (i: number) => String(args[spec.paths[i].arg]);
  const mpath = resolved[0].mpath!;
  if (isAttributeCall(call)) {
    const answer = keepAttributes(call, keeper, mpath, host(0), args, r, caller(), (nr, a) => performAsCaller(caller, nr, a));
    if (answer?.kind === 'value' && access[0] === 'create') keepCreator(keeper, mpath, host(0), caller()); // (a device node)
    if (answer) return answer;
  }
  if (r < 0) return undefined;
  if (spec.out && call.name.includes('stat') && call.name !== 'statfs') {
    const kept = keeper.of(mpath);
    if (kept) showKept(args[spec.out[0].arg] as Buffer, call.name === 'statx', kept);
  } else if (access[1] === 'create' && call.name.startsWith('link')) {
    // the new name is the same file (the keeper knows it by the host file's several names)
    keeper.keep(resolved[1].mpath!, host(1), keeper.of(mpath) ?? {});
    keeper.keep(mpath, host(0), {});
  } else if (access[0] === 'create') {
    keepCreator(keeper, mpath, host(0), caller());
  }
  return undefined;
}

/** What /proc says of the calling thread, read at most once per call and only if asked. */
function callerStatus(call: SyscallCall): () => ProcStatus | undefined {
  let status: ProcStatus | undefined | null = null;
  return () => (status === null ? (status = readStatus(call.tid)) : status);
}

/**
 * The call as the caller would make it: its umask is already in the mode argument (umvu's is 0
 * meanwhile), and when umvu is root, under the caller's file-system ids and groups (a process
 * of the view may have dropped root: it must not read or write what it could not). These are
 * per-thread in the kernel: only the thread making the call takes them, for the call.
 */
function performAsCaller(caller: () => ProcStatus | undefined, nr: number, args: Array<bigint | number | string | Buffer | null>): number {
  const status = process.geteuid?.() === 0 ? caller() : undefined;
  const ours = process.getgroups?.() ?? [];
  const other = status && (status.fsuid !== 0 || status.fsgid !== 0 || status.groups.join() !== ours.join());
  const groups = (list: number[]) => Buffer.from(new Uint32Array(list).buffer);
  if (other) {
    native.syscall(syscallNumber('setgroups'), status.groups.length, groups(status.groups));
    native.syscall(syscallNumber('setfsgid'), status.fsgid);
    native.syscall(syscallNumber('setfsuid'), status.fsuid);
  }
  const oldUmask = process.umask(0);
  try {
    return native.syscall(nr, ...args);
  } finally {
    process.umask(oldUmask);
    if (other) {
      native.syscall(syscallNumber('setfsuid'), 0);
      native.syscall(syscallNumber('setfsgid'), 0);
      native.syscall(syscallNumber('setgroups'), ours.length, groups(ours));
    }
  }
}

/**
 * Gives the caller the fd opened on its behalf. For a directory, its view path is recorded; one
 * whose listing the service serves (a union) is swapped for its materialized listing, opened
 * with the same flags.
 */
function injectFd(hv: Hypervisor, call: SyscallCall, fdSpec: { flags: number }, fd: number, r: ViewPath, files?: PathService): Answer {
  const flags = fdSpec.flags >= 0 ? call.int(fdSpec.flags) : 0;
  try {
    if (r.virtual && fs.fstatSync(fd).isDirectory()) {
      const entries = r.mpath !== undefined ? files?.list?.(r.mpath) : undefined;
      if (entries) {
        const listing = native.syscall(SYS_open, hv.dirViews.materialize(r.path, entries), flags & ~O_CREAT, 0);
        if (listing < 0) return Answer.error(-listing);
        fs.closeSync(fd);
        fd = listing;
      }
      // as the kernel names it in /proc/PID/fd (symlinks of the host path resolved)
      hv.dirViews.record(fs.readlinkSync(`/proc/self/fd/${fd}`), r.path);
    }
    const injected = native.addFd(call.id, fd, -1, { send: true, cloexec: (flags & O_CLOEXEC) !== 0 });
    return injected < 0 ? Answer.error(-injected) : Answer.answered();
  } finally {
    fs.closeSync(fd);
  }
}
