/**
 * Open devices of modules (vudev's disks and partitions): the fd family.
 *
 * The process gets a placeholder fd in the reserved range (vfd.ts), so that the filter
 * notifies its calls, and nothing else it does leaves the kernel. The placeholder is one end
 * of a socket pair: the supervisor's end reads EOF when the last copy of the process' end is
 * closed (close, exit, exec with O_CLOEXEC, a dup closed later...), which ends the open.
 *
 * read, write, pread64 and pwrite64 are served by the listener thread (native/src/devices.cc),
 * which also keeps the file position, per open (shared by dup and fork as the kernel shares it).
 * The other calls come here; the vector ones also move bytes between the device's range of a
 * host file and the caller's memory in one native step each.
 */
import fs from 'node:fs';
import { native } from '../native.js';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';
import type { DeviceFile, IoctlArg } from '../vfs/types.js';
import { VIRTUAL_FD_RANGE } from '../vfd.js';
import { writeOwnerStat, type CallLayout, type OpenFileOwner } from './vfs.js';
import { O_ACCMODE, O_CLOEXEC, O_RDONLY, O_WRONLY } from '../linux.js';
import { withCallerFd } from '../caller.js';

const SYS_socketpair = 53;
const SYS_read = 0;
const SYS_write = 1;
const EAGAIN = 11;
const SYS_close = 3;
const SYS_fcntl = 72;
const SYS_fdatasync = 75;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const F_DUPFD = 0;
const F_DUPFD_CLOEXEC = 1030;
const SEEK_SET = 0;
const SEEK_CUR = 1;
const SEEK_END = 2;
/** the kernel's limit on iovec counts (readv, writev...) */
const UIO_MAXIOV = 1024;
/** where what is written into a placeholder's socket past the filter goes */
const DRAIN = Buffer.alloc(4096);
const READY = Buffer.from('r');
/** ioctls about the fd itself, which the kernel serves for any file */
const FD_IOCTLS = new Set([0x5450 /* FIONCLEX */, 0x5451 /* FIOCLEX */, 0x5421 /* FIONBIO */, 0x5452 /* FIOASYNC */]);

/** One open(2) of a device: what its placeholder fds (dups and inherited copies) share. */
export interface OpenDevice {
  device: DeviceFile;
  owner: OpenFileOwner;
  /** O_RDONLY, O_WRONLY or O_RDWR */
  access: number;
  /** the inode of the placeholder's socket: its key here and in the native fast path */
  ino: number;
  /** the supervisor's end of the placeholder's socket pair */
  end: number;
}

export class OpenDevices {
  /** by the inode of the placeholder's socket */
  private byIno = new Map<number, OpenDevice>();

  constructor(private hv: Hypervisor) {}

  /** Gives the caller of an open(2) a placeholder for device, and answers the call. */
  open(call: SyscallCall, owner: OpenFileOwner, device: DeviceFile, flags: number): Answer {
    const pair = Buffer.alloc(8);
    const r = native.syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair);
    if (r < 0) return Answer.error(-r);
    const [end, theirs] = [pair.readInt32LE(0), pair.readInt32LE(4)];
    const ino = fs.fstatSync(theirs).ino;
    let answer: Answer;
    try {
      answer = this.place(call, theirs, VIRTUAL_FD_RANGE.low, undefined, (flags & O_CLOEXEC) !== 0);
    } finally {
      native.syscall(SYS_close, theirs);
    }
    if (answer.kind !== 'answered') {
      native.syscall(SYS_close, end);
      return answer;
    }
    native.syscall(SYS_fcntl, end, F_SETFL, O_NONBLOCK);
    // a byte waits in the process' end, which it never reads (its reads are notified): poll,
    // select and read -t find the device ready, as a block device always is
    native.syscall(SYS_write, end, READY, 1);
    const open: OpenDevice = { device, owner, access: flags & O_ACCMODE, ino, end };
    this.byIno.set(ino, open);
    if (this.byIno.size === 1) this.hv.updateFastPath(); // (fd calls come to JS while a device is open)
    // read, write, pread64 and pwrite64 are served by the listener thread; it keeps the position
    native.deviceAdd(ino, device.fd, device.offset, device.size, open.access, device.readOnly);
    this.hv.registry.acquire(owner.entry); // an open device keeps its mount busy (umount: EBUSY)
    this.hv.watchReadable(end, () => this.closed(ino));
    return answer;
  }

  /** Whether some device is open (its placeholders' calls must come to JS). */
  get anyOpen(): boolean {
    return this.byIno.size > 0;
  }

  /** Tells the native fast path which devices refuse writes now. */
  syncReadOnly(): void {
    for (const open of this.byIno.values()) native.deviceReadOnly(open.ino, open.device.readOnly);
  }

  /** The open device whose placeholder fd N of tid is, if it is one. */
  of(tid: number, fd: number): OpenDevice | undefined {
    if (!placeable(this.hv, fd) || this.byIno.size === 0) return undefined;
    try {
      return this.byIno.get(fs.statSync(`/proc/${tid}/fd/${fd}`).ino);
    } catch {
      return undefined;
    }
  }

  /**
   * Injects file into the caller at a free number of the reserved range (at least min), or at
   * exactly `at`, and answers the call with that number.
   */
  place(call: SyscallCall, file: number, min: number, at: number | undefined, cloexec: boolean): Answer {
    const target = at ?? freeNumber(call.tid, Math.max(min, VIRTUAL_FD_RANGE.low));
    if (target === undefined) return Answer.error('EMFILE');
    const r = native.addFd(call.id, file, target, { send: true, cloexec });
    // (a number at or past the caller's RLIMIT_NOFILE is refused with EBADF: dup2's answer too)
    if (r < 0) return Answer.error(r === -9 && at === undefined ? 'EMFILE' : -r);
    return Answer.answered();
  }

  /**
   * The supervisor's end of an open became readable: the last placeholder is gone (EOF), or
   * somebody wrote into the socket past the filter (AIO...): that is dropped.
   */
  private closed(ino: number): void {
    const open = this.byIno.get(ino);
    if (open && !this.endIfClosed(ino, open)) this.hv.watchReadable(open.end, () => this.closed(ino));
  }

  /**
   * Ends the opens whose last placeholder is closed already, though their EOF may not be
   * handled yet: an umount right after the close sees the device free.
   */
  caughtUp(): void {
    for (const [ino, open] of this.byIno) this.endIfClosed(ino, open);
  }

  /** Ends the open if its socket reads EOF: true when it is over. */
  private endIfClosed(ino: number, open: OpenDevice): boolean {
    const r = native.syscall(SYS_read, open.end, DRAIN, DRAIN.length);
    if (r > 0 || r === -EAGAIN) return false;
    this.byIno.delete(ino);
    this.hv.unwatchReadable(open.end);
    if (this.byIno.size === 0) this.hv.updateFastPath();
    native.deviceRemove(ino);
    native.syscall(SYS_close, open.end);
    try {
      open.device.close?.();
    } finally {
      this.hv.registry.release(open.owner.entry);
    }
    return true;
  }
}

/** fd numbers where a placeholder is served: the reserved range, and 0-2 with umvu --stdio-devices (filter.ts) */
const placeable = (hv: Hypervisor, fd: number) => (fd >= VIRTUAL_FD_RANGE.low && fd <= VIRTUAL_FD_RANGE.high) || (hv.stdioDevices && fd >= 0 && fd <= 2);

/** The lowest number from min up in the reserved range that tid has no fd at. */
function freeNumber(tid: number, min: number): number | undefined {
  let used: Set<number>;
  try {
    used = new Set(fs.readdirSync(`/proc/${tid}/fd`).map(Number));
  } catch {
    return undefined;
  }
  for (let n = min; n <= VIRTUAL_FD_RANGE.high; n++) if (!used.has(n)) return n;
  return undefined;
}

/** Serves a notified fd call (fd family) when its fd is a device placeholder; else the kernel does it. */
export async function deviceFdSyscall(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  const open = hv.devices.of(call.tid, call.int(call.name === 'mmap' ? 4 : 0));
  if (!open) {
    // the other fd of a two-fd call may be one (sendfile, splice, copy_file_range, tee)
    const second = { sendfile: 1, splice: 2, copy_file_range: 2, tee: 1 }[call.name as 'tee'];
    return second !== undefined && hv.devices.of(call.tid, call.int(second)) ? Answer.error('EINVAL') : Answer.continue();
  }
  switch (call.name) {
    case 'read':
    case 'pread64':
    case 'readv':
    case 'preadv':
    case 'preadv2':
    case 'write':
    case 'pwrite64':
    case 'writev':
    case 'pwritev':
    case 'pwritev2':
      return transfer(call, open);
    case 'lseek':
      return Answer.value(seek(open, call.long(1), call.int(2)));
    case 'ioctl':
      return ioctl(hv, call, open);
    case 'fstat':
      return (await fstatDevice(hv, call)) ?? Answer.error('ENODEV'); // its device was removed
    case 'fsync':
    case 'fdatasync':
    case 'syncfs': {
      const r = native.syscall(SYS_fdatasync, open.device.fd);
      return r < 0 ? Answer.error(-r) : Answer.value(0);
    }
    case 'sync_file_range':
    case 'readahead':
    case 'fadvise64':
      return Answer.value(0);
    case 'ftruncate':
      return Answer.error('EINVAL'); // only regular files have a length to set
    case 'fallocate':
    case 'mmap': // (the image is not mapped for it: mke2fs and fdisk do not ask)
      return Answer.error(call.name === 'mmap' ? 'ENODEV' : 'EOPNOTSUPP');
    case 'getdents':
    case 'getdents64':
      return Answer.error('ENOTDIR');
    case 'sendfile':
    case 'splice':
    case 'copy_file_range':
    case 'tee':
    case 'vmsplice':
      return Answer.error('EINVAL'); // callers fall back to read and write
    case 'dup':
      return dup(hv, call, VIRTUAL_FD_RANGE.low, undefined, false);
    case 'dup2':
    case 'dup3': {
      const to = call.int(1);
      if (to === call.int(0)) return call.name === 'dup2' ? Answer.value(to) : Answer.error('EINVAL');
      return dup(hv, call, 0, to, call.name === 'dup3' && (call.int(2) & O_CLOEXEC) !== 0);
    }
    case 'fcntl': {
      const cmd = call.int(1);
      if (cmd === F_DUPFD || cmd === F_DUPFD_CLOEXEC) return dup(hv, call, call.int(2), undefined, cmd === F_DUPFD_CLOEXEC);
      return Answer.continue();
    }
    default:
      // close, flock, fstatfs: the kernel's; the socket calls say ENOTSOCK
      return SOCKET_CALLS.has(call.name) ? Answer.error('ENOTSOCK') : Answer.continue();
  }
}

const SOCKET_CALLS = new Set(['accept', 'accept4', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg', 'shutdown', 'listen', 'getsockname', 'getpeername', 'setsockopt', 'getsockopt']);

/**
 * dup, dup2, dup3 and F_DUPFD of a placeholder: the copy must be where the filter notifies its
 * calls: in the reserved range or, with umvu --stdio-devices, at 0-2 (dd reopens its files
 * there, shells redirect there). A copy elsewhere would be read and written by the kernel
 * without the device: refused with ENXIO.
 */
function dup(hv: Hypervisor, call: SyscallCall, min: number, at: number | undefined, cloexec: boolean): Answer {
  if (at !== undefined && !placeable(hv, at)) {
    if (at <= 2) hv.logger.printk(4, `umvu: a device cannot become fd ${at} of process ${call.tid} (${call.name}): start umvu with --stdio-devices`);
    return Answer.error('ENXIO');
  }
  const placed = withCallerFd(call.tid, call.int(0), (file) => hv.devices.place(call, file, min, at, cloexec));
  return typeof placed === 'number' ? Answer.error(-placed) : placed;
}

/**
 * lseek on a device, as on a Linux block device (fixed_size_llseek): SEEK_SET, SEEK_CUR,
 * SEEK_END within its size; past it, or any other whence (SEEK_DATA, SEEK_HOLE), EINVAL.
 */
function seek(open: OpenDevice, offset: number, whence: number): number {
  const { size } = open.device;
  let pos: number;
  if (whence === SEEK_SET) pos = offset;
  else if (whence === SEEK_CUR) pos = native.devicePos(open.ino) + offset;
  else if (whence === SEEK_END) pos = size + offset;
  else throw new SyscallError('EINVAL');
  if (!(pos >= 0 && pos <= size)) throw new SyscallError('EINVAL');
  return native.devicePos(open.ino, pos);
}

/** The (address, length) pieces a call reads into or writes from. */
function pieces(call: SyscallCall): Array<[bigint, number]> {
  if (call.name === 'read' || call.name === 'write' || call.name === 'pread64' || call.name === 'pwrite64') return [[call.args[1], call.long(2)]];
  const count = call.int(2);
  if (count < 0 || count > UIO_MAXIOV) throw new SyscallError('EINVAL');
  const iov = call.readMem(call.args[1], 16 * count);
  const out: Array<[bigint, number]> = [];
  for (let i = 0; i < count; i++) out.push([iov.readBigUInt64LE(16 * i), Number(iov.readBigInt64LE(16 * i + 8))]);
  return out;
}

/** The explicit offset of a p* call, or undefined (the file position: also preadv2 with -1). */
function explicitOffset(call: SyscallCall): number | undefined {
  if (call.name === 'pread64' || call.name === 'pwrite64' || call.name === 'preadv' || call.name === 'pwritev') return call.long(3);
  if (call.name === 'preadv2' || call.name === 'pwritev2') return call.long(3) === -1 ? undefined : call.long(3);
  return undefined;
}

/** read, write and their vector and positioned forms, clipped to the device as the kernel clips a block device. */
function transfer(call: SyscallCall, open: OpenDevice): Answer {
  const writing = call.name.includes('write');
  // (O_ACCMODE 3, "ioctl only", neither reads nor writes)
  if (open.access === (writing ? O_RDONLY : O_WRONLY) || open.access === O_ACCMODE) return Answer.error('EBADF');
  const at = explicitOffset(call);
  if (at !== undefined && at < 0) return Answer.error('EINVAL');
  const { device } = open;
  const list = pieces(call);
  if (list.some(([, len]) => len < 0)) return Answer.error('EINVAL');
  if (writing && device.readOnly) return Answer.error('EPERM');
  let pos = at ?? native.devicePos(open.ino);
  let done = 0;
  for (const [addr, want] of list) {
    const len = Math.min(want, Math.max(0, device.size - pos));
    if (len === 0) {
      if (want > 0 && writing && done === 0) return Answer.error('ENOSPC');
      if (want > 0) break;
      continue;
    }
    const n = (writing ? native.memToFile : native.fileToMem)(call.tid, addr, len, device.fd, device.offset + pos);
    if (n < 0) {
      if (done > 0) break;
      return Answer.error(-n);
    }
    pos += n;
    done += n;
    if (n < len) break;
  }
  if (at === undefined) native.devicePos(open.ino, pos);
  return Answer.value(done);
}

async function ioctl(hv: Hypervisor, call: SyscallCall, open: OpenDevice): Promise<Answer> {
  const request = call.int(1) >>> 0;
  if (FD_IOCTLS.has(request)) return Answer.continue();
  if (!open.device.ioctl) return Answer.error('ENOTTY');
  const arg: IoctlArg = {
    address: call.args[2],
    read: (len) => call.readMem(call.args[2], len),
    write: (data) => call.writeMem(call.args[2], data),
  };
  const value = await open.device.ioctl(request, arg);
  hv.devices.syncReadOnly(); // (BLKROSET)
  return Answer.value(value);
}

/**
 * fstat of a device placeholder: the device file's metadata, as its module gives it (also for
 * the AT_EMPTY_PATH forms of newfstatat and statx, with their layout). Undefined when fd N is
 * no placeholder.
 */
export function fstatDevice(hv: Hypervisor, call: SyscallCall, layout: CallLayout = FSTAT_LAYOUT): Promise<Answer | undefined> | undefined {
  const open = hv.devices.of(call.tid, call.int(0));
  return open && writeOwnerStat(call, layout, open.owner);
}
const FSTAT_LAYOUT: CallLayout = { paths: [], out: [{ arg: 1, size: 144 }] };
