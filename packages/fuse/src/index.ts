/**
 * fuse: `vu_insmod fuse` gives the view a /dev/fuse, so that unmodified FUSE programs
 * (fuse2fs, squashfuse, fuseiso, sshfs... any libfuse 2 or 3 program) serve file systems with
 * no root and no kernel FUSE. The program opens /dev/fuse (device.ts) and calls mount(2) with
 * type fuse[.NAME] or fuseblk and data fd=N,...: the mount is a FuseFs (fusefs.ts) speaking
 * the kernel's FUSE protocol to the program (connection.ts). umount(2), fusermount -u and
 * vuumount end it: the daemon gets DESTROY (it flushes its image), then SIGTERM, as libfuse
 * exits cleanly on it.
 */
import fs from 'node:fs';
import { defineModule, linux, MNT_DETACH, SyscallError, type Entry, type ModuleApi, type MountInfo, type MountRequest } from '@vuos/core';
import { FuseConnection } from './connection.js';
import { FuseDevice } from './device.js';
import { FuseFs } from './fusefs.js';
import { Op } from './protocol.js';

const { MS_RDONLY } = linux;
/** how long a daemon may take to flush its image at umount */
const DESTROY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 5_000;

/** the credentials of the requests the kernel makes on its own (INIT, DESTROY) */
const KERNEL = { uid: 0, gid: 0, pid: 0 };

let api: ModuleApi;
let device: FuseDevice;
const mounts = new Set<Entry>();
/** mounts another module waits for: a daemon it started will mount there (expectMount) */
const expected = new Map<string, { info: MountInfo; mounted(): void }>();


/**
 * For a module that runs a FUSE daemon itself (vufuse): the daemon's coming mount(2) on target
 * is recorded as info says (the module's type and source), and the promise resolves then.
 */
export function expectMount(info: MountInfo): { mounted: Promise<void>; cancel(): void } {
  let mounted!: () => void;
  const promise = new Promise<void>((resolve) => (mounted = resolve));
  expected.set(info.target, { info, mounted });
  return { mounted: promise, cancel: () => expected.delete(info.target) };
}

interface FuseMount {
  fs: FuseFs;
  /** inode of the daemon's end of the connection: who holds it is the daemon */
  daemonIno: number;
  /** set once the mount is ending */
  ending?: Promise<void>;
  /** unmounted with MNT_DETACH: it ends when its last open file is closed */
  lazy?: boolean;
}

/** mount(2) of type fuse, fuse.NAME, fuseblk, fuseblk.NAME with data fd=N,rootmode=... */
async function mount(req: MountRequest): Promise<void> {
  if (!/^fuse(blk)?(\.|$)/.test(req.fstype)) throw new SyscallError('ENODEV');
  const words = new Map(req.data.split(',').filter(Boolean).map((w) => w.split(/=(.*)/s, 2) as [string, string]));
  const fdNumber = Number(words.get('fd'));
  if (!words.has('fd') || !Number.isInteger(fdNumber)) throw new SyscallError('EINVAL');
  const daemonIno = fs.statSync(`/proc/${req.call.tid}/fd/${fdNumber}`, { throwIfNoEntry: false })?.ino ?? -1;
  const conn = new FuseConnection(api, device.take(req.call.tid, fdNumber));
  const claim = expected.get(req.target);
  expected.delete(req.target);
  // a daemon another module runs on an image serves that mount alone: its answers stay valid
  const fuseFs = new FuseFs(conn, () => api.caller(), ((req.flags | (claim?.info.flags ?? 0)) & MS_RDONLY) !== 0, claim !== undefined);
  // the daemon reads INIT only after this mount(2) returns: requests wait for it (FuseFs)
  conn.ready.catch((e) => api.printk(3, `fuse: ${req.target}: ${e.message}`));
  const options = req.data.replace(/(^|,)fd=\d+/, '').replace(/^,/, '');
  const info = claim?.info ?? { ...req.info, source: req.source || req.fstype, options };
  mounts.add(api.addMount(info, fuseFs, { fs: fuseFs, daemonIno } satisfies FuseMount));
  claim?.mounted();
}

/**
 * umount2 of a FUSE mount: it ends now, or with MNT_DETACH once its open files are closed (the
 * core then releases the entry: cleanup). The daemon's own umount2 on its way out (libfuse
 * unmounts when it leaves) finds it ending and succeeds.
 */
async function umount(entry: Entry, flags: number): Promise<void> {
  const m = entry.options.data as FuseMount;
  if (m.ending) return;
  // lazily while files are open: it ends when the core releases it (cleanup)
  if (flags & MNT_DETACH && entry.refs > entry.baseRefs) m.lazy = true;
  else await end(entry);
}

/** Ends a mount: DESTROY (the daemon flushes), then SIGTERM to the daemon, then our end closes. */
function end(entry: Entry): Promise<void> {
  const m = entry.options.data as FuseMount;
  m.fs.closing = true; // a file opened from now on would be written to nobody
  m.ending ??= (async () => {
    const { conn } = m.fs;
    if (conn.alive) {
      await withTimeout(conn.ready.then(() => conn.request(Op.DESTROY, 0n, [], KERNEL)), DESTROY_TIMEOUT_MS).catch(() => undefined);
      const daemons = holders(m.daemonIno);
      for (const pid of daemons) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone already
        }
      }
      // until the daemons are gone, the mount stays: their own umount2 on the way out succeeds
      await withTimeout(Promise.all(daemons.map(exited)), EXIT_TIMEOUT_MS).catch(() => undefined);
    }
    conn.close();
    mounts.delete(entry);
  })();
  return m.ending;
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new SyscallError('ETIMEDOUT')), ms);
    p.then(resolve, reject).finally(() => clearTimeout(t));
  });

/** resolves when process pid has ended */
async function exited(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** pids of the processes that hold the socket with inode ino (the FUSE daemon) */
function holders(ino: number): number[] {
  const link = `socket:[${ino}]`;
  const pids: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readdirSync(`/proc/${pid}/fd`).some((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === link)) pids.push(Number(pid));
    } catch {
      // not ours to see, or gone
    }
  }
  return pids.filter((pid) => pid !== process.pid);
}

export default defineModule({
  name: 'fuse',
  description: 'virtual /dev/fuse: FUSE programs serve file systems in the view',
  init(moduleApi) {
    api = moduleApi;
    device = new FuseDevice(api);
    api.addEntry('path', '/dev/fuse', { files: device });
  },
  fini() {
    device.dispose();
  },
  mount,
  umount,
  cleanup(entry) {
    const m = entry.options.data as FuseMount | undefined;
    if (!m?.lazy) return;
    entry.ending = end(entry).finally(() => (entry.ending = undefined));
  },
  /** the view's command is over: its FUSE file systems end with it (daemons flush and exit) */
  async viewEnd() {
    // newest first, one at a time: an image stored in an older mount is flushed by its daemon,
    // and written back to that mount, before the older one ends
    for (const entry of [...mounts].reverse()) {
      await api.syncFiles(entry); // what processes still hold open goes to the daemon first
      await end(entry);
      api.delEntry(entry, MNT_DETACH);
      await api.syncFiles(); // the files the daemon closed on its way out
    }
    device.dispose();
  },
});
