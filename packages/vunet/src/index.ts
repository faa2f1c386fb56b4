/**
 * vunet: network stacks of a view's own. `vumount -t vunet<NAME> SOURCE /dev/net/<name>` makes
 * a stack (stacks.ts) and shows it at the target as a file of type S_IFSTACK (0160000). A
 * process keeps the host's stack until it chooses one as its default for some address families
 * (`vustack`, or the msocket virtual syscall with SOCK_DEFAULT); the choice is inherited by its
 * children and across exec. Its socket() calls of those families then get sockets of the stack;
 * other families (AF_UNIX...) stay real. `msocket(path, domain, type, protocol)` makes a socket
 * of the stack at path directly.
 *
 * Types: `vunetvdestack` (SOURCE a VDE URL: vde:///path/to/switch, vxvde://, slirp://, tap://...;
 * option `veth`: a veth pair and a packet socket even where a tap could be opened), `vunetnull`
 * (every socket fails with EAFNOSUPPORT), `vunetreal` (the host's stack).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Answer, defineModule, MNT_DETACH, native, SpecialFiles, SyscallError, type Entry, type ModuleApi, type MountRequest, type SyscallCall, type VStat, type VirtualFs } from '@vuos/core';
import { AF_UNSPEC, NullStack, RealStack, VdeStack, type Stack } from './stacks.js';

/** the file type of a stack (VUOS' S_IFSTACK) */
export const S_IFSTACK = 0o160000;
/** msocket's type that makes the stack the caller's default (VUOS' SOCK_DEFAULT) */
const SOCK_DEFAULT = 0;
/** msocket's type that asks whether the stack serves a family: EINVAL if it does */
const SOCK_PROBE = -1;
const SOCK_CLOEXEC = 0o2000000;
const MSOCKET = -5;
const SYS_close = 3;

let api: ModuleApi;

/** One mounted stack. */
interface StackMount {
  stack: Stack;
  target: string;
  /** inodes of the sockets handed out (umount: EBUSY while one is open) */
  sockets: Set<number>;
  /** still mounted (a lazily unmounted stack runs on for its open sockets, until the view ends) */
  mounted: boolean;
}

/** A process' default stack per address family (shared with its children until one changes it). */
type Defaults = ReadonlyMap<number, StackMount>;

/** the stacks running */
const running = new Set<StackMount>();
/** stacks ending (sending what closed sockets still had to send) */
const ending = new Set<Promise<void>>();

function makeStack(req: MountRequest): Stack {
  const name = req.fstype.slice('vunet'.length);
  const words = req.data.split(',').filter(Boolean);
  switch (name) {
    case 'vdestack':
      return new VdeStack(req.source, { forceVeth: words.includes('veth') });
    case 'null':
      return new NullStack();
    case 'real':
      return new RealStack();
    default:
      throw new SyscallError('ENODEV', `vunet: unknown stack type ${req.fstype}`);
  }
}

/** The stack file at the mount point: type S_IFSTACK, mode 0777, root's, the mount's time. */
class StackNode extends SpecialFiles implements VirtualFs {
  private readonly timeMs = Date.now();
  private mode = 0o777;
  private owner = { uid: 0, gid: 0 };
  lstat(mpath: string): VStat | null {
    if (mpath !== '/') return null;
    return { mode: S_IFSTACK | this.mode, size: 0, nlink: 1, ...this.owner, ino: 1, atimeMs: this.timeMs, mtimeMs: this.timeMs, ctimeMs: this.timeMs };
  }
  // (in memory, as in VUOS)
  chmod(_mpath: string, mode: number): void {
    this.mode = mode & 0o7777;
  }
  chown(_mpath: string, uid: number, gid: number): void {
    if (uid !== -1) this.owner.uid = uid;
    if (gid !== -1) this.owner.gid = gid;
  }
}

async function mount(req: MountRequest): Promise<void> {
  let stack: Stack;
  try {
    stack = makeStack(req);
  } catch (e) {
    const message = `${req.fstype} ${req.source}: ${(e as Error).message}`;
    api.printk(3, message);
    throw new SyscallError((e as SyscallError).errno ?? 'EINVAL', message);
  }
  const m: StackMount = { stack, target: req.target, sockets: new Set(), mounted: true };
  running.add(m);
  api.addMount(req.info, new StackNode(), m);
}

/** Gives the caller socket fd (closing umvu's copy) and answers its call with the number. */
function inject(call: SyscallCall, m: StackMount, fd: number, type: number): Answer {
  try {
    m.sockets.add(fs.fstatSync(fd).ino);
    const r = native.addFd(call.id, fd, -1, { send: true, cloexec: (type & SOCK_CLOEXEC) !== 0 });
    return r < 0 ? Answer.error(-r) : Answer.answered();
  } finally {
    native.syscall(SYS_close, fd);
  }
}

const defaultsOf = (tid: number) => api.getProcessData(tid) as Defaults | undefined;

/** socket(2): from the caller's default stack for the family, if it chose one. */
function socketCall(call: SyscallCall): Answer {
  const [domain, type, protocol] = [call.int(0), call.int(1), call.int(2)];
  const m = defaultsOf(call.tid)?.get(domain);
  if (!m) return Answer.continue();
  if (!m.mounted) return Answer.error('EAFNOSUPPORT'); // unmounted since: no stack serves it
  return inject(call, m, m.stack.socket(domain, type, protocol), type);
}

/** The stack mounted at path (as the caller names it): ENOENT if nothing is there, ENOTSUP if it is no stack. */
function stackAt(call: SyscallCall, p: string): StackMount {
  let cwd = '/';
  try {
    cwd = fs.readlinkSync(`/proc/${call.tid}/cwd`);
  } catch {
    // gone: its answer does not matter
  }
  const abs = path.resolve(cwd, p);
  // the newest mount on that path (a stack is no directory: a trailing slash is ENOTDIR)
  const m = [...running].reverse().find((r) => r.mounted && r.target === abs);
  if (m && p.endsWith('/')) throw new SyscallError('ENOTDIR');
  if (m) return m;
  throw new SyscallError(fs.existsSync(abs) ? 'ENOTSUP' : 'ENOENT');
}

/**
 * msocket(path, domain, type, protocol), the VUOS virtual syscall -5: with type SOCK_DEFAULT the
 * stack at path becomes the caller's default for domain (0: every family it serves; a NULL
 * path: the host's again); type -1 asks whether it serves domain (EINVAL: yes); any other
 * type makes a socket of that stack (a NULL path: the caller's default, else the host's).
 */
function msocketCall(call: SyscallCall): Answer {
  const [domain, type, protocol] = [call.int(1), call.int(2), call.int(3)];
  const m = call.args[0] === 0n ? undefined : stackAt(call, call.readString(0));
  if (type === SOCK_DEFAULT) {
    const families = domain === AF_UNSPEC ? (m?.stack.families ?? [...(defaultsOf(call.tid)?.keys() ?? [])]) : [domain];
    if (m && !families.every((f) => m.stack.families.includes(f))) return Answer.error('EAFNOSUPPORT');
    const next = new Map(defaultsOf(call.tid)); // (copied: children share the old one)
    for (const f of families) {
      if (m) next.set(f, m);
      else next.delete(f);
    }
    api.setProcessData(call.tid, next.size ? next : undefined);
    return Answer.value(0);
  }
  const stack = m ?? defaultsOf(call.tid)?.get(domain);
  if (type === SOCK_PROBE) return Answer.error(!stack || stack.stack.families.includes(domain) ? 'EINVAL' : 'EAFNOSUPPORT');
  if (stack && (!stack.mounted || !stack.stack.families.includes(domain))) return Answer.error('EAFNOSUPPORT');
  if (stack) return inject(call, stack, stack.stack.socket(domain, type, protocol), type);
  const fd = new RealStack().socket(domain, type, protocol);
  const r = native.addFd(call.id, fd, -1, { send: true, cloexec: (type & SOCK_CLOEXEC) !== 0 });
  native.syscall(SYS_close, fd);
  return r < 0 ? Answer.error(-r) : Answer.answered();
}

/**
 * Whether some process still holds a socket of the stack (looked up in /proc: at umount only).
 * A stack of its own network namespace knows its sockets by that namespace, also those made by
 * accept(); others by the sockets they handed out.
 */
function socketsOpen(m: StackMount): boolean {
  const netns = m.stack.netns?.();
  if (netns === undefined && m.sockets.size === 0) return false;
  const live = new Set<number>();
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let ino: number;
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (!m) continue;
        ino = Number(m[1]);
      } catch {
        continue; // closed meanwhile
      }
      if (m.sockets.has(ino) || (netns !== undefined && socketNetns(Number(pid), Number(fd)) === netns)) live.add(ino);
    }
  }
  m.sockets = live;
  return live.size > 0;
}

const SYS_pidfd_open = 434;
const SYS_pidfd_getfd = 438;
const SYS_ioctl = 16;
/** the network namespace of a socket, as an fd */
const SIOCGSKNS = 0x894c;

/** The inode of the network namespace of socket fd N of pid (undefined when it cannot be told). */
function socketNetns(pid: number, fd: number): number | undefined {
  const pidfd = native.syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) return undefined;
  const sock = native.syscall(SYS_pidfd_getfd, pidfd, fd, 0);
  native.syscall(SYS_close, pidfd);
  if (sock < 0) return undefined;
  const ns = native.syscall(SYS_ioctl, sock, SIOCGSKNS, 0);
  native.syscall(SYS_close, sock);
  if (ns < 0) return undefined;
  try {
    return fs.fstatSync(ns).ino;
  } finally {
    native.syscall(SYS_close, ns);
  }
}

/** how long an ending stack may take to send what closed sockets wrote */
const DRAIN_MS = 10_000;

function end(m: StackMount): void {
  if (!running.delete(m)) return;
  m.mounted = false;
  const done = (async () => {
    try {
      await m.stack.drained?.(DRAIN_MS);
      m.stack.close();
    } catch (e) {
      api.printk(3, `vunet: ${m.target}: ${(e as Error).message}`);
    }
  })();
  ending.add(done);
  void done.then(() => ending.delete(done));
}

export default defineModule({
  name: 'vunet',
  description: 'vu virtual networking',
  init(moduleApi) {
    api = moduleApi;
    api.setDebugTagName('N', 'VUNET');
    api.claimSyscall('socket', socketCall);
    api.addEntry('sc', MSOCKET, { data: msocketCall });
  },
  mount,
  umount(entry: Entry, flags: number) {
    // a stack whose sockets are open is busy, unless detached (it goes when the view ends)
    if (!(flags & MNT_DETACH) && socketsOpen(entry.data as StackMount)) throw new SyscallError('EBUSY');
  },
  cleanup(entry) {
    const m = entry.data as StackMount | undefined;
    if (!entry.options.mount || !m) return;
    m.mounted = false;
    if (!socketsOpen(m)) end(m);
  },
  // stacks serve the view's processes until the last one is gone (not only its command)
  async viewGone() {
    for (const m of [...running]) end(m);
    await Promise.all([...ending]);
  },
  fini() {
    // a lazily unmounted stack still serves sockets
    if (running.size > 0) throw new SyscallError('EBUSY');
  },
  inherit: {
    // a child shares its parent's defaults (msocket copies them before a change); so does exec
    clone: (data) => data,
    exec: (data) => data,
  },
});
