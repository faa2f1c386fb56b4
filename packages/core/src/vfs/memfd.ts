/** Anonymous in-memory files (memfd_create), the supervisor's way to hand content to processes. */
import fs from 'node:fs';
import { native } from '../native.js';
import { SyscallError } from '../syscall.js';
import { errnoName } from '../errno.js';
import { syscallNumber } from '../syscalls/x86_64.js';

const MFD_CLOEXEC = 1;

/** A close-on-exec memfd holding content (or its pieces in order), its offset at 0: the supervisor's fd (SyscallError if none). */
export function memfdWith(name: string, content: Buffer | Buffer[] | string): number {
  const fd = native.syscall(syscallNumber('memfd_create'), name, MFD_CLOEXEC);
  if (fd < 0) throw new SyscallError(errnoName(-fd));
  try {
    const pieces = typeof content === 'string' ? [Buffer.from(content)] : Array.isArray(content) ? content : [content];
    // writev takes at most IOV_MAX (1024) pieces at a time
    for (let i = 0, at = 0; i < pieces.length; i += 1024) at += fs.writevSync(fd, pieces.slice(i, i + 1024), at);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}
