/**
 * vufusememfs: an in-memory file system written as a fuse-native operations table, the example
 * of packages/vufuse/README.md. `vumount -t vufusememfs none TARGET`; its content is lost at
 * umount. Inodes are shared by hard links; the table of open files maps fds to inodes, so an
 * unlinked file stays readable through its fd.
 */
import type { FuseOps, FuseStat } from '../ops.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const E = { ENOENT: -2, EBADF: -9, EEXIST: -17, ENOTDIR: -20, EISDIR: -21, EINVAL: -22, ENOTEMPTY: -39, EPERM: -1 };

interface Inode {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
  data: Buffer;
  /** a directory's entries */
  entries?: Map<string, Inode>;
  /** a symlink's target */
  target?: string;
}

export default function memfs(): FuseOps {
  let lastIno = 0;
  const make = (mode: number, uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0): Inode => {
    const now = new Date();
    const dir = (mode & S_IFMT) === S_IFDIR;
    return { ino: ++lastIno, mode, uid, gid, nlink: dir ? 2 : 1, atime: now, mtime: now, ctime: now, data: Buffer.alloc(0), entries: dir ? new Map() : undefined };
  };
  const root = make(S_IFDIR | 0o755);
  const fds = new Map<number, Inode>();
  let lastFd = 0;

  /** the inode at path, or an errno */
  const lookup = (path: string): Inode | number => {
    let node = root;
    for (const name of path.split('/').filter(Boolean)) {
      if (!node.entries) return E.ENOTDIR;
      const next = node.entries.get(name);
      if (!next) return E.ENOENT;
      node = next;
    }
    return node;
  };
  /** the directory holding path and the last name, or an errno */
  const parentOf = (path: string): [Inode, string] | number => {
    const cut = path.lastIndexOf('/');
    const dir = lookup(path.slice(0, cut) || '/');
    if (typeof dir === 'number') return dir;
    return dir.entries ? [dir, path.slice(cut + 1)] : E.ENOTDIR;
  };
  const touch = (node: Inode) => (node.mtime = node.ctime = new Date());
  /** adds a new inode at path */
  const add = (path: string, node: Inode): number => {
    const p = parentOf(path);
    if (typeof p === 'number') return p;
    const [dir, name] = p;
    if (dir.entries!.has(name)) return E.EEXIST;
    dir.entries!.set(name, node);
    if (node.entries) dir.nlink++;
    touch(dir);
    return 0;
  };
  /** removes the entry at path (a directory only when empty) */
  const remove = (path: string, wantDir: boolean): number => {
    const p = parentOf(path);
    if (typeof p === 'number') return p;
    const [dir, name] = p;
    const node = dir.entries!.get(name);
    if (!node) return E.ENOENT;
    if (!!node.entries !== wantDir) return wantDir ? E.ENOTDIR : E.EISDIR;
    if (node.entries?.size) return E.ENOTEMPTY;
    dir.entries!.delete(name);
    if (node.entries) dir.nlink--;
    node.nlink -= node.entries ? 2 : 1;
    node.ctime = new Date();
    touch(dir);
    return 0;
  };
  /** runs fn on the inode at path, or calls back its errno */
  const at = (path: string, cb: (err: number) => void, fn: (node: Inode) => number | void) => {
    const node = lookup(path);
    cb(typeof node === 'number' ? node : (fn(node) ?? 0));
  };
  const opened = (node: Inode) => {
    fds.set(++lastFd, node);
    return lastFd;
  };
  const resize = (node: Inode, size: number) => {
    const data = Buffer.alloc(size);
    node.data.copy(data, 0, 0, size);
    node.data = data;
    touch(node);
  };
  const stat = (n: Inode): FuseStat => ({ ...n, size: n.target !== undefined ? Buffer.byteLength(n.target) : n.entries ? 4096 : n.data.length });

  return {
    getattr: (path, cb) => {
      const node = lookup(path);
      if (typeof node === 'number') cb(node);
      else cb(0, stat(node));
    },
    readdir: (path, cb) => {
      const node = lookup(path);
      if (typeof node === 'number') return cb(node);
      if (!node.entries) return cb(E.ENOTDIR);
      cb(0, [...node.entries.keys()], [...node.entries.values()].map(stat));
    },
    open: (path, flags, cb) => {
      const node = lookup(path);
      if (typeof node === 'number') cb(node);
      else cb(0, opened(node));
    },
    create: (path, mode, cb) => {
      const node = make(S_IFREG | (mode & 0o7777));
      const e = add(path, node);
      if (e) cb(e);
      else cb(0, opened(node));
    },
    read: (path, fd, buf, len, pos, cb) => {
      const node = fds.get(fd);
      if (!node) return cb(E.EBADF);
      cb(node.data.copy(buf, 0, pos, Math.min(pos + len, node.data.length)));
    },
    write: (path, fd, buf, len, pos, cb) => {
      const node = fds.get(fd);
      if (!node) return cb(E.EBADF);
      if (pos + len > node.data.length) resize(node, pos + len);
      buf.copy(node.data, pos, 0, len);
      touch(node);
      cb(len);
    },
    ftruncate: (path, fd, size, cb) => {
      const node = fds.get(fd);
      if (!node) return cb(E.EBADF);
      resize(node, size);
      cb(0);
    },
    release: (path, fd, cb) => cb(fds.delete(fd) ? 0 : E.EBADF),
    truncate: (path, size, cb) => at(path, cb, (node) => (node.entries ? E.EISDIR : resize(node, size))),
    mkdir: (path, mode, cb) => cb(add(path, make(S_IFDIR | (mode & 0o7777)))),
    rmdir: (path, cb) => cb(remove(path, true)),
    unlink: (path, cb) => cb(remove(path, false)),
    symlink: (target, path, cb) => cb(add(path, Object.assign(make(S_IFLNK | 0o777), { target }))),
    readlink: (path, cb) => {
      const node = lookup(path);
      if (typeof node === 'number') cb(node);
      else if (node.target === undefined) cb(E.EINVAL);
      else cb(0, node.target);
    },
    link: (from, to, cb) =>
      at(from, cb, (node) => {
        if (node.entries) return E.EPERM;
        const e = add(to, node);
        if (!e) node.nlink++;
        return e;
      }),
    rename: (from, to, cb) =>
      at(from, cb, (node) => {
        const target = lookup(to);
        if (typeof target !== 'number') {
          if (target === node) return 0;
          if (!!target.entries !== !!node.entries) return node.entries ? E.ENOTDIR : E.EISDIR;
          const e = remove(to, !!node.entries);
          if (e) return e;
        }
        const e = add(to, node);
        if (e) return e;
        // the new entry first, then the old one goes (its link count unchanged)
        const [dir, name] = parentOf(from) as [Inode, string];
        dir.entries!.delete(name);
        if (node.entries) dir.nlink--;
        touch(dir);
      }),
    chmod: (path, mode, cb) =>
      at(path, cb, (node) => {
        node.mode = (node.mode & S_IFMT) | (mode & 0o7777);
        node.ctime = new Date();
      }),
    chown: (path, uid, gid, cb) =>
      at(path, cb, (node) => {
        // -1: unchanged (however the caller's 32 bits were read)
        if ((uid | 0) !== -1) node.uid = uid;
        if ((gid | 0) !== -1) node.gid = gid;
        node.ctime = new Date();
      }),
    utimens: (path, atime, mtime, cb) =>
      at(path, cb, (node) => {
        Object.assign(node, { atime, mtime, ctime: new Date() });
      }),
    statfs: (path, cb) => cb(0, { bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: lastIno, ffree: 0, namemax: 255 }),
  };
}
