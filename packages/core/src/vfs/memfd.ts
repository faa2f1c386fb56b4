/** Anonymous in-memory files (memfd_create), the supervisor's way to hand content to processes. */
import fs from 'node:fs';
import { native } from '../native.js';
import { SyscallError } from '../syscall.js';
import { errnoName } from '../errno.js';
import { syscallNumber } from '../syscalls/x86_64.js';

const MFD_CLOEXEC = 1;

/** A close-on-exec memfd holding content, its offset at 0: the supervisor's fd (SyscallError if none). */
export function memfdWith(name: string, content: Buffer | string): number {
  const fd = native.syscall(syscallNumber('memfd_create'), name, MFD_CLOEXEC);
  if (fd < 0) throw new SyscallError(errnoName(-fd));
  try {
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    fs.writeSync(fd, data, 0, data.length, 0);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}
