/**
 * The submodule API: a fuse-native style operations table (each op takes its arguments and a
 * callback; errors are 0 or a negative errno such as -2 for ENOENT), and the adapter that turns
 * such a table into the core's VirtualFs. A file is read whole when it is opened and written
 * back whole when the view is done with it (see VirtualFs); both move data in large chunks.
 */
import { direntTypeOf, linux, SyscallError, type DirEntry, type VirtualFs, type VStat, type VStatFs } from '@vuos/core';

type Cb<A extends unknown[] = []> = (err: number, ...result: A) => void;

/** What getattr gives: stat(2)'s fields; times as Date or ms since the epoch. */
export interface FuseStat {
  mode: number;
  size?: number;
  uid?: number;
  gid?: number;
  ino?: number;
  nlink?: number;
  rdev?: number;
  atime?: Date | number;
  mtime?: Date | number;
  ctime?: Date | number;
}

export interface FuseStatFs {
  bsize: number;
  frsize?: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namemax?: number;
}

export interface FuseOps {
  init?(cb: Cb): void;
  destroy?(cb: Cb): void;
  getattr?(path: string, cb: Cb<[FuseStat?]>): void;
  readdir?(path: string, cb: Cb<[string[]?, FuseStat[]?]>): void;
  opendir?(path: string, flags: number, cb: Cb<[number?]>): void;
  releasedir?(path: string, fd: number, cb: Cb): void;
  readlink?(path: string, cb: Cb<[string?]>): void;
  open?(path: string, flags: number, cb: Cb<[number?]>): void;
  create?(path: string, mode: number, cb: Cb<[number?]>): void;
  /** calls back with the number of bytes read (0 at the end), or a negative errno */
  read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesRead: number) => void): void;
  /** calls back with the number of bytes written, or a negative errno */
  write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesWritten: number) => void): void;
  flush?(path: string, fd: number, cb: Cb): void;
  fsync?(path: string, datasync: boolean, fd: number, cb: Cb): void;
  release?(path: string, fd: number, cb: Cb): void;
  truncate?(path: string, size: number, cb: Cb): void;
  ftruncate?(path: string, fd: number, size: number, cb: Cb): void;
  mknod?(path: string, mode: number, dev: number, cb: Cb): void;
  mkdir?(path: string, mode: number, cb: Cb): void;
  rmdir?(path: string, cb: Cb): void;
  unlink?(path: string, cb: Cb): void;
  rename?(src: string, dest: string, cb: Cb): void;
  link?(src: string, dest: string, cb: Cb): void;
  symlink?(target: string, path: string, cb: Cb): void;
  chmod?(path: string, mode: number, cb: Cb): void;
  chown?(path: string, uid: number, gid: number, cb: Cb): void;
  utimens?(path: string, atime: Date, mtime: Date, cb: Cb): void;
  statfs?(path: string, cb: Cb<[FuseStatFs?]>): void;
}

export interface AdapterOptions {
  /** every change fails with EROFS (the change methods are left out) */
  readOnly?: boolean;
  /** where a misbehaving op is reported */
  log?: Log;
}

const { S_IFREG, O_WRONLY } = linux;
/** bytes asked for by one read or write op */
const CHUNK = 4 << 20;
/** the most memory a (possibly corrupted) size from getattr makes the first read set aside */
const MAX_GUESS = 256 << 20;


const isErrno = (e: unknown) => e === undefined || e === null || (Number.isInteger(e) && (e as number) <= 0 && (e as number) >= -4095);
const timeMs = (t: unknown): number | undefined => (t instanceof Date ? t.getTime() : typeof t === 'number' ? t : undefined);

function toVStat(s: unknown): VStat | undefined {
  const st = s as FuseStat | undefined;
  if (!st || typeof st !== 'object' || !Number.isInteger(st.mode) || !direntTypeOf(st.mode)) return undefined;
  const ms = [timeMs(st.atime), timeMs(st.mtime), timeMs(st.ctime)];
  if (ms.some((t) => t !== undefined && !Number.isFinite(t))) return undefined;
  const num = (v: unknown) => (typeof v === 'number' && v >= 0 ? v : undefined);
  return { mode: st.mode, size: num(st.size) ?? 0, ino: num(st.ino), nlink: num(st.nlink), uid: num(st.uid), gid: num(st.gid), rdev: num(st.rdev), atimeMs: ms[0] ?? ms[1], mtimeMs: ms[1], ctimeMs: ms[2] ?? ms[1] };
}

type Log = (message: string) => void;

/**
 * Runs one op: resolves with what it called back (the first time), rejects with EIO when it
 * throws or rejects (as async functions do).
 */
function callOp(ops: FuseOps, op: keyof FuseOps, args: unknown[], log: Log): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    let done = false;
    const broken = (why: string) => {
      if (done) return;
      done = true;
      log(`vufuse: ${op}: ${why}`);
      reject(new SyscallError('EIO'));
    };
    const cb = (...res: unknown[]) => {
      if (done) return;
      done = true;
      resolve(res);
    };
    try {
      const r = (ops[op] as (...a: unknown[]) => unknown).call(ops, ...args, cb);
      if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(undefined, (e) => broken(String(e)));
    } catch (e) {
      broken(String((e as Error)?.stack ?? e));
    }
  });
}

/** Runs an op whose callback's first argument is an errno: the rest, or that errno thrown (EIO if it is none). */
export async function runOp(ops: FuseOps, op: keyof FuseOps, args: unknown[], log: Log): Promise<unknown[]> {
  const [err, ...rest] = await callOp(ops, op, args, log);
  if (!isErrno(err)) {
    log(`vufuse: ${op}: bad error value ${String(err)}`);
    throw new SyscallError('EIO');
  }
  if (err) throw new SyscallError(-(err as number));
  return rest;
}

export function opsToVirtualFs(ops: FuseOps, { readOnly = false, log = () => {} }: AdapterOptions = {}): VirtualFs {
  const has = (op: keyof FuseOps) => typeof ops[op] === 'function';
  const call = (op: keyof FuseOps, ...args: unknown[]) => callOp(ops, op, args, log);
  const run = (op: keyof FuseOps, ...args: unknown[]) => runOp(ops, op, args, log);
  /** a read or write: the byte count it called back */
  const transfer = async (op: 'read' | 'write', ...args: unknown[]): Promise<number> => {
    const [n] = await call(op, ...args);
    if (!Number.isInteger(n) || (n as number) > (args[3] as number) || (n as number) < -4095) {
      log(`vufuse: ${op}: bad byte count ${String(n)}`);
      throw new SyscallError('EIO');
    }
    if ((n as number) < 0) throw new SyscallError(-(n as number));
    return n as number;
  };
  const fdOf = (res: unknown[]) => (Number.isInteger(res[0]) ? (res[0] as number) : 0);
  /** runs fn on path opened with open (when the table has it), releasing it after */
  const withOpen = async <T>(path: string, flags: number, fn: (fd: number) => Promise<T>): Promise<T> => {
    const fd = has('open') ? fdOf(await run('open', path, flags)) : 0;
    try {
      return await fn(fd);
    } finally {
      if (has('release')) await run('release', path, fd).catch(() => {});
    }
  };

  // one operation at a time: a whole-file read or write-back is several ops that another
  // operation (a rename, an unlink) must not come between
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = tail.then(fn);
    tail = result.catch(() => {});
    return result;
  };

  const lstat = async (path: string): Promise<VStat | null> => {
    if (!has('getattr')) return path === '/' ? { mode: 0o040755, size: 0 } : null;
    const [err, st] = await call('getattr', path);
    if (err === -2) return null;
    if (!isErrno(err)) {
      log(`vufuse: getattr ${path}: bad error value ${String(err)}`);
      throw new SyscallError('EIO');
    }
    if (err) throw new SyscallError(-(err as number));
    const v = toVStat(st);
    if (!v) {
      log(`vufuse: getattr ${path}: bad stat ${JSON.stringify(st)}`);
      throw new SyscallError('EIO');
    }
    return v;
  };

  const readdir = async (path: string): Promise<DirEntry[]> => {
    if (!has('readdir')) throw new SyscallError('ENOSYS');
    const fd = has('opendir') ? fdOf(await run('opendir', path, 0)) : 0;
    let names: unknown;
    let stats: unknown;
    try {
      [names, stats] = await run('readdir', path);
    } finally {
      if (has('releasedir')) await run('releasedir', path, fd).catch(() => {});
    }
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || !n || n.includes('/'))) {
      log(`vufuse: readdir ${path}: bad names`);
      throw new SyscallError('EIO');
    }
    const entries: DirEntry[] = [];
    for (const [i, name] of (names as string[]).entries()) {
      if (name === '.' || name === '..') continue;
      const st = (Array.isArray(stats) && toVStat(stats[i])) || (await lstat(path === '/' ? `/${name}` : `${path}/${name}`));
      if (st) entries.push({ name, type: direntTypeOf(st.mode)! });
    }
    return entries;
  };

  const read = (path: string): Promise<Buffer> =>
    withOpen(path, 0, async (fd) => {
      if (!has('read')) throw new SyscallError('ENOSYS');
      // one byte more than the size getattr said: the last read comes back short, which is the
      // end of the file (as for FUSE), with no extra call
      let buf = Buffer.allocUnsafe(Math.min(((await lstat(path))?.size ?? 0) + 1, MAX_GUESS));
      for (let size = 0; ; ) {
        if (size === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(Math.max(CHUNK, buf.length))]);
        const len = Math.min(CHUNK, buf.length - size);
        const n = await transfer('read', path, fd, buf.subarray(size, size + len), len, size);
        size += n;
        if (n < len) return buf.subarray(0, size);
      }
    });

  const write = (path: string, data: Buffer): Promise<void> =>
    withOpen(path, O_WRONLY, async (fd) => {
      for (let off = 0; off < data.length; ) {
        const len = Math.min(CHUNK, data.length - off);
        const n = await transfer('write', path, fd, data.subarray(off, off + len), len, off);
        if (n === 0) throw new SyscallError('ENOSPC');
        off += n;
      }
      if (has('ftruncate')) await run('ftruncate', path, fd, data.length);
      else if (has('truncate')) await run('truncate', path, data.length);
      if (has('flush')) await run('flush', path, fd);
    });

  const create = async (path: string, mode: number): Promise<void> => {
    if (has('create')) {
      const fd = fdOf(await run('create', path, mode));
      if (has('release')) await run('release', path, fd);
    } else {
      await run('mknod', path, S_IFREG | mode, 0);
    }
  };

  const vfs: VirtualFs = {
    lstat: (p) => serial(() => lstat(p)),
    readdir: (p) => serial(() => readdir(p)),
    read: (p) => serial(() => read(p)),
    readlink: (p) =>
      serial(async () => {
        if (!has('readlink')) throw new SyscallError('EINVAL');
        const [target] = await run('readlink', p);
        if (typeof target !== 'string' && !Buffer.isBuffer(target)) throw new SyscallError('EIO');
        return String(target);
      }),
  };
  if (has('statfs')) {
    vfs.statfs = (p) =>
      serial(async () => {
        const [s] = (await run('statfs', p)) as [FuseStatFs | undefined];
        if (!s || typeof s !== 'object') throw new SyscallError('EIO');
        const out: VStatFs = { type: 0x65735546, bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namelen: s.namemax };
        if (Object.values(out).some((v) => v !== undefined && !(Number.isFinite(v) && v >= 0))) throw new SyscallError('EIO');
        return out;
      });
  }
  if (readOnly) return vfs;

  // the changes: each present only when the table can do it
  const change = (op: keyof FuseOps, ...args: unknown[]) => serial(() => run(op, ...args)).then(() => {});
  if (has('write')) vfs.write = (p, data) => serial(() => write(p, data));
  if (has('create') || has('mknod')) vfs.create = (p, mode) => serial(() => create(p, mode));
  if (has('mkdir')) vfs.mkdir = (p, mode) => change('mkdir', p, mode);
  if (has('rmdir')) vfs.rmdir = (p) => change('rmdir', p);
  if (has('unlink')) vfs.unlink = (p) => change('unlink', p);
  if (has('rename')) vfs.rename = (from, to) => change('rename', from, to);
  if (has('link')) vfs.link = (from, to) => change('link', from, to);
  if (has('symlink')) vfs.symlink = (target, p) => change('symlink', target, p);
  if (has('chmod')) vfs.chmod = (p, mode) => change('chmod', p, mode);
  if (has('chown')) vfs.chown = (p, uid, gid) => change('chown', p, uid, gid);
  if (has('truncate')) vfs.truncate = (p, size) => change('truncate', p, size);
  if (has('utimens')) vfs.utimens = (p, atimeMs, mtimeMs) => change('utimens', p, new Date(atimeMs), new Date(mtimeMs));
  return vfs;
}
