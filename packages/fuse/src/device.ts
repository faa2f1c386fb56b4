/**
 * The virtual /dev/fuse: each open gives the process one end of a fresh SEQPACKET pair (read
 * one request, write one reply, as on the real device); the supervisor keeps the other end
 * until a mount(2) names the fd and a connection starts on it.
 */
import fs from 'node:fs';
import { linux, native, SpecialFiles, SyscallError, type ModuleApi, type VStat, type VirtualFs } from '@vuos/core';

/** the misc device number of /dev/fuse: 10, 229 */
const FUSE_RDEV = (10 << 8) | 229;

/** The supervisor's end of an opened /dev/fuse, and the largest message the pair carries. */
export interface DeviceEnd {
  fd: number;
  maxMessage: number;
}

export class FuseDevice extends SpecialFiles implements VirtualFs {
  /** the module's api: an end whose peer closed before mounting is closed */
  constructor(private api: Pick<ModuleApi, 'watchReadable' | 'unwatchReadable'>) {
    super();
  }

  /** supervisor's end of each opened device, by the inode of the end the process holds */
  private unmounted = new Map<number, DeviceEnd>();
  /** inodes of devices mounted already */
  private taken = new Set<number>();

  lstat(mpath: string): VStat | null {
    if (mpath !== '/') return null;
    return { mode: linux.S_IFCHR | 0o666, size: 0, nlink: 1, uid: 0, gid: 0, rdev: FUSE_RDEV, ino: 229 };
  }

  openDevice(): number {
    const [fd, theirs, maxMessage] = native.seqpacketPair();
    const ino = fs.fstatSync(theirs).ino;
    this.unmounted.set(ino, { fd, maxMessage });
    // the process closed its /dev/fuse without mounting it: our end reads EOF, and goes
    this.api.watchReadable(fd, () => {
      if (this.unmounted.get(ino)?.fd !== fd) return; // mounted meanwhile: the connection's now
      this.unmounted.delete(ino);
      native.syscall(3 /* close */, fd);
    });
    return theirs;
  }

  /**
   * The supervisor's end of the device that fd N of process tid is (mount's fd=N option);
   * taken: a device is mounted once (EBUSY after). EINVAL when it is no /dev/fuse of ours.
   */
  take(tid: number, fdNumber: number): DeviceEnd {
    let ino: number;
    try {
      ino = fs.statSync(`/proc/${tid}/fd/${fdNumber}`).ino;
    } catch {
      throw new SyscallError('EINVAL');
    }
    const ours = this.unmounted.get(ino);
    if (ours === undefined) throw new SyscallError(this.taken.has(ino) ? 'EBUSY' : 'EINVAL');
    this.unmounted.delete(ino);
    this.taken.add(ino);
    return ours;
  }
  /** Closes the ends of devices opened but never mounted. */
  dispose(): void {
    for (const { fd } of this.unmounted.values()) {
      this.api.unwatchReadable(fd);
      native.syscall(3 /* close */, fd);
    }
    this.unmounted.clear();
  }
}
