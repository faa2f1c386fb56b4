/**
 * A FUSE daemon's file system as the core's VirtualFs: path calls become FUSE requests on node
 * ids. Looked-up nodes and their attributes are kept for as long as the daemon says they are
 * valid, as the kernel's dcache and attribute cache do; our own changes update them. A daemon
 * the view started on an image (vufuse) serves nobody else: then nothing changes its files
 * behind our back, and what we know stays valid until we change it (exclusive).
 */
import path from 'node:path';
import { direntTypeOf, linux, SyscallError, type Caller, type DirEntry, type VStat, type VStatFs, type VirtualFs } from '@vuos/core';
import type { FuseConnection, RequestCredentials } from './connection.js';
import {
  FATTR_ATIME,
  FATTR_FH,
  FATTR_GID,
  FATTR_MODE,
  FATTR_MTIME,
  FATTR_SIZE,
  FATTR_UID,
  FUSE_ROOT_ID,
  Op,
  cstr,
  entryOutSize,
  parseAttr,
  parseDirents,
  parseEntry,
  struct,
  validUntil,
  type FuseAttr,
} from './protocol.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, S_IFREG, S_IFMT } = linux;
const ENOSYS = 38;
const ENODATA = 61;
const ENOTSUP = 95;
const XATTR_SIZE_MAX = 65536;
const ENOENT = 2;
const FUSE_SUPER_MAGIC = 0x65735546;
/** handles of created files kept for their first write-back, at most */
const KEPT_HANDLES = 64;
/** READ requests in flight while a file is loaded */
const READ_WINDOW = 8;
/** open_out flag: the file's size says nothing of its content */
const FOPEN_DIRECT_IO = 1;

interface Node {
  nodeid: bigint;
  entryValidUntil: number;
  attr?: FuseAttr;
  attrValidUntil: number;
  /** extended attributes known (exclusive mounts: ls -l asks two per file), or the errno asking gave */
  xattrs?: Map<string, Buffer | number>;
}

export class FuseFs implements VirtualFs {
  private nodes = new Map<string, Node>();
  /**
   * handles CREATE opened, kept for the file's first write-back (the process writes what it
   * created: that saves an OPEN); the oldest go when there are many (files created and left empty)
   */
  private created = new Map<string, { nodeid: bigint; fh: bigint }>();
  private noFlush = false;
  /** the mount is ending: nothing new starts (what is being written back finishes) */
  closing = false;

  constructor(
    readonly conn: FuseConnection,
    private caller: () => Caller | undefined,
    readonly readOnly: boolean,
    private exclusive = false,
  ) {
    this.nodes.set('/', { nodeid: FUSE_ROOT_ID, entryValidUntil: Infinity, attrValidUntil: 0 });
  }

  /**
   * the credentials a request carries: the calling process' fs ids, as the kernel sends; the
   * kernel's own (0) for work of no call, such as writing back a file the process was allowed
   * to write when it opened it
   */
  private cred(): RequestCredentials {
    const c = this.caller();
    const st = c?.status();
    if (!c || !st) return { uid: 0, gid: 0, pid: 0 };
    return { uid: st.fsuid, gid: st.fsgid, pid: c.tid };
  }

  /** a request, once the daemon has answered INIT (it reads it after its mount(2) returned) */
  private async call(op: Op, nodeid: bigint, ...parts: Buffer[]): Promise<Buffer> {
    if (this.closing) throw new SyscallError('ENOTCONN');
    await this.conn.ready;
    return this.conn.request(op, nodeid, parts, this.cred());
  }

  private umask(): number {
    return this.caller()?.status()?.umask ?? 0o022;
  }

  private writable(): void {
    if (this.readOnly) throw new SyscallError('EROFS');
  }

  /** The node of mpath, looked up component by component; ENOENT when missing. */
  private async node(mpath: string): Promise<Node> {
    const known = this.nodes.get(mpath);
    if (known && known.entryValidUntil > Date.now()) return known;
    const parent = await this.node(path.dirname(mpath));
    const out = await this.call(Op.LOOKUP, parent.nodeid, cstr(path.basename(mpath)));
    return this.remember(mpath, out, false);
  }

  /** a node looked up, or made (then the directory's times and link count changed) */
  private remember(mpath: string, out: Buffer, made = true): Node {
    const e = parseEntry(out);
    if (e.nodeid === 0n) throw new SyscallError('ENOENT'); // a negative entry
    const node = { nodeid: e.nodeid, entryValidUntil: this.until(e.entryValidUntil), attr: e.attr, attrValidUntil: this.until(e.attrValidUntil) };
    this.nodes.set(mpath, node);
    if (made) this.stale(path.dirname(mpath));
    return node;
  }

  private until(daemonSays: number): number {
    return this.exclusive ? Infinity : daemonSays;
  }

  /**
   * the attributes and xattrs of mpath and of its other names (hard links: libfuse's path-based
   * API gives each name its own node id, the inode number tells) must be asked again
   */
  private stale(mpath: string): void {
    const node = this.nodes.get(mpath);
    if (!node) return;
    const ino = node.attr?.ino;
    for (const n of this.nodes.values()) {
      if (n.nodeid !== node.nodeid && (ino === undefined || n.attr?.ino !== ino)) continue;
      n.attrValidUntil = 0;
      n.xattrs?.clear();
    }
  }

  /** mpath and everything below it changed name or went away */
  private forget(mpath: string): void {
    for (const [p, { nodeid, fh }] of this.created) {
      if (p !== mpath && !p.startsWith(mpath + '/')) continue;
      this.created.delete(p);
      this.release(nodeid, fh, O_WRONLY);
    }
    this.stale(mpath);
    this.stale(path.dirname(mpath));
    for (const p of this.nodes.keys()) if (p !== '/' && (p === mpath || p.startsWith(mpath + '/'))) this.nodes.delete(p);
  }

  private async attr(mpath: string): Promise<FuseAttr> {
    const node = await this.node(mpath);
    if (node.attr && node.attrValidUntil > Date.now()) return node.attr;
    const out = await this.call(Op.GETATTR, node.nodeid, struct([['u32', 0], ['u32', 0], ['u64', 0]]));
    node.attr = parseAttr(out, 16);
    node.attrValidUntil = this.until(validUntil(out, 0, 8));
    return node.attr;
  }

  async lstat(mpath: string): Promise<VStat | null> {
    let a: FuseAttr;
    try {
      a = await this.attr(mpath);
    } catch (e) {
      if ((e as SyscallError).errno === ENOENT) return null;
      throw e;
    }
    return {
      mode: a.mode,
      size: a.size,
      ino: Number(a.ino),
      nlink: a.nlink,
      uid: a.uid,
      gid: a.gid,
      rdev: a.rdev,
      blocks: a.blocks,
      atimeMs: Number(a.atimeNs / 1_000_000n),
      mtimeMs: Number(a.mtimeNs / 1_000_000n),
      ctimeMs: Number(a.ctimeNs / 1_000_000n),
      atimeNs: a.atimeNs,
      mtimeNs: a.mtimeNs,
      ctimeNs: a.ctimeNs,
    };
  }

  /** a node's type never changes: the one its lookup gave serves while the entry is valid */
  async kind(mpath: string): Promise<number | null> {
    try {
      const node = await this.node(mpath);
      return ((node.attr ?? (await this.attr(mpath))).mode & S_IFMT) >>> 0;
    } catch (e) {
      if ((e as SyscallError).errno === ENOENT) return null;
      throw e;
    }
  }

  async readlink(mpath: string): Promise<string> {
    return (await this.call(Op.READLINK, (await this.node(mpath)).nodeid)).toString();
  }

  async readdir(mpath: string): Promise<DirEntry[]> {
    const { nodeid } = await this.node(mpath);
    const fh = (await this.call(Op.OPENDIR, nodeid, struct([['u32', O_RDONLY], ['u32', 0]]))).readBigUInt64LE(0);
    const entries: Array<{ name: string; type: DirEntry['type'] | undefined }> = [];
    try {
      for (let offset = 0n; ; ) {
        const out = await this.call(Op.READDIR, nodeid, readIn(fh, offset, 65536));
        const batch = parseDirents(out);
        if (batch.length === 0) break;
        for (const d of batch) if (d.name !== '.' && d.name !== '..') entries.push({ name: d.name, type: direntTypeOf(d.type << 12) }); // d_type: the mode's type bits
        offset = batch[batch.length - 1].off;
      }
    } finally {
      this.release(nodeid, fh, O_RDONLY, Op.RELEASEDIR);
    }
    // DT_UNKNOWN (libfuse's high-level API without stats: fuse2fs, fuseiso): the type is the node's
    // (a name the daemon lists but cannot look up is listed still, as getdents would)
    const typeOf = async (name: string) => direntTypeOf((await this.kind(path.posix.join(mpath, name)).catch(() => null)) ?? S_IFREG) ?? 'file';
    return Promise.all(entries.map(async (e) => ({ name: e.name, type: e.type ?? (await typeOf(e.name)) })));
  }

  /**
   * The whole content: up to the size the daemon gave, in large requests with a window of them
   * in flight, as the kernel's readahead; a direct-I/O file (whose size says nothing) is read
   * on until a short read.
   */
  async read(mpath: string): Promise<Buffer[]> {
    const { nodeid } = await this.node(mpath);
    const size = (await this.attr(mpath)).size;
    const { fh, directIo } = await this.open(nodeid, O_RDONLY);
    const chunk = this.conn.maxRead;
    const readAt = (off: number, len: number) => this.call(Op.READ, nodeid, readIn(fh, BigInt(off), len));
    try {
      // the replies as they come, in file order: the core writes them to the memfd as they are
      const pieces: Buffer[] = [];
      let next = 0;
      let end = size;
      const reader = async () => {
        while (next < end) {
          const off = next;
          const len = Math.min(chunk, end - off);
          next += len;
          const b = await readAt(off, len);
          pieces[off / chunk] = b;
          if (b.length < len) end = Math.min(end, off + b.length);
        }
      };
      await settleAll(Array.from({ length: READ_WINDOW }, reader));
      const content = pieces.filter((b, i) => i * chunk < end).map((b, i) => b.subarray(0, Math.max(0, end - i * chunk)));
      if (!directIo) return content;
      for (let off = end; ; off += chunk) {
        const b = await readAt(off, chunk);
        content.push(b);
        if (b.length < chunk) return content;
      }
    } finally {
      this.release(nodeid, fh, O_RDONLY);
    }
  }

  async write(mpath: string, data: Buffer): Promise<void> {
    this.writable();
    const node = await this.node(mpath);
    // the handle its creation opened, if this is its first content; else a new one
    const kept = this.created.get(mpath);
    this.created.delete(mpath);
    const fh = kept?.nodeid === node.nodeid ? kept.fh : (await this.open(node.nodeid, O_WRONLY)).fh;
    if (kept && kept.nodeid !== node.nodeid) this.release(kept.nodeid, kept.fh, O_WRONLY);
    try {
      const step = this.conn.maxWrite;
      const writes: Array<Promise<Buffer>> = [];
      for (let off = 0; off < data.length; off += step) {
        const piece = data.subarray(off, off + step);
        const header = struct([['u64', fh], ['u64', off], ['u32', piece.length], ['u32', 0], ['u64', 0], ['u32', O_WRONLY], ['u32', 0]]);
        writes.push(this.call(Op.WRITE, node.nodeid, this.conn.minor < 9 ? header.subarray(0, 24) : header, piece));
      }
      // every answer is in before the handle is released; a short write is an I/O error
      const written = await settleAll(writes);
      if (written.some((w, i) => w.readUInt32LE(0) !== Math.min(step, data.length - i * step))) throw new SyscallError('EIO');
      // a shorter content cuts the file; the new size is asked for in any case (cached attributes)
      if (data.length < (node.attr?.size ?? Infinity)) await this.setattr(mpath, FATTR_SIZE | FATTR_FH, { size: data.length, fh });
      else this.stale(mpath);
      if (!this.noFlush) {
        await this.call(Op.FLUSH, node.nodeid, struct([['u64', fh], ['u32', 0], ['u32', 0], ['u64', 0]])).catch((e: SyscallError) => {
          if (e.errno !== ENOSYS) throw e;
          this.noFlush = true; // as the kernel: a daemon without flush is not asked again
        });
      }
    } finally {
      this.release(node.nodeid, fh, O_WRONLY);
    }
  }

  private async open(nodeid: bigint, flags: number): Promise<{ fh: bigint; directIo: boolean }> {
    const out = await this.call(Op.OPEN, nodeid, struct([['u32', flags], ['u32', 0]]));
    return { fh: out.readBigUInt64LE(0), directIo: (out.readUInt32LE(8) & FOPEN_DIRECT_IO) !== 0 };
  }

  private keepCreated(mpath: string, nodeid: bigint, fh: bigint): void {
    const old = this.created.get(mpath);
    if (old) this.release(old.nodeid, old.fh, O_WRONLY);
    this.created.delete(mpath);
    this.created.set(mpath, { nodeid, fh });
    for (const [p, oldest] of this.created) {
      if (this.created.size <= KEPT_HANDLES) break;
      this.created.delete(p);
      this.release(oldest.nodeid, oldest.fh, O_WRONLY);
    }
  }

  /** as the kernel's, a release is not waited for (nothing can fail that the caller could see) */
  private release(nodeid: bigint, fh: bigint, flags: number, op = Op.RELEASE): void {
    this.call(op, nodeid, releaseIn(fh, flags)).catch(() => undefined);
  }

  /** parent node and name of an entry to make or remove */
  private async parentOf(mpath: string): Promise<[bigint, Buffer]> {
    return [(await this.node(path.dirname(mpath))).nodeid, cstr(path.basename(mpath))];
  }

  async create(mpath: string, mode: number): Promise<void> {
    this.writable();
    const [parent, name] = await this.parentOf(mpath);
    const flags = O_CREAT | O_EXCL | O_WRONLY;
    try {
      // fuse_create_in gained mode's umask in 7.12; before, it was fuse_open_in with the mode
      const args = this.conn.minor < 12 ? struct([['u32', flags], ['u32', S_IFREG | mode]]) : struct([['u32', flags], ['u32', S_IFREG | mode], ['u32', this.umask()], ['u32', 0]]);
      const out = await this.call(Op.CREATE, parent, args, name);
      const node = this.remember(mpath, out);
      this.keepCreated(mpath, node.nodeid, out.readBigUInt64LE(entryOutSize(this.conn.minor)));
    } catch (e) {
      if ((e as SyscallError).errno !== ENOSYS) throw e;
      await this.mknod(mpath, S_IFREG | mode, 0);
    }
  }

  async mknod(mpath: string, mode: number, rdev: number): Promise<void> {
    this.writable();
    const [parent, name] = await this.parentOf(mpath);
    const args = this.conn.minor < 12 ? struct([['u32', mode], ['u32', rdev]]) : struct([['u32', mode], ['u32', rdev], ['u32', this.umask()], ['u32', 0]]);
    this.remember(mpath, await this.call(Op.MKNOD, parent, args, name));
  }

  async mkdir(mpath: string, mode: number): Promise<void> {
    this.writable();
    const [parent, name] = await this.parentOf(mpath);
    this.remember(mpath, await this.call(Op.MKDIR, parent, struct([['u32', mode], ['u32', this.umask()]]), name));
  }

  async symlink(target: string, mpath: string): Promise<void> {
    this.writable();
    const [parent, name] = await this.parentOf(mpath);
    this.remember(mpath, await this.call(Op.SYMLINK, parent, name, cstr(target)));
  }

  async link(from: string, to: string): Promise<void> {
    this.writable();
    const old = await this.node(from);
    const [parent, name] = await this.parentOf(to);
    this.remember(to, await this.call(Op.LINK, parent, struct([['u64', old.nodeid]]), name));
    this.stale(from); // its link count changed
  }

  async unlink(mpath: string): Promise<void> {
    this.writable();
    const [parent, name] = await this.parentOf(mpath);
    await this.call(Op.UNLINK, parent, name);
    this.forget(mpath);
  }

  async rmdir(mpath: string): Promise<void> {
    this.writable();
    const [parent, name] = await this.parentOf(mpath);
    await this.call(Op.RMDIR, parent, name);
    this.forget(mpath);
  }

  async rename(from: string, to: string): Promise<void> {
    this.writable();
    const [oldParent, oldName] = await this.parentOf(from);
    const [newParent, newName] = await this.parentOf(to);
    await this.call(Op.RENAME, oldParent, struct([['u64', newParent]]), oldName, newName);
    this.forget(from);
    this.forget(to);
  }

  async chmod(mpath: string, mode: number): Promise<void> {
    await this.setattr(mpath, FATTR_MODE, { mode });
  }

  async chown(mpath: string, uid: number, gid: number): Promise<void> {
    // -1 leaves an id as it is, as chown(2) says
    await this.setattr(mpath, (uid === -1 ? 0 : FATTR_UID) | (gid === -1 ? 0 : FATTR_GID), { uid, gid });
  }

  async utimens(mpath: string, _atimeMs: number, _mtimeMs: number, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    await this.setattr(mpath, FATTR_ATIME | FATTR_MTIME, { atimeNs, mtimeNs });
  }

  async truncate(mpath: string, size: number): Promise<void> {
    await this.setattr(mpath, FATTR_SIZE, { size });
  }

  async statfs(mpath: string): Promise<VStatFs> {
    const out = await this.call(Op.STATFS, (await this.node(mpath)).nodeid);
    const u64 = (off: number) => Number(out.readBigUInt64LE(off));
    return { type: FUSE_SUPER_MAGIC, blocks: u64(0), bfree: u64(8), bavail: u64(16), files: u64(24), ffree: u64(32), bsize: out.readUInt32LE(40), namelen: out.readUInt32LE(44) };
  }

  async getxattr(mpath: string, name: string): Promise<Buffer> {
    const node = await this.node(mpath);
    let known = node.xattrs?.get(name);
    if (known === undefined) {
      known = await this.call(Op.GETXATTR, node.nodeid, struct([['u32', XATTR_SIZE_MAX], ['u32', 0]]), cstr(name)).catch((e: SyscallError) => {
        if (e.errno === ENOSYS) return ENOTSUP; // as the kernel: a daemon without xattrs has none to give
        if (e.errno === ENODATA) return ENODATA;
        throw e;
      });
      if (this.exclusive) (node.xattrs ??= new Map()).set(name, known);
    }
    if (typeof known === 'number') throw new SyscallError(known);
    return known;
  }

  async listxattr(mpath: string): Promise<string[]> {
    const node = await this.node(mpath);
    const out = await this.call(Op.LISTXATTR, node.nodeid, struct([['u32', XATTR_SIZE_MAX], ['u32', 0]])).catch((e: SyscallError) => {
      if (e.errno === ENOSYS) return Buffer.alloc(0);
      throw e;
    });
    return out.toString().split('\0').filter(Boolean);
  }

  async setxattr(mpath: string, name: string, value: Buffer, flags: number): Promise<void> {
    this.writable();
    const node = await this.node(mpath);
    await this.call(Op.SETXATTR, node.nodeid, struct([['u32', value.length], ['u32', flags]]), cstr(name), value).catch(enosysIsEnotsup);
    this.stale(mpath); // its ctime, and its mode for an access ACL
  }

  async removexattr(mpath: string, name: string): Promise<void> {
    this.writable();
    const node = await this.node(mpath);
    await this.call(Op.REMOVEXATTR, node.nodeid, cstr(name)).catch(enosysIsEnotsup);
    this.stale(mpath);
  }

  /** struct fuse_setattr_in; the reply refreshes the cached attributes */
  private async setattr(
    mpath: string,
    valid: number,
    v: { mode?: number; uid?: number; gid?: number; size?: number; fh?: bigint; atimeNs?: bigint; mtimeNs?: bigint },
  ): Promise<void> {
    this.writable();
    const node = await this.node(mpath);
    const split = (ns = 0n): [bigint, number] => [ns / 1_000_000_000n, Number(ns % 1_000_000_000n)];
    const [as, ans] = split(v.atimeNs);
    const [ms, mns] = split(v.mtimeNs);
    const out = await this.call(
      Op.SETATTR,
      node.nodeid,
      struct([
        ['u32', valid],
        ['u32', 0],
        ['u64', v.fh ?? 0n],
        ['u64', v.size ?? 0],
        ['u64', 0],
        ['u64', as],
        ['u64', ms],
        ['u64', 0],
        ['u32', ans],
        ['u32', mns],
        ['u32', 0],
        ['u32', v.mode ?? 0],
        ['u32', 0],
        ['u32', v.uid ?? 0],
        ['u32', v.gid ?? 0],
        ['u32', 0],
      ]),
    );
    this.stale(mpath); // its other names; xattrs too (a chmod changes an access ACL)
    node.attr = parseAttr(out, 16);
    node.attrValidUntil = this.until(validUntil(out, 0, 8));
  }
}

/** a daemon without xattr changes: the kernel's answer is EOPNOTSUPP */
const enosysIsEnotsup = (e: SyscallError): never => {
  throw e.errno === ENOSYS ? new SyscallError(ENOTSUP) : e;
};

/** Promise.all that waits for every promise even when one fails (then throws the first error). */
async function settleAll<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** struct fuse_read_in (READ, READDIR) */
const readIn = (fh: bigint, offset: bigint, size: number) => struct([['u64', fh], ['u64', offset], ['u32', size], ['u32', 0], ['u64', 0], ['u32', 0], ['u32', 0]]);
/** struct fuse_release_in (RELEASE, RELEASEDIR) */
const releaseIn = (fh: bigint, flags: number) => struct([['u64', fh], ['u32', flags], ['u32', 0], ['u64', 0]]);
