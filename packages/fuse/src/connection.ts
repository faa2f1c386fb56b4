/**
 * One FUSE connection, kernel side: requests go to the daemon as messages on our end of the
 * SEQPACKET pair whose other end the daemon holds as /dev/fuse; replies are matched by their
 * unique id. Requests are answered in any order (libfuse may run several threads).
 */
import { native, SyscallError, type ModuleApi } from '@vuos/core';
import type { DeviceEnd } from './device.js';
import { FUSE_ASYNC_READ, FUSE_BIG_WRITES, FUSE_KERNEL_MINOR, FUSE_KERNEL_VERSION, IN_HEADER, OUT_HEADER, Op, inHeader, struct } from './protocol.js';

const EAGAIN = 11;
const ENOTCONN = 107;
/** the largest READ we ask for and WRITE we send, when the socket buffers allow */
const MAX_IO = 1 << 20;
/** sizeof(struct fuse_write_in) */
const WRITE_IN = 40;

export interface RequestCredentials {
  uid: number;
  gid: number;
  pid: number;
}

interface Pending {
  resolve(payload: Buffer): void;
  reject(e: Error): void;
}

export class FuseConnection {
  /** negotiated protocol minor version and largest WRITE payload */
  minor = 0;
  maxWrite = 4096;
  /** the largest READ to ask for: its reply must fit in one message */
  readonly maxRead: number;
  private nextUnique = 2n;
  private pending = new Map<bigint, Pending>();
  /** messages the socket could not take yet (the daemon is behind) */
  private unsent: Buffer[][] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** resolves once the daemon answered INIT */
  readonly ready: Promise<void>;
  /** resolves when the daemon's end is gone (it exited or closed /dev/fuse) */
  readonly gone: Promise<void>;
  private markGone!: () => void;

  readonly fd: number;

  constructor(
    private api: Pick<ModuleApi, 'watchReadable' | 'unwatchReadable'>,
    private end: DeviceEnd,
  ) {
    this.fd = end.fd;
    this.maxRead = Math.min(MAX_IO, 2 ** Math.floor(Math.log2(end.maxMessage - OUT_HEADER)));
    this.gone = new Promise((resolve) => (this.markGone = resolve));
    this.api.watchReadable(this.fd, () => this.onReadable());
    this.ready = this.init();
  }

  get alive(): boolean {
    return !this.closed;
  }

  /** Sends a request and resolves with the reply's payload; a daemon error rejects (errno). */
  request(op: Op, nodeid: bigint, parts: Buffer[], cred: RequestCredentials): Promise<Buffer> {
    if (this.closed) return Promise.reject(new SyscallError(ENOTCONN));
    const unique = this.nextUnique;
    this.nextUnique += 2n;
    const len = IN_HEADER + parts.reduce((n, p) => n + p.length, 0);
    const message = [inHeader(len, op, unique, nodeid, cred.uid, cred.gid, cred.pid), ...parts];
    return new Promise((resolve, reject) => {
      this.pending.set(unique, { resolve, reject });
      this.send(message);
    });
  }

  /** Ends the connection: the daemon reads EOF; pending requests fail with ENOTCONN. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.api.unwatchReadable(this.fd);
    native.syscall(3 /* close */, this.fd);
    for (const p of this.pending.values()) p.reject(new SyscallError(ENOTCONN));
    this.pending.clear();
    this.markGone();
  }

  private async init(): Promise<void> {
    const root = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, pid: 0 };
    const payload = struct([
      ['u32', FUSE_KERNEL_VERSION],
      ['u32', FUSE_KERNEL_MINOR],
      ['u32', this.maxRead],
      ['u32', FUSE_ASYNC_READ | FUSE_BIG_WRITES],
    ]);
    const out = await this.request(Op.INIT, 0n, [payload], root);
    if (out.length < 16) throw new SyscallError('EPROTO', 'FUSE daemon gave a short INIT reply');
    const major = out.readUInt32LE(0);
    if (major !== FUSE_KERNEL_VERSION) throw new SyscallError('EPROTO', `FUSE daemon speaks protocol ${major}`);
    this.minor = out.readUInt32LE(4);
    // max_write arrived in 7.5; without FUSE_BIG_WRITES a daemon takes one page per write
    const flags = out.readUInt32LE(12);
    const room = this.end.maxMessage - IN_HEADER - WRITE_IN;
    if (out.length >= 24 && flags & FUSE_BIG_WRITES) this.maxWrite = Math.min(MAX_IO, room, Math.max(4096, out.readUInt32LE(20)));
  }

  private send(message: Buffer[]): void {
    if (this.unsent.length === 0) {
      const n = native.sendPacket(this.fd, message);
      if (n >= 0) return;
      if (n !== -EAGAIN) return this.close();
    }
    this.unsent.push(message);
    this.scheduleRetry();
  }

  /** The daemon reads on its own time: try again shortly, and whenever it replies. */
  private scheduleRetry(): void {
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = undefined;
      this.flushUnsent();
    }, 1);
  }

  private flushUnsent(): void {
    while (this.unsent.length && !this.closed) {
      const n = native.sendPacket(this.fd, this.unsent[0]);
      if (n === -EAGAIN) return this.scheduleRetry();
      if (n < 0) return this.close();
      this.unsent.shift();
    }
  }

  private onReadable(): void {
    if (this.closed) return;
    const { packets, eof, error } = native.recvPackets(this.fd);
    for (const reply of packets) {
      if (reply.length < OUT_HEADER) continue;
      const unique = reply.readBigUInt64LE(8);
      const p = this.pending.get(unique);
      if (!p) continue; // a notification (unique 0) or a reply to nobody
      this.pending.delete(unique);
      const err = reply.readInt32LE(4);
      if (err < 0) p.reject(new SyscallError(-err));
      else p.resolve(reply.subarray(OUT_HEADER));
    }
    if (eof || error) return this.close();
    this.flushUnsent();
    this.api.watchReadable(this.fd, () => this.onReadable());
  }
}
