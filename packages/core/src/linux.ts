/** The kernel's flag and mode constants (x86_64 values) that the syscall families share. */

// openat(2) flags
export const O_ACCMODE = 3;
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_WRONLY = 1;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
/** O_TMPFILE without its O_DIRECTORY: the bit that makes an unnamed file */
export const O_TMPFILE_BIT = 0o20000000;

// *at(2) calls
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_EMPTY_PATH = 0x1000;
export const AT_EACCESS = 0x200; // faccessat2: the effective (file-system) ids

// access(2) modes
export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;

// renameat2(2)
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

// file types in st_mode
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
// mode bits: set-user-ID, set-group-ID, group execute
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_IXGRP = 0o010;
/** mount(2) flag: read-only */
export const MS_RDONLY = 1;

// clock ids (clock_gettime(2))
export const CLOCK_REALTIME = 0;
export const CLOCK_REALTIME_COARSE = 5;
