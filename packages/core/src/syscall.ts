/**
 * One notified system call as the hypervisor and modules see it, and the answers it can get.
 */
import { native } from './native.js';
import { syscallName } from './syscalls/x86_64.js';
import type { VuProcess } from './process.js';
import { errnoOf } from './errno.js';

export type Answer =
  | { kind: 'continue' }
  /** already answered by the kernel (ADDFD with SEND) */
  | { kind: 'answered' }
  | { kind: 'value'; value: number | bigint }
  | { kind: 'error'; errno: number };

export const Answer = {
  continue: (): Answer => ({ kind: 'continue' }),
  answered: (): Answer => ({ kind: 'answered' }),
  value: (value: number | bigint): Answer => ({ kind: 'value', value }),
  error: (errno: number | string): Answer => ({ kind: 'error', errno: typeof errno === 'number' ? errno : errnoOf(errno) }),
};

/**
 * Thrown by handlers (core or module) to fail the syscall with an errno. It is an answer, not a
 * fault: no stack trace is captured (ENOENT along a PATH search, ENODATA for every ls -l...).
 */
export class SyscallError extends Error {
  readonly errno: number;
  constructor(code: string | number, message?: string) {
    const errno = typeof code === 'number' ? code : errnoOf(code);
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ?? String(code));
    Error.stackTraceLimit = limit;
    this.errno = errno;
  }
}

/** Size of struct seccomp_notif as the native listener queues it. */
export const NOTIF_SIZE = 80;

export class SyscallCall {
  readonly id: bigint;
  readonly tid: number;
  readonly nr: number;
  readonly args: bigint[];
  /** the syscall the kernel notified (nr differs for a call presented as another: as()) */
  readonly notifiedNr: number;
  /** the caller's state, when the hypervisor tracks it */
  process: VuProcess | undefined;

  constructor(record: Buffer, offset = 0) {
    this.id = record.readBigUInt64LE(offset);
    this.tid = record.readUInt32LE(offset + 8);
    this.nr = record.readInt32LE(offset + 16);
    this.notifiedNr = this.nr;
    this.args = [];
    for (let i = 0; i < 6; i++) this.args.push(record.readBigUInt64LE(offset + 32 + 8 * i));
  }

  get name(): string {
    return syscallName(this.nr);
  }

  /** The same pending call presented as another, equivalent one (openat2 served as openat). */
  as(nr: number, args: bigint[]): SyscallCall {
    const c: SyscallCall = Object.create(SyscallCall.prototype);
    Object.assign(c, this, { nr, args });
    return c;
  }

  /** Argument i as a C int (fds, flags): low 32 bits, sign-extended. */
  int(i: number): number {
    return Number(BigInt.asIntN(32, this.args[i]));
  }

  /** Argument i as a C long. */
  long(i: number): number {
    return Number(BigInt.asIntN(64, this.args[i]));
  }

  /**
   * The NUL-terminated string at argument i (or at an address): EFAULT when unreadable,
   * ENAMETOOLONG when longer than max (PATH_MAX by default, as the kernel copies paths).
   */
  readString(argOrAddr: number | bigint, max = 4096): string {
    const addr = typeof argOrAddr === 'bigint' ? argOrAddr : this.args[argOrAddr];
    const s = addr === 0n ? null : native.readString(this.tid, addr, max);
    if (s !== null) return s;
    if (addr === 0n) throw new SyscallError('EFAULT');
    this.readMem(addr, 1); // (unreadable: EFAULT, or the whole memory closed to umvu)
    throw new SyscallError('ENAMETOOLONG');
  }

  readMem(addr: bigint, len: number): Buffer {
    try {
      return native.readMem(this.tid, addr, len);
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      if (errno === EPERM || errno === EACCES) throw uninspectable(this);
      throw new SyscallError('EFAULT');
    }
  }

  writeMem(addr: bigint, data: Buffer): void {
    if (native.writeMem(this.tid, addr, data) !== 0) throw new SyscallError('EFAULT');
  }

  /** Whether the caller is still waiting for this answer (checked after reading its memory). */
  stillValid(): boolean {
    return native.idValid(this.id);
  }
}

const EPERM = 1;
const EACCES = 13;

/**
 * The caller's memory is closed to umvu as a whole: the kernel makes a process that runs an
 * execute-only program (mode 0711, not readable) undumpable. Its calls cannot be looked at, so
 * they go to the kernel as they are (the hypervisor continues them).
 */
function uninspectable(call: SyscallCall): Error {
  return Object.assign(new Error(`${call.name} of ${call.tid}: its memory cannot be read`), { uninspectable: true });
}
