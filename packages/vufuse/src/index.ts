/**
 * vufuse: virtual file systems served by submodules written as FUSE file systems
 * (fuse-native style operations tables, ops.ts). `vumount -t vufuse<NAME> [-o opts] SOURCE
 * TARGET` mounts the submodule NAME (submodule.ts) on TARGET; its files are the view's own.
 * Options, as in VUOS: `fmt=` and `hard_remove` are vufuse's, every other word (`rw+`...) goes
 * to the submodule along with the mount flags' words; `ro` makes every change fail with EROFS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defineModule, linux, SyscallError, type Entry, type ModuleApi, type MountRequest } from '@vuos/core';
import { opsToVirtualFs, runOp, type FuseOps } from './ops.js';
import { findSubmodule, type MountOptions } from './submodule.js';
import { isDaemonType, mountWithDaemon } from './daemons.js';

export { opsToVirtualFs, type FuseOps, type FuseStat, type FuseStatFs } from './ops.js';
export { type MountOptions, type Submodule, type SubmoduleFactory } from './submodule.js';

const { MS_RDONLY } = linux;
/** the words of mount flags (mount(8)'s), appended to the submodule's options */
const FLAG_WORDS: Array<[number, string]> = [
  [MS_RDONLY, 'ro'],
  [2, 'nosuid'],
  [4, 'nodev'],
  [8, 'noexec'],
  [16, 'sync'],
];

let api: ModuleApi;
const log = (message: string) => api.printk(3, message);

function mountOptions(req: MountRequest, cwd: string): MountOptions {
  const readOnly = (req.flags & MS_RDONLY) !== 0;
  const openSource = () => api.openSource(path.resolve(cwd, req.source), !readOnly);
  const options: MountOptions = { words: [], readOnly, fstype: req.fstype, target: req.target, openSource };
  for (const word of req.data.split(',').filter(Boolean)) {
    if (word.startsWith('fmt=')) options.fmt = word.slice(4);
    // open files are shadows the core keeps: an unlinked one is already gone from the file system
    else if (word !== 'hard_remove') options.words.push(word);
  }
  for (const [flag, word] of FLAG_WORDS) if (req.flags & flag) options.words.push(word);
  if (!options.words.length) options.words.push('rw');
  return options;
}

/** The errno a submodule's failure says (a Node error from opening its source...), else EINVAL. */
function errnoOf(e: unknown): string | number {
  const { errno, code } = (e ?? {}) as { errno?: unknown; code?: unknown };
  if (typeof errno === 'number' && errno > 0) return errno;
  return typeof code === 'string' && Object.hasOwn(os.constants.errno, code) ? code : 'EINVAL';
}

/** A failed mount: one line on the console, the errno to the caller. */
function fail(errno: string | number, message: string): never {
  log(message);
  throw new SyscallError(errno, message);
}

async function mount(req: MountRequest): Promise<void> {
  const name = req.fstype.slice('vufuse'.length);
  let cwd = '/';
  try {
    cwd = fs.readlinkSync(`/proc/${req.call.tid}/cwd`);
  } catch {
    // the caller is gone: its mount is looked up from /
  }
  const options = mountOptions(req, cwd);
  if (isDaemonType(name)) return mountWithDaemon(api, name, req, options, cwd);
  const submodule = await findSubmodule(name, cwd).catch((e) => fail('EINVAL', `vufuse: ${req.fstype}: cannot load: ${(e as Error)?.message ?? e}`));
  if (!submodule) fail('ENODEV', `vufuse: unknown file system type ${req.fstype}`);
  let ops: FuseOps;
  try {
    ops = typeof submodule === 'function' ? await submodule(req.source, options) : submodule;
  } catch (e) {
    fail(errnoOf(e), `vufuse: ${req.fstype} ${req.source}: ${(e as Error)?.message ?? e}`);
  }
  if (!ops || typeof ops !== 'object') fail('EINVAL', `vufuse: ${req.fstype}: the submodule gave no operations table`);
  if (typeof ops.init === 'function') await runOp(ops, 'init', [], log).catch((e) => fail((e as SyscallError).errno, `vufuse: ${req.fstype}: init failed`));
  api.addMount(req.info, opsToVirtualFs(ops, { readOnly: options.readOnly, log }), ops);
}

export default defineModule({
  name: 'vufuse',
  description: 'vu virtual file systems (user level FUSE)',
  init(moduleApi) {
    api = moduleApi;
  },
  mount,
  // the mount is gone for good (umount, or a lazy one whose last open file closed)
  cleanup(entry: Entry) {
    const ops = entry.data as FuseOps;
    if (typeof ops?.destroy === 'function') runOp(ops, 'destroy', [], log).catch(() => {});
  },
});
