/**
 * The stacks a vunet mount can be: where the sockets of a process that chose it come from.
 * - vdestack: the Linux kernel's own TCP/IP in a private network namespace (native/src/
 *   netstack.cc makes it and creates sockets there), whose interface vde0 is plugged into a VDE
 *   network by libvdeplug. Its sockets are real kernel sockets: data never passes through umvu.
 * - null: every socket fails with EAFNOSUPPORT (networking denied).
 * - real: the host's stack, as if no stack were chosen (for tests, and to undo a default).
 */
import fs from 'node:fs';
import { native, SyscallError } from '@vuos/core';

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
/** the families a stack serves: the Internet ones, netlink (ip addr, ip link...) and packet */
export const STACK_FAMILIES = [AF_INET, AF_INET6, AF_NETLINK, AF_PACKET];

const SYS_socket = 41;
const SYS_close = 3;
const SYS_kill = 62;
const SYS_wait4 = 61;
const SIGKILL = 9;

export interface Stack {
  readonly families: number[];
  /** a socket of the stack, as a host fd of umvu's (the caller closes it); throws SyscallError */
  socket(domain: number, type: number, protocol: number): number;
  /** the inode of the stack's own network namespace, if it has one */
  netns?(): number | undefined;
  /** resolves when what closed sockets still had to send is sent (at most timeoutMs) */
  drained?(timeoutMs: number): Promise<void>;
  /** the stack goes: its namespace, helper and VDE connection */
  close(): void;
}

/** TCP states of a socket that has not finished sending: FIN_WAIT1, CLOSING, LAST_ACK */
const SENDING_STATES = new Set(['04', '0B', '09']);

/** Whether some TCP socket in the network namespace of pid still has bytes or a FIN to send. */
function stillSending(pid: number): boolean {
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      return false;
    }
    // sl local_address rem_address st tx_queue:rx_queue ...
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5) continue;
      if (SENDING_STATES.has(f[3]) || (f[3] === '01' && parseInt(f[4].split(':')[0], 16) > 0)) return true;
    }
  }
  return false;
}

export class NullStack implements Stack {
  readonly families = STACK_FAMILIES;
  socket(): number {
    throw new SyscallError('EAFNOSUPPORT');
  }
  close(): void {}
}

export class RealStack implements Stack {
  readonly families = STACK_FAMILIES;
  socket(domain: number, type: number, protocol: number): number {
    const fd = native.syscall(SYS_socket, domain, type, protocol);
    if (fd < 0) throw new SyscallError(-fd);
    return fd;
  }
  close(): void {}
}

export interface VdeStackOptions {
  /** a veth pair and a packet socket even where a tap could be opened (testing the other way) */
  forceVeth: boolean;
}

/** Why a namespace could not be made, in a user's words. */
function namespaceFailure(step: string, errno: number): string {
  const reason = native.strerror(errno);
  if (step === 'user namespace')
    return `cannot create a user namespace (${reason}): this kernel does not let unprivileged users create them (see sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone)`;
  return `cannot set up the ${step} of the stack's network namespace (${reason})`;
}

export class VdeStack implements Stack {
  readonly families = STACK_FAMILIES;
  /** tap (/dev/net/tun) or veth (a packet socket on its far end) */
  readonly kind: 'tap' | 'veth';
  private pid: number;
  private ctl: number;
  private pump: number | undefined;

  constructor(url: string, options: VdeStackOptions) {
    const r = native.netstackStart({ newUserNs: process.geteuid?.() !== 0, forceVeth: options.forceVeth });
    if ('errno' in r) throw new SyscallError(r.errno, namespaceFailure(r.step, r.errno));
    ({ pid: this.pid, ctl: this.ctl, kind: this.kind } = r);
    try {
      this.pump = native.netstackPump(r.dev, url);
    } catch (e) {
      this.close();
      throw new SyscallError((e as { errno?: number }).errno ?? 'EINVAL', (e as Error).message);
    } finally {
      native.syscall(SYS_close, r.dev);
    }
  }

  netns(): number | undefined {
    try {
      return this.ctl < 0 ? undefined : fs.statSync(`/proc/${this.pid}/ns/net`).ino;
    } catch {
      return undefined;
    }
  }

  /**
   * A process that closed a socket is done with it, but the kernel goes on sending what it
   * wrote: the stack stays plugged in until that is sent (or the time is up).
   */
  async drained(timeoutMs: number): Promise<void> {
    for (const end = Date.now() + timeoutMs; this.ctl >= 0 && stillSending(this.pid) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  }

  socket(domain: number, type: number, protocol: number): number {
    const fd = native.netstackSocket(this.ctl, domain, type, protocol);
    if (fd < 0) throw new SyscallError(-fd);
    return fd;
  }

  close(): void {
    if (this.pump !== undefined) native.netstackPumpStop(this.pump);
    this.pump = undefined;
    if (this.ctl < 0) return;
    native.syscall(SYS_close, this.ctl); // the holder exits, and its namespaces go
    native.syscall(SYS_kill, this.pid, SIGKILL);
    native.syscall(SYS_wait4, this.pid, 0, 0, 0);
    this.ctl = -1;
  }
}
