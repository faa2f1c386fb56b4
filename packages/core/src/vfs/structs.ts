/** The kernel's stat structures (x86_64 layouts) filled from a VStat. */
import type { VStat, VStatFs } from './types.js';
import { S_IFDIR, S_IFMT } from '../linux.js';


/** An inode number stable per path when the module gives none. */
function inoOf(st: VStat, mpathHash: number): number {
  return st.ino ?? mpathHash;
}

export function hashPath(p: string): number {
  let h = 2166136261;
  for (let i = 0; i < p.length; i++) h = Math.imul(h ^ p.charCodeAt(i), 16777619) >>> 0;
  return h || 1;
}

const nlinkOf = (st: VStat) => st.nlink ?? ((st.mode & S_IFMT) === S_IFDIR ? 2 : 1);
/** [seconds, nanoseconds] of a time given in ns (exact) or else in ms */
function timeParts(ms: number | undefined, ns: bigint | undefined): [bigint, number] {
  if (ns !== undefined) {
    const s = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n);
    return [s, Number(ns - s * 1_000_000_000n)];
  }
  const t = ms ?? 0;
  return [BigInt(Math.floor(t / 1000)), Math.min(999999999, Math.floor((((t % 1000) + 1000) % 1000) * 1e6))];
}
const times = (st: VStat): Array<[bigint, number]> => [
  timeParts(st.atimeMs, st.atimeNs),
  timeParts(st.mtimeMs, st.mtimeNs),
  st.ctimeNs !== undefined || st.ctimeMs !== undefined ? timeParts(st.ctimeMs, st.ctimeNs) : timeParts(st.mtimeMs, st.mtimeNs),
];
const blocksOf = (st: VStat) => BigInt(st.blocks ?? Math.ceil(st.size / 512));

/** struct stat (144 bytes): stat, lstat, newfstatat. */
export function structStat(st: VStat, dev: number, pathHash: number): Buffer {
  const b = Buffer.alloc(144);
  b.writeBigUInt64LE(BigInt(dev), 0);
  b.writeBigUInt64LE(BigInt(inoOf(st, pathHash)), 8);
  b.writeBigUInt64LE(BigInt(nlinkOf(st)), 16);
  b.writeUInt32LE(st.mode >>> 0, 24);
  b.writeUInt32LE(st.uid ?? 0, 28);
  b.writeUInt32LE(st.gid ?? 0, 32);
  b.writeBigUInt64LE(BigInt(st.rdev ?? 0), 40);
  b.writeBigInt64LE(BigInt(st.size), 48);
  b.writeBigInt64LE(4096n, 56);
  b.writeBigInt64LE(blocksOf(st), 64);
  times(st).forEach(([sec, nsec], i) => {
    b.writeBigInt64LE(sec, 72 + 16 * i);
    b.writeBigInt64LE(BigInt(nsec), 80 + 16 * i);
  });
  return b;
}

// dev_t as the kernel encodes it: major in bits 8-19, minor in bits 0-7 and 20-31
export const devMajor = (d: number) => (d >>> 8) & 0xfff;
export const devMinor = (d: number) => (d & 0xff) | ((d >>> 12) & 0xfff00);

/** struct statx (256 bytes). */
export function structStatx(st: VStat, dev: number, pathHash: number): Buffer {
  const STATX_BASIC_STATS = 0x7ff;
  const b = Buffer.alloc(256);
  b.writeUInt32LE(STATX_BASIC_STATS, 0);
  b.writeUInt32LE(4096, 4);
  b.writeUInt32LE(nlinkOf(st), 16);
  b.writeUInt32LE(st.uid ?? 0, 20);
  b.writeUInt32LE(st.gid ?? 0, 24);
  b.writeUInt16LE(st.mode & 0xffff, 28);
  b.writeBigUInt64LE(BigInt(inoOf(st, pathHash)), 32);
  b.writeBigUInt64LE(BigInt(st.size), 40);
  b.writeBigUInt64LE(blocksOf(st), 48);
  // atime, btime (left 0: not in the mask), ctime, mtime
  const [atime, mtime, ctime] = times(st);
  for (const [off, [sec, nsec]] of [
    [64, atime],
    [96, ctime],
    [112, mtime],
  ] as const) {
    b.writeBigInt64LE(sec, off);
    b.writeUInt32LE(nsec, off + 8);
  }
  b.writeUInt32LE(devMajor(st.rdev ?? 0), 128);
  b.writeUInt32LE(devMinor(st.rdev ?? 0), 132);
  b.writeUInt32LE(devMajor(dev), 136);
  b.writeUInt32LE(devMinor(dev), 140);
  return b;
}

/** struct statfs (120 bytes). */
export function structStatfs(fs: VStatFs): Buffer {
  const b = Buffer.alloc(120);
  b.writeBigInt64LE(BigInt(fs.type), 0);
  b.writeBigInt64LE(BigInt(fs.bsize), 8);
  [fs.blocks, fs.bfree, fs.bavail, fs.files, fs.ffree].forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 16 + 8 * i));
  b.writeBigInt64LE(BigInt(fs.namelen ?? 255), 64);
  b.writeBigInt64LE(BigInt(fs.bsize), 72);
  return b;
}
