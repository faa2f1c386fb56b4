/**
 * File system types served by unmodified FUSE programs from Debian, run inside the view as
 * helpers of the mount: `vumount -t vufuseext2 IMG /mnt` starts `fuse2fs IMG /mnt -f`, whose
 * open of /dev/fuse and mount(2) the fuse module serves; the mount is recorded as vufuseext2
 * of IMG. The daemon's own file access is the view's, so an image on a virtual device works.
 */
import path from 'node:path';
import { linux, SyscallError, type Helper, type ModuleApi, type MountRequest } from '@vuos/core';
import { expectMount } from '@vuos/fuse';
import type { MountOptions } from './submodule.js';

interface Daemon {
  program: string;
  /** the program's -o word for one of the mount's words (undefined: drop the word) */
  translate(word: string): string | undefined;
  /**
   * built on libfuse 2, which refuses a mount point that is not empty unless told `nonempty`
   * (libfuse 3 no longer checks, and rejects the word): a view mounts over any directory
   */
  libfuse2?: boolean;
  /** words the program is always given */
  always?: string[];
}

/**
 * fuse-ext2's conventions, kept by vufuseext2: `rw+` writes, plain `rw` stays read-only, and
 * the image's owners and modes do not restrict its user (`fakeroot`: a fresh mkfs.ext4 has a
 * root-owned root directory, where an unprivileged user still creates files, owned by them)
 */
const ext2: Daemon = { program: 'fuse2fs', libfuse2: true, always: ['fakeroot'], translate: (w) => (w === 'rw+' ? undefined : w === 'rw' ? 'ro' : w) };
/** a read-only file system: its daemon is always told so */
const readOnly = (program: string, libfuse2 = false): Daemon => ({ program, libfuse2, translate: (w) => (['rw', 'rw+'].includes(w) ? 'ro' : w) });

/** the programs of Debian 12 (fuse2fs and fuseiso link libfuse 2, squashfuse libfuse 3) */
const DAEMONS: Record<string, Daemon> = {
  ext2,
  ext3: ext2,
  ext4: ext2,
  squashfs: readOnly('squashfuse'),
  iso9660: readOnly('fuseiso', true),
};

/** how long a daemon may take to mount (fuse2fs replays a journal first) */
const MOUNT_TIMEOUT_MS = 60_000;
const { MS_RDONLY } = linux;

export const isDaemonType = (name: string): boolean => Object.hasOwn(DAEMONS, name);

/** The daemon's argv: fmt= as VUOS (%N program, %O options, %S source, %T target), else its usual one. */
function argvOf(d: Daemon, words: string[], source: string, target: string, fmt: string | undefined): string[] {
  const o = words.join(',');
  if (fmt) {
    const fields: Record<string, string> = { N: d.program, O: o, S: source, T: target };
    return [...fmt.split(/\s+/).filter(Boolean).map((a) => a.replace(/%([NOST])/g, (_, k: string) => fields[k])), '-f'];
  }
  return [d.program, source, target, '-f', ...(o ? ['-o', o] : [])];
}

/** Mounts NAME by running its daemon; fails when the daemon exits first (its message is on the console). */
export async function mountWithDaemon(api: ModuleApi, name: string, req: MountRequest, options: MountOptions, callerCwd: string): Promise<void> {
  await api.needModule('fuse');
  const daemon = DAEMONS[name];
  const source = path.resolve(callerCwd, req.source);
  const words = [...new Set([...options.words.map((w) => daemon.translate(w)), daemon.libfuse2 ? 'nonempty' : undefined, ...(daemon.always ?? [])].filter((w): w is string => !!w))];
  const argv = argvOf(daemon, words, source, req.target, options.fmt);
  const wait = expectMount({ ...req.info, source, flags: req.flags | (words.includes('ro') ? MS_RDONLY : 0) });
  let timer: NodeJS.Timeout | undefined;
  let helper: Helper | undefined;
  try {
    helper = await api.spawn(argv, { cwd: callerCwd });
    const { exited } = helper;
    const exitedFirst = new Promise<never>((_, reject) => {
      exited.then((status) => reject(new SyscallError('EINVAL', `vufuse: ${argv[0]} ended (status ${status}) without mounting ${req.target}`)));
    });
    exitedFirst.catch(() => undefined); // once mounted, the daemon's end is the fuse module's business
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SyscallError('ETIMEDOUT', `vufuse: ${argv[0]} did not mount ${req.target}`)), MOUNT_TIMEOUT_MS);
    });
    await Promise.race([wait.mounted, exitedFirst, late]);
  } catch (e) {
    api.printk(3, (e as Error).message);
    // a daemon too slow to mount must not mount later, unrecorded
    if (helper) signalGroup(helper.pid, 'SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
    wait.cancel();
  }
}

/** Signals a helper's process group (it leads one). */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}
