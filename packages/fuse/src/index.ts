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
import { defineModule, SyscallError, type Entry, type ModuleApi, type MountRequest } from '@vuos/core';
import { FuseConnection } from './connection.js';
import { FuseDevice } from './device.js';
import { FuseFs } from './fusefs.js';
import { Op } from './protocol.js';

const MS_RDONLY = 1;
/** how long a daemon may take to flush its image at umount */
const DESTROY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 5_000;

let api: ModuleApi;
const device = new FuseDevice();

interface FuseMount {
  fs: FuseFs;
  /** inode of the daemon's end of the connection: who holds it is the daemon */
  daemonIno: number;
  unmounting?: boolean;
}

/** mount(2) of type fuse, fuse.NAME, fuseblk, fuseblk.NAME with data fd=N,rootmode=... */
async function mount(req: MountRequest): Promise<void> {
  if (!/^fuse(blk)?(\.|$)/.test(req.fstype)) throw new SyscallError('ENODEV');
  const options = new Map(req.data.split(',').filter(Boolean).map((w) => w.split(/=(.*)/s, 2) as [string, string]));
  const fdNumber = Number(options.get('fd'));
  if (!options.has('fd') || !Number.isInteger(fdNumber)) throw new SyscallError('EINVAL');
  const daemonIno = fs.statSync(`/proc/${req.call.tid}/fd/${fdNumber}`, { throwIfNoEntry: false })?.ino ?? -1;
  const conn = new FuseConnection(api, device.take(req.call.tid, fdNumber));
  const fuseFs = new FuseFs(conn, () => api.caller(), (req.flags & MS_RDONLY) !== 0);
  // the daemon reads INIT only after this mount(2) returns: requests wait for it (FuseFs)
  conn.ready.catch((e) => api.printk(3, `fuse: ${req.target}: ${e.message}`));
  const options2 = req.data.replace(/(^|,)fd=\d+/, '').replace(/^,/, '');
  api.addMount({ ...req.info, source: req.source || req.fstype, options: options2 }, fuseFs, { fs: fuseFs, daemonIno } satisfies FuseMount);
}

/** Ends a mount: DESTROY (the daemon flushes), then SIGTERM to the daemon, then our end closes. */
async function umount(entry: Entry): Promise<void> {
  const m = entry.options.data as FuseMount;
  if (m.unmounting) throw new SyscallError('EBUSY'); // the daemon's own umount while we end it
  m.unmounting = true;
  const { conn } = m.fs;
  if (conn.alive) {
    const cred = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, pid: 0 };
    await withTimeout(conn.ready.then(() => conn.request(Op.DESTROY, 0n, [], cred)), DESTROY_TIMEOUT_MS).catch(() => undefined);
    for (const pid of holders(m.daemonIno)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone already
      }
    }
    await withTimeout(conn.gone, EXIT_TIMEOUT_MS).catch(() => undefined);
  }
  conn.close();
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new SyscallError('ETIMEDOUT')), ms);
    p.then(resolve, reject).finally(() => clearTimeout(t));
  });

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
    api.addEntry('path', '/dev/fuse', { files: device });
  },
  fini() {
    device.dispose();
  },
  mount,
  umount,
});
