/**
 * The Linux FUSE wire protocol (include/uapi/linux/fuse.h), kernel side: what a request looks
 * like to the daemon reading /dev/fuse and how its replies are laid out. Little-endian, as on
 * x86_64. We speak protocol 7.31 and adapt to older daemons (libfuse 2 stops at 7.19).
 */
export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR = 31;
export const FUSE_ROOT_ID = 1n;

export enum Op {
  LOOKUP = 1,
  FORGET = 2,
  GETATTR = 3,
  SETATTR = 4,
  READLINK = 5,
  SYMLINK = 6,
  MKNOD = 8,
  MKDIR = 9,
  UNLINK = 10,
  RMDIR = 11,
  RENAME = 12,
  LINK = 13,
  OPEN = 14,
  READ = 15,
  WRITE = 16,
  STATFS = 17,
  RELEASE = 18,
  FSYNC = 20,
  SETXATTR = 21,
  GETXATTR = 22,
  LISTXATTR = 23,
  REMOVEXATTR = 24,
  FLUSH = 25,
  INIT = 26,
  OPENDIR = 27,
  READDIR = 28,
  RELEASEDIR = 29,
  ACCESS = 34,
  CREATE = 35,
  DESTROY = 38,
  RENAME2 = 45,
}

/** INIT flags we offer: reads may be issued in parallel, writes may be large. */
export const FUSE_ASYNC_READ = 1 << 0;
export const FUSE_BIG_WRITES = 1 << 5;

/** SETATTR valid bits */
export const FATTR_MODE = 1 << 0;
export const FATTR_UID = 1 << 1;
export const FATTR_GID = 1 << 2;
export const FATTR_SIZE = 1 << 3;
export const FATTR_ATIME = 1 << 4;
export const FATTR_MTIME = 1 << 5;
export const FATTR_FH = 1 << 6;

export const IN_HEADER = 40;
export const OUT_HEADER = 16;

/** struct fuse_in_header */
export function inHeader(len: number, op: Op, unique: bigint, nodeid: bigint, uid: number, gid: number, pid: number): Buffer {
  const b = Buffer.alloc(IN_HEADER);
  b.writeUInt32LE(len, 0);
  b.writeUInt32LE(op, 4);
  b.writeBigUInt64LE(unique, 8);
  b.writeBigUInt64LE(nodeid, 16);
  b.writeUInt32LE(uid >>> 0, 24);
  b.writeUInt32LE(gid >>> 0, 28);
  b.writeUInt32LE(pid >>> 0, 32);
  return b;
}

/** A struct made of little-endian fields, in order: 'u32' | 'u64' | 'i64' values. */
export function struct(fields: Array<['u32' | 'u64', number | bigint]>): Buffer {
  const size = fields.reduce((n, [t]) => n + (t === 'u32' ? 4 : 8), 0);
  const b = Buffer.alloc(size);
  let off = 0;
  for (const [t, v] of fields) {
    if (t === 'u32') b.writeUInt32LE(Number(v) >>> 0, off);
    else b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), off);
    off += t === 'u32' ? 4 : 8;
  }
  return b;
}

/** A NUL-terminated name (names and link targets in requests). */
export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);

/** struct fuse_attr, as the daemon reports a file. */
export interface FuseAttr {
  ino: bigint;
  size: number;
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
}

export function parseAttr(b: Buffer, off: number): FuseAttr {
  const ns = (sec: number, nsec: number) => b.readBigInt64LE(off + sec) * 1_000_000_000n + BigInt(b.readUInt32LE(off + nsec));
  return {
    ino: b.readBigUInt64LE(off),
    size: Number(b.readBigUInt64LE(off + 8)),
    blocks: Number(b.readBigUInt64LE(off + 16)),
    atimeNs: ns(24, 48),
    mtimeNs: ns(32, 52),
    ctimeNs: ns(40, 56),
    mode: b.readUInt32LE(off + 60),
    nlink: b.readUInt32LE(off + 64),
    uid: b.readUInt32LE(off + 68),
    gid: b.readUInt32LE(off + 72),
    rdev: b.readUInt32LE(off + 76),
  };
}

/** Validity of a cached answer: seconds + nanoseconds from now, in ms since the epoch. */
export const validUntil = (b: Buffer, secOff: number, nsecOff: number): number =>
  Date.now() + Number(b.readBigUInt64LE(secOff)) * 1000 + b.readUInt32LE(nsecOff) / 1e6;

/** struct fuse_entry_out: a looked-up or created node. */
export interface FuseEntry {
  nodeid: bigint;
  entryValidUntil: number;
  attrValidUntil: number;
  attr: FuseAttr;
}

export function parseEntry(b: Buffer, off = 0): FuseEntry {
  return {
    nodeid: b.readBigUInt64LE(off),
    entryValidUntil: validUntil(b, off + 16, off + 32),
    attrValidUntil: validUntil(b, off + 24, off + 36),
    attr: parseAttr(b, off + 40),
  };
}
/** sizeof(struct fuse_entry_out) for a daemon speaking minor (before 7.9 the attr was shorter) */
export const entryOutSize = (minor: number): number => (minor < 9 ? 120 : 128);

/** struct fuse_dirent records of a READDIR reply */
export function parseDirents(b: Buffer): Array<{ name: string; type: number; off: bigint }> {
  const out: Array<{ name: string; type: number; off: bigint }> = [];
  for (let p = 0; p + 24 <= b.length; ) {
    const namelen = b.readUInt32LE(p + 16);
    out.push({ off: b.readBigUInt64LE(p + 8), type: b.readUInt32LE(p + 20), name: b.toString('utf8', p + 24, p + 24 + namelen) });
    p += (24 + namelen + 7) & ~7;
  }
  return out;
}
