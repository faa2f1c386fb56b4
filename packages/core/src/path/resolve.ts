/**
 * Path resolution as the kernel does it, but over the view: component by component, asking
 * an oracle (a module for virtual paths, the kernel for real ones) for lstat and readlink, so
 * that symlinks and `..` cross between real and virtual trees in both directions (VUOS §1.8).
 *
 * Errors follow Linux: ENOENT for a missing intermediate component (or an empty path),
 * ENOTDIR when a non-final component (or a final one followed by '/') is not a directory,
 * ELOOP after 40 symlinks, ENAMETOOLONG for a path over PATH_MAX or a component over NAME_MAX.
 * A missing final component is not an error: `exists` is false (open O_CREAT, mkdir...).
 */
import fs from 'node:fs';
import path from 'node:path';
import { SyscallError } from '../syscall.js';
import { S_IFDIR, S_IFLNK, S_IFMT } from '../linux.js';

export const PATH_MAX = 4096;
export const NAME_MAX = 255;
export const MAXSYMLINKS = 40;


/** What resolution needs to know of a file; mode 0 would be "does not exist". */
export interface FileInfo {
  mode: number;
  /** the device of a host file (RESOLVE_NO_XDEV compares it) */
  dev?: number;
}

/**
 * Where the facts come from: the newest module owning a path, or the kernel. A module may
 * answer asynchronously (a FUSE daemon replies when it replies).
 */
export interface PathOracle {
  /** lstat of an absolute canonical path; null if it does not exist. Other errors throw. */
  lstat(abs: string): FileInfo | null | Promise<FileInfo | null>;
  readlink(abs: string): string | Promise<string>;
}

export interface ResolveOptions {
  /** absolute canonical directory for relative paths (the cwd, or the dirfd's path) */
  base: string;
  /** follow a symlink in the last component (stat, open without O_NOFOLLOW...) */
  follow: boolean;
  /** the virtual root (chroot); '/' by default */
  root?: string;
  /** AT_EMPTY_PATH: an empty path names `base` itself */
  emptyPathAllowed?: boolean;
  /**
   * The call works on the final name itself (mkdir, unlink, rename...: the kernel looks up its
   * parent): a trailing slash then neither follows a final symlink nor is checked here (the
   * kernel's rules differ per call; the caller passes the slash on to the host path).
   */
  finalName?: boolean;
  /** openat2's RESOLVE_NO_SYMLINKS: following any symlink fails with ELOOP */
  noSymlinks?: boolean;
  /** openat2's RESOLVE_BENEATH: leaving `base` (absolute paths, `..`, absolute symlinks) fails with EXDEV */
  beneath?: boolean;
  /** openat2's RESOLVE_NO_XDEV: reaching a file of another (host) file system fails with EXDEV */
  noXdev?: boolean;
}

export interface Resolved {
  /** absolute canonical path, as seen from the real root (root prefix included) */
  path: string;
  /** the final component exists */
  exists: boolean;
  info: FileInfo | null;
  /** the path ended with '/': the final component must be (or become) a directory */
  trailingSlash: boolean;
  /** the final component was `.` or `..` (the path names a directory, not an entry of one) */
  dotLast?: '.' | '..';
}

export const isDir = (i: FileInfo | null) => i !== null && (i.mode & S_IFMT) === S_IFDIR;
const isLink = (i: FileInfo | null) => i !== null && (i.mode & S_IFMT) === S_IFLNK;

export async function resolvePath(p: string, opts: ResolveOptions, oracle: PathOracle): Promise<Resolved> {
  const root = opts.root ?? '/';
  if (Buffer.byteLength(p) >= PATH_MAX) throw new SyscallError('ENAMETOOLONG');
  if (p === '') {
    if (!opts.emptyPathAllowed) throw new SyscallError('ENOENT');
    const info = await oracle.lstat(opts.base);
    return { path: opts.base, exists: info !== null, info, trailingSlash: false };
  }
  let links = 0;
  // the resolved prefix so far, always absolute and canonical (starts at root or base)
  if (opts.beneath && p.startsWith('/')) throw new SyscallError('EXDEV');
  let done = p.startsWith('/') ? root : opts.base;
  // components still to walk; symlink targets are spliced in front
  let todo = p.split('/');
  const trailingSlash = p.endsWith('/');
  let dotLast: '.' | '..' | undefined;
  let info: FileInfo | null = await oracle.lstat(done);
  const startDev = opts.noXdev ? (await oracle.lstat(opts.base))?.dev : undefined;
  const sameDev = (i: FileInfo | null) => {
    if (startDev !== undefined && i?.dev !== undefined && i.dev !== startDev) throw new SyscallError('EXDEV');
  };
  sameDev(info);
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '') continue;
    if (Buffer.byteLength(name) > NAME_MAX) throw new SyscallError('ENAMETOOLONG');
    // walking through `done` (`.` included) requires it to be a directory
    if (!isDir(info)) throw new SyscallError(info === null ? 'ENOENT' : 'ENOTDIR');
    if (name === '.' || name === '..') {
      if (name === '..' && opts.beneath && done === opts.base) throw new SyscallError('EXDEV');
      if (name === '..' && done !== root) done = path.posix.dirname(done); // never above the (virtual) root
      if (name === '..') sameDev((info = await oracle.lstat(done)));
      dotLast = name;
      continue;
    }
    dotLast = undefined;
    const next = done === '/' ? `/${name}` : `${done}/${name}`;
    const nextInfo = await oracle.lstat(next);
    // only trailing slashes may follow the final component (`X/.` makes X a directory to walk)
    const last = todo.every((c) => c === '');
    const followLast = opts.follow || (trailingSlash && !opts.finalName);
    if (isLink(nextInfo) && (!last || followLast)) {
      if (++links > MAXSYMLINKS || opts.noSymlinks) throw new SyscallError('ELOOP');
      const target = await oracle.readlink(next);
      if (target === '') throw new SyscallError('ENOENT');
      if (opts.beneath && target.startsWith('/')) throw new SyscallError('EXDEV');
      // the kernel allows this jump to / when the link's vfsmount is the root's, which we cannot see
      if (opts.noXdev && target.startsWith('/')) throw new SyscallError('ENOTSUP');
      if (target.startsWith('/')) done = root;
      info = await oracle.lstat(done);
      todo = [...target.split('/'), ...todo];
      continue;
    }
    done = next;
    info = nextInfo;
    sameDev(info);
    if (info === null && !last) {
      // a missing intermediate component
      throw new SyscallError('ENOENT');
    }
  }
  if (trailingSlash && !opts.finalName && info !== null && !isDir(info)) throw new SyscallError('ENOTDIR');
  return { path: done, exists: info !== null, info, trailingSlash, dotLast };
}

/** The kernel's view of the supervisor's file system (same root and credentials as the view). */
export const realOracle: PathOracle = {
  lstat(abs) {
    try {
      return { mode: fs.lstatSync(abs).mode };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      throw new SyscallError(code ?? 'EIO');
    }
  },
  readlink(abs) {
    return fs.readlinkSync(abs);
  },
};
