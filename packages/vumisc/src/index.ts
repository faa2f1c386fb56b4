/**
 * vumisc: system information a view changes through files, as VUOS' vumisc. `vumount -t
 * vumisc<NAME> SOURCE TARGET` mounts submodule NAME's files at TARGET (infofs.ts): reading one
 * shows a value, writing it (once the file is closed) changes what the view's programs get.
 *
 * Submodules: `time` (vumisctime, time.ts): the view's clock.
 */
import { defineModule, SyscallError, type Entry, type ModuleApi, type MountRequest } from '@vuos/core';
import { mountTime, umountTime } from './time.js';

interface Submodule {
  mount(api: ModuleApi, req: MountRequest): void;
  umount(api: ModuleApi, entry: Entry): void;
}

const SUBMODULES: Record<string, Submodule> = {
  time: { mount: mountTime, umount: umountTime },
};

let api: ModuleApi;

/** The submodule an fstype names (vumisctime: time). */
function submodule(fstype: string): Submodule {
  const name = fstype.slice('vumisc'.length);
  const s = Object.hasOwn(SUBMODULES, name) ? SUBMODULES[name] : undefined;
  if (!s) {
    api.printk(3, `vumisc: unknown type ${fstype}`);
    throw new SyscallError('ENODEV');
  }
  return s;
}

export default defineModule({
  name: 'vumisc',
  description: 'vumisc: virtual system information (vumisctime: the clock)',
  init(moduleApi) {
    api = moduleApi;
  },
  mount: (req) => submodule(req.fstype).mount(api, req),
  umount: (entry) => submodule(entry.options.mount!.fstype).umount(api, entry),
});
