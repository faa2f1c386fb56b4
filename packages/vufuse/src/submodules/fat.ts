/**
 * vufusefat: FAT12/16/32 images, read-write, with ChaN's FatFs (npm js-fatfs, WebAssembly).
 * `vumount -t vufusefat [-o ro] IMAGE TARGET`. Sectors go straight to the image file and FatFs
 * writes its FAT, FSInfo and directory entries back at the end of every operation, so the image
 * is consistent whenever no operation is running (at umount, at the end of the view).
 * As Linux' vfat: files and directories show mode 0755 (0555 with the read-only attribute,
 * which chmod sets and clears), owned by umvu's user; symlinks, hard links and other owners are
 * refused with EPERM; times have FAT's 2-second resolution, in local time.
 */
import fs from 'node:fs';
import * as FatFs from 'js-fatfs';
import { linux, type SourceFile } from '@vuos/core';
import type { FuseOps, FuseStat } from '../ops.js';
import type { MountOptions } from '../submodule.js';

const { S_IFDIR, S_IFREG } = linux;
/**
 * Fields of FatFs' structures as js-fatfs builds them (R0.15, 32-bit sizes, LFN, no exFAT):
 * DIR's read offset, cluster and sector; FATFS' window sector and window.
 */
const DIR_DPTR = 16;
const DIR_CLUST = 20;
const DIR_SECT = 24;
const FATFS_WINSECT = 52;
const FATFS_WIN = 56;
/** bytes of zeros written at a time when a file grows */
const ZERO_CHUNK = 1 << 20;

const ERRNO: Record<number, number> = {
  [FatFs.FR_DISK_ERR]: 5, // EIO
  [FatFs.FR_INT_ERR]: 5,
  [FatFs.FR_NOT_READY]: 5,
  [FatFs.FR_NO_FILE]: 2, // ENOENT
  [FatFs.FR_NO_PATH]: 2,
  [FatFs.FR_INVALID_NAME]: 22, // EINVAL
  [FatFs.FR_INVALID_DRIVE]: 22, // a ':' in a name
  [FatFs.FR_DENIED]: 28, // ENOSPC: a full directory or volume (read-only files are handled before)
  [FatFs.FR_EXIST]: 17, // EEXIST
  [FatFs.FR_INVALID_OBJECT]: 9, // EBADF
  [FatFs.FR_WRITE_PROTECTED]: 30, // EROFS
  [FatFs.FR_NO_FILESYSTEM]: 22,
  [FatFs.FR_LOCKED]: 16, // EBUSY
  [FatFs.FR_NOT_ENOUGH_CORE]: 12, // ENOMEM
  [FatFs.FR_TOO_MANY_OPEN_FILES]: 24, // EMFILE
  [FatFs.FR_INVALID_PARAMETER]: 22,
};
const ENOENT = -2;
const EPERM = -1;
const ENOTDIR = -20;
const EISDIR = -21;
const ENOTEMPTY = -39;

/** A FatFs result as a fuse-native error: 0 or -errno. */
const err = (fr: number) => (fr === FatFs.FR_OK ? 0 : -(ERRNO[fr] ?? 5));

class FatError extends Error {
  constructor(readonly errno: number) {
    super(`FAT: error ${errno}`);
  }
}
/** FatFs result -> throw (caught by the op wrapper) */
const check = (fr: number) => {
  if (fr !== FatFs.FR_OK) throw new FatError(-err(fr));
};
/** what a thrown error tells the callback: its errno, EIO for anything else (a WebAssembly trap...) */
const errnoOf = (e: unknown) => (e instanceof FatError ? -e.errno : -5);

/** Local time (as FAT keeps it) <-> ms since the epoch. */
function fatTime(date: number, time: number): number {
  return new Date(1980 + (date >> 9), ((date >> 5) & 15) - 1, date & 31, time >> 11, (time >> 5) & 63, (time & 31) * 2).getTime();
}
function fatDate(ms: number): [number, number] {
  const d = new Date(Math.min(Math.max(ms, new Date(1980, 0, 1).getTime()), new Date(2107, 11, 31, 23, 59, 58).getTime()));
  return [((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(), (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1)];
}

/** The volume's layout, from the boot sector (an image without partitions). */
function geometry(image: SourceFile): { ss: number; clusters: number; perCluster: number; dataStart: number } {
  const boot = Buffer.alloc(512);
  fs.readSync(image.fd, boot, 0, 512, image.offset);
  const ss = boot.readUInt16LE(11);
  if (![512, 1024, 2048, 4096].includes(ss) || !boot[13]) return { ss: 512, clusters: 0, perCluster: 1, dataStart: 0 };
  const total = boot.readUInt16LE(19) || boot.readUInt32LE(32);
  const fatSize = boot.readUInt16LE(22) || boot.readUInt32LE(36);
  const dataStart = boot.readUInt16LE(14) + boot[16] * fatSize + Math.ceil((boot.readUInt16LE(17) * 32) / ss);
  return { ss, clusters: Math.max(0, Math.floor((total - dataStart) / boot[13])), perCluster: boot[13], dataStart };
}

export default async function fat(_source: string, options: MountOptions): Promise<FuseOps> {
  const image = await options.openSource(); // (a partition of a vudev disk, too)
  const { ss, clusters, perCluster, dataStart } = geometry(image);
  const clusterBytes = ss * perCluster;
  const sectors = Math.floor(image.size / ss);
  // the disk FatFs sees: the image file; a failure (a truncated image) is a disk error
  // (sectors past the source's end are an error: a partition ends where the next one starts)
  const io = (what: () => number, bytes: number, sector: number, count: number) => {
    if (sector + count > sectors) return FatFs.RES_PARERR;
    try {
      return what() === bytes ? FatFs.RES_OK : FatFs.RES_ERROR;
    } catch {
      return FatFs.RES_ERROR;
    }
  };
  const ff = await FatFs.create({
    diskio: {
      initialize: () => 0,
      status: () => 0,
      read: (ff, _drv, buff, sector, count) => io(() => fs.readSync(image.fd, ff.HEAPU8, buff, count * ss, image.offset + sector * ss), count * ss, sector, count),
      write: (ff, _drv, buff, sector, count) => io(() => fs.writeSync(image.fd, ff.HEAPU8, buff, count * ss, image.offset + sector * ss), count * ss, sector, count),
      ioctl: (ff, _drv, cmd, buff) => {
        if (cmd === FatFs.GET_SECTOR_COUNT) ff.setValue(buff, sectors, 'i32');
        else if (cmd === FatFs.GET_SECTOR_SIZE) ff.setValue(buff, ss, 'i16');
        else if (cmd === FatFs.GET_BLOCK_SIZE) ff.setValue(buff, 1, 'i32');
        return FatFs.RES_OK; // CTRL_SYNC: written through already
      },
    },
  });
  const volume = ff.malloc(FatFs.sizeof_FATFS);
  const fr = ff.f_mount(volume, '', 1);
  if (fr !== FatFs.FR_OK) {
    image.close();
    throw Object.assign(new Error(fr === FatFs.FR_NO_FILESYSTEM ? 'no FAT file system' : `cannot mount (FatFs error ${fr})`), { errno: 22 });
  }
  const info = ff.malloc(FatFs.sizeof_FILINFO);
  const word = ff.malloc(4);
  /** where f_getfree puts its FATFS pointer */
  const volumePtr = ff.malloc(4);
  /** scratch memory in FatFs' heap for the data of reads and writes */
  let scratch = { ptr: 0, size: 0 };
  const scratchOf = (size: number) => {
    if (size > scratch.size) {
      if (scratch.ptr) ff.free(scratch.ptr);
      scratch = { ptr: ff.malloc(size), size };
      if (!scratch.ptr) throw new FatError(12);
    }
    return scratch.ptr;
  };
  const files = new Map<number, number>();
  let nextFd = 1;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;

  const statOf = (): FuseStat => {
    const attr = ff.FILINFO_fattrib(info);
    const dir = (attr & FatFs.AM_DIR) !== 0;
    const t = new Date(fatTime(ff.FILINFO_fdate(info), ff.FILINFO_ftime(info)));
    const perm = attr & FatFs.AM_RDO ? 0o555 : 0o755;
    return { mode: (dir ? S_IFDIR : S_IFREG) | perm, size: dir ? 0 : ff.FILINFO_fsize(info), nlink: dir ? 2 : 1, uid, gid, atime: t, mtime: t, ctime: t };
  };
  /** f_stat into info; false when path does not exist (or cannot be a FAT name) */
  const exists = (path: string) => {
    const fr = ff.f_stat(path, info);
    if (fr === FatFs.FR_NO_FILE || fr === FatFs.FR_NO_PATH || fr === FatFs.FR_INVALID_NAME || fr === FatFs.FR_INVALID_DRIVE) return false;
    check(fr);
    return true;
  };
  const attrOf = (path: string) => (exists(path) ? ff.FILINFO_fattrib(info) : 0);
  /** FatFs refuses to write or delete a read-only entry; the view checked permissions already */
  const writable = <T>(path: string, fn: () => T): T => {
    const ro = path !== '/' && attrOf(path) & FatFs.AM_RDO;
    if (ro && setReadOnly(path, false)) throw new FatError(5);
    try {
      return fn();
    } finally {
      if (ro && exists(path)) setReadOnly(path, true);
    }
  };
  const openFile = (path: string, mode: number): number => {
    const fp = ff.malloc(FatFs.sizeof_FIL);
    const fr = mode & FatFs.FA_WRITE ? writable(path, () => ff.f_open(fp, path, mode)) : ff.f_open(fp, path, mode);
    if (fr !== FatFs.FR_OK) {
      ff.free(fp);
      check(fr);
    }
    return fp;
  };
  const closeFile = (fp: number) => {
    const fr = ff.f_close(fp);
    ff.free(fp);
    check(fr);
  };
  const fileOf = (fd: number) => {
    const fp = files.get(fd);
    if (!fp) throw new FatError(9);
    return fp;
  };
  const remember = (fp: number) => {
    files.set(nextFd, fp);
    return nextFd++;
  };
  /** size the open file fp to size: cut, or extended with zeros (FatFs would leave garbage) */
  const resize = (fp: number, size: number) => {
    const cur = ff.f_size(fp);
    if (size <= cur) {
      check(ff.f_lseek(fp, size));
      check(ff.f_truncate(fp));
      return;
    }
    check(ff.f_lseek(fp, cur));
    for (let left = size - cur; left > 0; ) {
      const n = Math.min(left, ZERO_CHUNK);
      const ptr = scratchOf(n); // first: it may grow the heap, and HEAPU8 with it
      ff.HEAPU8.fill(0, ptr, ptr + n);
      check(ff.f_write(fp, ptr, n, word));
      if (ff.getValue(word, 'i32') !== n) throw new FatError(28);
      left -= n;
    }
  };
  /** unlink of an empty directory or a file, as FatFs does both */
  const remove = (path: string, dir: boolean): number => {
    if (!exists(path)) return ENOENT;
    const isDir = (ff.FILINFO_fattrib(info) & FatFs.AM_DIR) !== 0;
    if (isDir !== dir) return dir ? ENOTDIR : EISDIR;
    const fr = writable(path, () => ff.f_unlink(path));
    return dir && fr === FatFs.FR_DENIED ? ENOTEMPTY : err(fr);
  };

  /**
   * js-fatfs has neither f_utime nor f_chmod: fn changes the 32-byte directory entry of path in
   * place. f_readdir of its parent finds it and leaves the read offset just past it; the sector
   * it is in follows from where the directory read stands (or stood, when it ended a cluster).
   */
  const patchEntry = (path: string, fn: (entry: Buffer) => void): number => {
    const cut = path.lastIndexOf('/');
    const name = path.slice(cut + 1).toLowerCase();
    const dir = ff.malloc(FatFs.sizeof_DIR);
    try {
      check(ff.f_opendir(dir, path.slice(0, cut) || '/'));
      let clust = ff.getValue(dir + DIR_CLUST, 'i32') >>> 0;
      for (;;) {
        check(ff.f_readdir(dir, info));
        const found = ff.FILINFO_fname(info);
        if (!found) return ENOENT;
        const end = ff.getValue(dir + DIR_DPTR, 'i32') >>> 0;
        const next = ff.getValue(dir + DIR_SECT, 'i32') >>> 0;
        const before = clust;
        clust = ff.getValue(dir + DIR_CLUST, 'i32') >>> 0;
        if (found.toLowerCase() !== name && ff.FILINFO_altname(info).toLowerCase() !== name) continue;
        const crossed = end % clusterBytes === 0 && before !== clust && before !== 0;
        const sector = end % ss ? next : crossed ? dataStart + (before - 1) * perCluster - 1 : next - 1;
        const buf = Buffer.alloc(ss);
        if (sector >= sectors || fs.readSync(image.fd, buf, 0, ss, image.offset + sector * ss) !== ss) return -5;
        const entry = buf.subarray((end - 32) % ss, ((end - 32) % ss) + 32);
        // it must be the entry read: its attributes and size
        if ((entry[11] & 0x37) !== ff.FILINFO_fattrib(info) || entry.readUInt32LE(28) !== ff.FILINFO_fsize(info)) return -5;
        fn(entry);
        fs.writeSync(image.fd, buf, 0, ss, image.offset + sector * ss);
        // FatFs' window may hold that sector: it must not write the old one back
        if (ff.getValue(volume + FATFS_WINSECT, 'i32') >>> 0 === sector) ff.HEAPU8.set(buf, volume + FATFS_WIN);
        return 0;
      }
    } finally {
      ff.f_closedir(dir);
      ff.free(dir);
    }
  };
  const setReadOnly = (path: string, on: boolean) =>
    patchEntry(path, (entry) => {
      entry[11] = on ? entry[11] | FatFs.AM_RDO : entry[11] & ~FatFs.AM_RDO;
    });

  /** wraps an op that calls back an errno only: FatFs errors (and anything thrown) become it */
  const op =
    <A extends unknown[]>(fn: (...args: A) => number | void) =>
    (...args: unknown[]): void => {
      const cb = args.pop() as (e: number) => void;
      try {
        cb(fn(...(args as A)) ?? 0);
      } catch (e) {
        cb(errnoOf(e));
      }
    };

  const ops: FuseOps = {
    getattr(path, cb) {
      try {
        if (path === '/') return cb(0, { mode: S_IFDIR | 0o755, size: 0, nlink: 2, uid, gid, mtime: 0 });
        if (!exists(path)) return cb(ENOENT);
        cb(0, statOf());
      } catch (e) {
        cb(errnoOf(e));
      }
    },
    readdir(path, cb) {
      const dir = ff.malloc(FatFs.sizeof_DIR);
      try {
        check(ff.f_opendir(dir, path));
        const names: string[] = [];
        const stats: FuseStat[] = [];
        try {
          for (;;) {
            check(ff.f_readdir(dir, info));
            const name = ff.FILINFO_fname(info);
            if (!name) break;
            names.push(name);
            stats.push(statOf());
          }
        } finally {
          ff.f_closedir(dir);
        }
        cb(0, names, stats);
      } catch (e) {
        cb(errnoOf(e));
      } finally {
        ff.free(dir);
      }
    },
    open(path, flags, cb) {
      try {
        const acc = flags & 3;
        cb(0, remember(openFile(path, acc === 0 ? FatFs.FA_READ : acc === 1 ? FatFs.FA_WRITE : FatFs.FA_READ | FatFs.FA_WRITE)));
      } catch (e) {
        cb(errnoOf(e));
      }
    },
    create(path, mode, cb) {
      try {
        cb(0, remember(openFile(path, FatFs.FA_CREATE_NEW | FatFs.FA_READ | FatFs.FA_WRITE)));
      } catch (e) {
        cb(errnoOf(e));
      }
    },
    read(path, fd, buf, len, pos, cb) {
      try {
        const fp = fileOf(fd);
        check(ff.f_lseek(fp, pos));
        const ptr = scratchOf(len);
        check(ff.f_read(fp, ptr, len, word));
        const n = ff.getValue(word, 'i32');
        buf.set(ff.HEAPU8.subarray(ptr, ptr + n));
        cb(n);
      } catch (e) {
        cb(errnoOf(e));
      }
    },
    write(path, fd, buf, len, pos, cb) {
      try {
        const fp = fileOf(fd);
        if (pos > ff.f_size(fp)) resize(fp, pos);
        const ptr = scratchOf(len);
        ff.HEAPU8.set(buf.subarray(0, len), ptr);
        check(ff.f_lseek(fp, pos));
        check(ff.f_write(fp, ptr, len, word));
        cb(ff.getValue(word, 'i32'));
      } catch (e) {
        cb(errnoOf(e));
      }
    },
    release: op((path: string, fd: number) => {
      const fp = fileOf(fd);
      files.delete(fd);
      closeFile(fp);
    }),
    flush: op((path: string, fd: number) => check(ff.f_sync(fileOf(fd)))),
    fsync: op((path: string, datasync: boolean, fd: number) => check(ff.f_sync(fileOf(fd)))),
    ftruncate: op((path: string, fd: number, size: number) => resize(fileOf(fd), size)),
    truncate: op((path: string, size: number) => {
      const fp = openFile(path, FatFs.FA_WRITE);
      try {
        resize(fp, size);
      } finally {
        closeFile(fp);
      }
    }),
    mkdir: op((path: string) => err(ff.f_mkdir(path))),
    rmdir: op((path: string) => remove(path, true)),
    unlink: op((path: string) => remove(path, false)),
    rename: op((from: string, to: string) => {
      // FatFs never replaces: the target goes first (a new case of the same name is no target)
      const fr = ff.f_rename(from, to);
      if (fr !== FatFs.FR_EXIST) return err(fr);
      if (!exists(from)) return ENOENT;
      // a directory over a file: ENOTDIR, a file over a directory: EISDIR, as rename(2)
      return remove(to, (ff.FILINFO_fattrib(info) & FatFs.AM_DIR) !== 0) || err(ff.f_rename(from, to));
    }),
    chmod: op((path: string, mode: number) => (path === '/' ? 0 : setReadOnly(path, !(mode & 0o222)))),
    chown: op((path: string, u: number, g: number) => ([-1, 0xffffffff, uid].includes(u) && [-1, 0xffffffff, gid].includes(g) ? 0 : EPERM)),
    utimens: op((path: string, atime: Date, mtime: Date) => {
      if (path === '/') return 0;
      const [date, time] = fatDate(mtime.getTime());
      return patchEntry(path, (entry) => {
        entry.writeUInt16LE(time, 22);
        entry.writeUInt16LE(date, 24);
      });
    }),
    symlink: op(() => EPERM),
    link: op(() => EPERM),
    mknod: op(() => EPERM),
    statfs(path, cb) {
      try {
        check(ff.f_getfree('', word, volumePtr));
        const free = ff.getValue(word, 'i32') >>> 0;
        cb(0, { bsize: clusterBytes, frsize: clusterBytes, blocks: clusters, bfree: free, bavail: free, files: 0, ffree: 0, namemax: 255 });
      } catch (e) {
        cb(errnoOf(e));
      }
    },
    destroy: op(() => {
      ff.f_unmount('');
      if (!options.readOnly) fs.fdatasyncSync(image.fd);
      image.close();
    }),
  };
  return ops;
}
