/**
 * A virtual file system: a mount whose files are not host files but the module's own (a disk
 * image read by a file-system implementation, an in-memory tree...). Paths are mount-relative
 * (`/` = the mount point). Methods throw SyscallError('ENOENT'...) to fail a call; a missing
 * optional method makes the calls that need it fail with EROFS (changes) or ENOTSUP.
 *
 * An opened file is given to the process as a real fd holding the content (a memfd: read,
 * write, mmap, sendfile and poll stay in the kernel); once the process has closed it for good
 * (every dup, fork and mapping gone), the new content is handed back with write().
 */
import type { DirEntry } from '../families/path.js';

/** What stat(2) shows of a file. Times in ms since the epoch. */
export interface VStat {
  /** type and permission bits (S_IFREG | 0o644...) */
  mode: number;
  size: number;
  ino?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  /** device number of a char/block device file */
  rdev?: number;
  atimeMs?: number;
  mtimeMs?: number;
  ctimeMs?: number;
  /** exact times in ns since the epoch, when the module has them (they win over the ms) */
  atimeNs?: bigint;
  mtimeNs?: bigint;
  ctimeNs?: bigint;
  /** 512-byte blocks allocated (default: the size rounded up) */
  blocks?: number;
}

/** What statfs(2) shows of the file system. */
export interface VStatFs {
  type: number;
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namelen?: number;
}

/** A module may answer at once or later (a FUSE daemon replies when it replies). */
export type MaybePromise<T> = T | Promise<T>;

export interface VirtualFs {
  /** mounted read-only: opening a file for writing fails with EROFS, as every change does */
  readonly readOnly?: boolean;
  /** metadata of mpath (not following a final symlink), or null when it does not exist */
  lstat(mpath: string): MaybePromise<VStat | null>;
  /**
   * the file type of mpath (mode & S_IFMT), or null when it does not exist: what resolving a
   * path needs, for a module that knows it cheaper than a whole lstat (a cached lookup)
   */
  kind?(mpath: string): MaybePromise<number | null>;
  readlink(mpath: string): MaybePromise<string>;
  readdir(mpath: string): MaybePromise<DirEntry[]>;
  /** the whole content of a regular file (at open), or its pieces in order */
  read(mpath: string): MaybePromise<Buffer | Buffer[]>;
  /** the content after the file was changed through an fd (when the process is done with it); absent: opening a file to change it fails with EROFS */
  write?(mpath: string, data: Buffer): MaybePromise<void>;
  /** makes an empty regular file (open with O_CREAT) */
  create?(mpath: string, mode: number): MaybePromise<void>;
  mkdir?(mpath: string, mode: number): MaybePromise<void>;
  /** makes a device, fifo or socket node (mode has the type bits) */
  mknod?(mpath: string, mode: number, rdev: number): MaybePromise<void>;
  /**
   * opens a device file of the module: returns a host fd (a socket to a daemon, say) that the
   * process gets as this file (the core closes the module's copy afterwards), or a DeviceFile
   * whose calls the core serves (families/devices.ts)
   */
  openDevice?(mpath: string, flags: number): MaybePromise<number | DeviceFile>;
  rmdir?(mpath: string): MaybePromise<void>;
  unlink?(mpath: string): MaybePromise<void>;
  rename?(from: string, to: string): MaybePromise<void>;
  link?(from: string, to: string): MaybePromise<void>;
  symlink?(target: string, mpath: string): MaybePromise<void>;
  chmod?(mpath: string, mode: number): MaybePromise<void>;
  chown?(mpath: string, uid: number, gid: number): MaybePromise<void>;
  /** new times in ms, and exactly in ns since the epoch */
  utimens?(mpath: string, atimeMs: number, mtimeMs: number, atimeNs: bigint, mtimeNs: bigint): MaybePromise<void>;
  truncate?(mpath: string, size: number): MaybePromise<void>;
  statfs?(mpath: string): MaybePromise<VStatFs>;
  /** an extended attribute's value (throw ENODATA when it has none); without the method, none */
  getxattr?(mpath: string, name: string): MaybePromise<Buffer>;
  listxattr?(mpath: string): MaybePromise<string[]>;
  /** flags: XATTR_CREATE (1), XATTR_REPLACE (2) */
  setxattr?(mpath: string, name: string, value: Buffer, flags: number): MaybePromise<void>;
  removexattr?(mpath: string, name: string): MaybePromise<void>;
}

/** The argument of an ioctl: its address in the caller, and the caller's memory there. */
export interface IoctlArg {
  readonly address: bigint;
  /** len bytes at the address (EFAULT when unreadable) */
  read(len: number): Buffer;
  write(data: Buffer): void;
}

/** `size` bytes of host fd `fd` from `offset`. */
export interface HostRange {
  readonly fd: number;
  readonly offset: number;
  readonly size: number;
}

/** A file a module opened for its own I/O (the source of a mount: ModuleApi.openSource). */
export interface SourceFile extends HostRange {
  readonly readOnly: boolean;
  close(): void;
}

/**
 * An open device whose bytes are a range of a host file: `size` bytes of host fd `fd` from
 * `offset` (a disk image, a partition of it, a RAM disk's memfd). The process gets a
 * placeholder fd; the core moves its reads and writes between that range and the process'
 * memory, clipped to the range as the kernel clips a block device (read: EOF at the end;
 * write: ENOSPC), and passes its ioctls to the module.
 */
export interface DeviceFile extends HostRange {
  /** writes fail with EPERM (a block device set read-only with BLKROSET) */
  readonly readOnly: boolean;
  /** answers an ioctl (throw SyscallError('ENOTTY') for a request the device does not know) */
  ioctl?(request: number, arg: IoctlArg): MaybePromise<number>;
  /** the last fd of this open is closed */
  close?(): void;
}

export const isVirtualFs = (s: unknown): s is VirtualFs => typeof (s as VirtualFs | undefined)?.lstat === 'function';
