/**
 * An info file system: a mount point that is a directory (0777) of small pseudo files (0666),
 * each a value of a submodule. Reading a file shows the value as text; what a process writes
 * is handed to the submodule when the file is closed (the core's write-back), which may refuse
 * it (EINVAL: the value stays).
 */
import { linux, SyscallError, type DirEntry, type VStat, type VirtualFs } from '@vuos/core';

const { S_IFDIR, S_IFREG } = linux;

/** One pseudo file. */
export interface InfoFile {
  name: string;
  /** what a read shows */
  read(): string;
  /** what was written (the whole file, once closed); throws SyscallError('EINVAL') to refuse it */
  write(text: string): void;
}

export class InfoFs implements VirtualFs {
  private readonly mountMs = Date.now();
  /** when each file last took a value (file times are real ones) */
  private changedMs = new Map<string, number>();

  constructor(
    private files: InfoFile[],
    private owner: { uid: number; gid: number },
  ) {}

  private file(mpath: string): InfoFile | undefined {
    return this.files.find((f) => mpath === `/${f.name}`);
  }

  kind(mpath: string): number | null {
    return mpath === '/' ? S_IFDIR : this.file(mpath) ? S_IFREG : null;
  }

  lstat(mpath: string): VStat | null {
    const times = (ms: number) => ({ atimeMs: ms, mtimeMs: ms, ctimeMs: ms });
    if (mpath === '/') return { mode: S_IFDIR | 0o777, size: 0, nlink: 2, ino: 1, ...this.owner, ...times(this.mountMs) };
    const f = this.file(mpath);
    if (!f) return null;
    const ino = 2 + this.files.indexOf(f);
    return { mode: S_IFREG | 0o666, size: Buffer.byteLength(f.read()), nlink: 1, ino, ...this.owner, ...times(this.changedMs.get(f.name) ?? this.mountMs) };
  }

  readdir(mpath: string): DirEntry[] {
    if (mpath !== '/') throw new SyscallError('ENOTDIR');
    return this.files.map((f) => ({ name: f.name, type: 'file' }));
  }

  readlink(): string {
    throw new SyscallError('EINVAL');
  }

  read(mpath: string): Buffer {
    const f = this.file(mpath);
    if (!f) throw new SyscallError('ENOENT');
    return Buffer.from(f.read());
  }

  write(mpath: string, data: Buffer): void {
    const f = this.file(mpath);
    if (!f) throw new SyscallError('ENOENT');
    f.write(data.toString('latin1'));
    this.changedMs.set(f.name, Date.now());
  }
}
