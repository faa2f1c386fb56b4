/**
 * The base of a virtual file system made only of special files (device nodes, network stacks):
 * no symlink to read, no directory to list, no content to load at open (devices are opened with
 * openDevice).
 */
import { SyscallError } from '../syscall.js';
import type { DirEntry } from '../families/path.js';
import type { VirtualFs } from './types.js';

export abstract class SpecialFiles implements Pick<VirtualFs, 'readlink' | 'readdir' | 'read'> {
  readlink(): string {
    throw new SyscallError('EINVAL');
  }
  readdir(): DirEntry[] {
    throw new SyscallError('ENOTDIR');
  }
  read(): Buffer {
    throw new SyscallError('ENXIO');
  }
}
