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
import { native } from '../native.js';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import { isDir, resolvePath, type PathOracle } from '../path/resolve.js';
import type { Entry } from '../registry.js';
import type { Hypervisor } from '../hypervisor.js';
import { pathArg } from '../describe.js';
import { readStatus } from '../process.js';

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_SYMLINK_FOLLOW = 0x400;
const AT_EMPTY_PATH = 0x1000;
const O_CREAT = 0o100;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;

/** A mount's file service: where on the host a path of the mount lives (vufs bind...). */
export interface PathService {
  redirect(mpath: string): string;
  /**
   * Declares a pure prefix redirect: redirect(mpath) is always path.join(hostPrefix, mpath) and
   * nothing else of the mount changes resolution (no exceptions). The native fast path may then
   * serve stat, access, readlink, getxattr and open of paths that stay inside the mount itself.
   */
  hostPrefix?: string;
}

type Follow = boolean | { flags: number; nofollow?: number; follow?: number };
export interface PathArg {
  arg: number;
  dirfd?: number;
  follow: Follow;
  /** flags argument whose AT_EMPTY_PATH allows an empty path */
  emptyFlags?: number;
}
interface Spec {
  paths: PathArg[];
  /** output buffers: fixed size, or the size in an argument (the result says how much was written) */
  out?: Array<{ arg: number; size: number } | { arg: number; sizeArg: number }>;
  /** string arguments passed through (xattr names, symlink targets) */
  strings?: number[];
  /** input buffers copied from the caller */
  in?: Array<{ arg: number; size: number }>;
  /** the result is a new fd; flags argument for O_CLOEXEC */
  fd?: { flags: number };
  /** argument holding a mode to mask with the caller's umask (creating calls) */
  mode?: { arg: number; when?: { flags: number; bit: number } };
}

const f = (arg: number, follow: Follow, dirfd?: number, emptyFlags?: number): PathArg => ({ arg, follow, dirfd, emptyFlags });
const atFlags = (flags: number): Follow => ({ flags, nofollow: AT_SYMLINK_NOFOLLOW });

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
  open: { paths: [f(0, { flags: 1, nofollow: O_NOFOLLOW })], fd: { flags: 1 }, mode: { arg: 2, when: { flags: 1, bit: O_CREAT } } },
  openat: { paths: [f(1, { flags: 2, nofollow: O_NOFOLLOW }, 0)], fd: { flags: 2 }, mode: { arg: 3, when: { flags: 2, bit: O_CREAT } } },
  creat: { paths: [f(0, true)], fd: { flags: -1 }, mode: { arg: 1 } },
  getxattr: { paths: [f(0, true)], strings: [1], out: [{ arg: 2, sizeArg: 3 }] },
  lgetxattr: { paths: [f(0, false)], strings: [1], out: [{ arg: 2, sizeArg: 3 }] },
  listxattr: { paths: [f(0, true)], out: [{ arg: 1, sizeArg: 2 }] },
  llistxattr: { paths: [f(0, false)], out: [{ arg: 1, sizeArg: 2 }] },
  statfs: { paths: [f(0, true)], out: [{ arg: 1, size: 120 }] },
  mkdir: { paths: [f(0, false)], mode: { arg: 1 } },
  mkdirat: { paths: [f(1, false, 0)], mode: { arg: 2 } },
  unlink: { paths: [f(0, false)] },
  unlinkat: { paths: [f(1, false, 0)] },
  rmdir: { paths: [f(0, false)] },
  chmod: { paths: [f(0, true)] },
  fchmodat: { paths: [f(1, true, 0)] },
  chown: { paths: [f(0, true)] },
  lchown: { paths: [f(0, false)] },
  fchownat: { paths: [f(1, atFlags(4), 0, 4)] },
  truncate: { paths: [f(0, true)] },
  utimensat: { paths: [f(1, atFlags(3), 0, 3)], in: [{ arg: 2, size: 32 }] },
  rename: { paths: [f(0, false), f(1, false)] },
  renameat: { paths: [f(1, false, 0), f(3, false, 2)] },
  renameat2: { paths: [f(1, false, 0), f(3, false, 2)] },
  link: { paths: [f(0, false), f(1, false)] },
  linkat: { paths: [f(1, { flags: 4, follow: AT_SYMLINK_FOLLOW }, 0, 4), f(3, false, 2)] },
  symlink: { paths: [f(1, false)], strings: [0] },
  symlinkat: { paths: [f(2, false, 1)], strings: [0] },
};

interface ViewPath {
  /** the canonical path in the view */
  path: string;
  /** where it lives on the host (path itself, outside every mount) */
  host: string;
  exists: boolean;
  isDir: boolean;
  /** the mount serving it, if any */
  entry?: Entry;
  /** any component was served by a mount */
  virtual: boolean;
}

/** The newest mount with a file service that owns abs, and the path inside it. */
function owner(hv: Hypervisor, abs: string): { entry: Entry; mpath: string } | undefined {
  const entry = hv.registry.lookup('path', abs);
  if (!entry || !(entry.options as { files?: PathService }).files) return undefined;
  const tail = abs.slice(String(entry.key).length);
  return { entry, mpath: tail === '' ? '/' : tail };
}

/** Where abs lives on the host; pass its owner when it is already known. */
function hostPath(hv: Hypervisor, abs: string, o = owner(hv, abs)): string {
  return o ? (o.entry.options as { files: PathService }).files.redirect(o.mpath) : abs;
}

/** Resolves one path argument; an error is returned (not thrown) with whether a mount was involved. */
function resolveArg(hv: Hypervisor, call: SyscallCall, p: PathArg): ViewPath | { error: unknown; virtual: boolean } {
  let virtual = false;
  const oracle: PathOracle = {
    lstat(abs) {
      const o = owner(hv, abs);
      if (o) virtual = true;
      try {
        return { mode: fs.lstatSync(hostPath(hv, abs, o)).mode };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return null;
        throw new SyscallError(code ?? 'EIO');
      }
    },
    readlink(abs) {
      return fs.readlinkSync(hostPath(hv, abs));
    },
  };
  const dirfd = p.dirfd === undefined ? AT_FDCWD : call.int(p.dirfd);
  const emptyOk = p.emptyFlags !== undefined && (call.int(p.emptyFlags) & AT_EMPTY_PATH) !== 0;
  // AT_EMPTY_PATH on an fd: the call is about the fd's own file, resolved by nobody (a file
  // outside every mount, hence EXDEV if the call also names a path in a mount)
  let text: string;
  try {
    text = call.args[p.arg] === 0n ? '' : call.readString(p.arg);
  } catch (error) {
    return { error, virtual };
  }
  if (text === '' && emptyOk && dirfd !== AT_FDCWD) return { error: new SyscallError('EXDEV'), virtual };
  const vcwd = dirfd === AT_FDCWD ? call.process?.vcwd : undefined;
  let base: string;
  try {
    base = vcwd ?? fs.readlinkSync(dirfd === AT_FDCWD ? `/proc/${call.tid}/cwd` : `/proc/${call.tid}/fd/${dirfd}`);
  } catch {
    return { error: new SyscallError('EBADF'), virtual };
  }
  if (!base.startsWith('/')) return { error: new SyscallError('ENOTDIR'), virtual }; // a pipe, a socket...
  const flags = typeof p.follow === 'object' ? call.int(p.follow.flags) : 0;
  const follow =
    typeof p.follow === 'boolean'
      ? p.follow
      : p.follow.nofollow !== undefined
        ? !(flags & p.follow.nofollow)
        : !!(flags & (p.follow.follow ?? 0));
  try {
    // relative to a virtual cwd, the kernel would start from a stale directory
    if (vcwd !== undefined && !text.startsWith('/')) virtual = true;
    const r = resolvePath(text, { base, follow, emptyPathAllowed: emptyOk }, oracle);
    const o = owner(hv, r.path);
    return { path: r.path, host: hostPath(hv, r.path, o), exists: r.exists, isDir: isDir(r.info), entry: o?.entry, virtual: virtual || o !== undefined };
  } catch (error) {
    return { error, virtual };
  }
}

/**
 * chdir: into a mount, or anywhere from a virtual cwd, the process keeps a virtual cwd (the
 * kernel's cannot be changed from outside); an absolute real path from a real cwd is the
 * kernel's business.
 */
function chdir(hv: Hypervisor, call: SyscallCall): Answer {
  const r = resolveArg(hv, call, f(0, true));
  if (!r.virtual && call.process?.vcwd === undefined) return Answer.continue();
  if ('error' in r) throw r.error;
  if (!r.exists) throw new SyscallError('ENOENT');
  if (!r.isDir) throw new SyscallError('ENOTDIR');
  const p = hv.procs.ensure(call.tid);
  p.vcwd = r.path;
  hv.procs.update(p);
  return Answer.value(0);
}

/** getcwd from a virtual cwd: the view's path, as the kernel would write it. */
function getcwd(call: SyscallCall): Answer {
  const vcwd = call.process?.vcwd;
  if (vcwd === undefined) return Answer.continue();
  const bytes = Buffer.from(vcwd + '\0');
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
  if (m[1] === 'mounts')
    return real + mounts.map((i) => `${esc(i.source || 'none')} ${esc(i.target)} ${i.fstype} ${i.options || 'rw'} 0 0\n`).join('');
  // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS - FSTYPE SOURCE SUPEROPTIONS"
  const lines = real.split('\n').filter(Boolean).map((l) => l.split(' '));
  const parentOf = (target: string) =>
    lines.filter((l) => target === l[4] || target.startsWith(l[4] === '/' ? '/' : `${l[4]}/`)).at(-1)?.[0] ?? '1';
  return (
    real +
    mounts.map((i, k) => `${900000 + k} ${parentOf(i.target)} 0:0 / ${esc(i.target)} rw - ${i.fstype} ${esc(i.source || 'none')} ${i.options || 'rw'}\n`).join('')
  );
}

/** Answers an open with a fresh read-only file holding `content` (a memfd, injected). */
function openGenerated(call: SyscallCall, content: string, flagsArg: number): Answer {
  const MFD_CLOEXEC = 1;
  const SYS_memfd_create = 319;
  const SYS_lseek = 8;
  const fd = native.syscall(SYS_memfd_create, 'umvu-mounts', MFD_CLOEXEC);
  if (fd < 0) return Answer.error(-fd);
  try {
    fs.writeSync(fd, content);
    native.syscall(SYS_lseek, fd, 0, 0);
    const r = native.addFd(call.id, fd, -1, { send: true, cloexec: (call.int(flagsArg) & O_CLOEXEC) !== 0 });
    return r < 0 ? Answer.error(-r) : Answer.answered();
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The path arguments pathSyscall resolves for a call (what the native fast path must check
 * before a CONTINUE); [] for calls that name no path; undefined for calls that are not path calls.
 */
export function pathArgsOf(name: string): PathArg[] | undefined {
  if (name === 'chdir') return [f(0, true)];
  if (name === 'getcwd' || name === 'fchdir') return [];
  if (PATH_CALLS[name]) return PATH_CALLS[name].paths;
  const arg = pathArg(name);
  return arg < 0 ? [] : [f(arg, true, arg === 1 ? 0 : undefined)];
}

export function pathSyscall(hv: Hypervisor, call: SyscallCall): Answer {
  if (call.name === 'chdir') return chdir(hv, call);
  if (call.name === 'getcwd') return getcwd(call);
  if (call.name === 'fchdir' && call.process?.vcwd !== undefined) {
    // the kernel's cwd becomes the fd's directory again (a host path, for an fd of a mount)
    call.process.vcwd = undefined;
    hv.procs.update(call.process);
    return Answer.continue();
  }
  if (call.name === 'open' || call.name === 'openat') {
    const table = mountTableOf(hv, call, call.name === 'open' ? 0 : 1);
    if (table !== undefined) return openGenerated(call, table, call.name === 'open' ? 1 : 2);
  }
  const spec = PATH_CALLS[call.name];
  if (!spec) {
    // not served yet: the kernel may do it as long as it touches no mount
    const arg = pathArg(call.name);
    const dirfd = arg === 1 ? 0 : undefined;
    if (arg < 0 || call.args[arg] === 0n) return Answer.continue();
    const r = resolveArg(hv, call, f(arg, true, dirfd));
    return r.virtual ? Answer.error('ENOTSUP') : Answer.continue();
  }
  if (call.name === 'utimensat' && call.args[1] === 0n) return Answer.continue(); // futimens: fd only
  const results = spec.paths.map((p) => resolveArg(hv, call, p));
  // nothing virtual involved: the kernel resolves it exactly so (errors included)
  if (!results.some((r) => r.virtual)) return Answer.continue();
  const failed = results.find((r): r is { error: unknown; virtual: boolean } => 'error' in r);
  if (failed) throw failed.error;
  const resolved = results as ViewPath[];
  const entries = new Set(resolved.map((r) => r.entry));
  if (resolved.length > 1 && entries.size > 1) throw new SyscallError('EXDEV');
  return performOnBehalf(hv, call, spec, resolved);
}

function performOnBehalf(hv: Hypervisor, call: SyscallCall, spec: Spec, resolved: ViewPath[]): Answer {
  const args: Array<bigint | number | string | Buffer | null> = [...call.args];
  spec.paths.forEach((p, i) => {
    args[p.arg] = resolved[i].host;
    if (p.dirfd !== undefined) args[p.dirfd] = AT_FDCWD;
  });
  for (const s of spec.strings ?? []) args[s] = call.readString(s);
  for (const b of spec.in ?? []) if (call.args[b.arg] !== 0n) args[b.arg] = call.readMem(call.args[b.arg], b.size);
  const outs = (spec.out ?? []).map((o) => {
    const size = 'size' in o ? o.size : Math.max(0, Math.min(call.long(o.sizeArg), 1 << 20));
    const buf = call.args[o.arg] === 0n ? null : Buffer.alloc(size);
    args[o.arg] = buf;
    return { o, buf };
  });
  if (spec.mode) {
    const w = spec.mode.when;
    if (!w || call.int(w.flags) & w.bit) args[spec.mode.arg] = call.int(spec.mode.arg) & ~(readStatus(call.tid)?.umask ?? 0o022) & 0o7777;
  }
  // a path outside every mount (the other end of a link, say) keeps its resolved real path
  const oldUmask = process.umask(0); // the caller's umask was applied to the mode above
  let r: number;
  try {
    r = native.syscall(call.nr, ...args);
  } finally {
    process.umask(oldUmask);
  }
  if (r < 0) return Answer.error(-r);
  for (const { o, buf } of outs) {
    if (!buf) continue;
    const n = 'size' in o ? o.size : Math.min(r, buf.length);
    if (n > 0) call.writeMem(call.args[o.arg], buf.subarray(0, n));
  }
  if (spec.fd) {
    const cloexec = spec.fd.flags >= 0 && (call.int(spec.fd.flags) & O_CLOEXEC) !== 0;
    const fd = native.addFd(call.id, r, -1, { send: true, cloexec });
    fs.closeSync(r);
    if (fd < 0) return Answer.error(-fd);
    return Answer.answered();
  }
  return Answer.value(r);
}
