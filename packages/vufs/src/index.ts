/**
 * vufs: file system patchworking (VUOS' vufs). `vumount -t vufs SOURCE TARGET` shows the host
 * tree SOURCE at TARGET in the view; `-o except=/a:/b` leaves TARGET/a and TARGET/b to what
 * was there before. Files are served by redirecting path calls to SOURCE, so a file opened
 * through vufs is a host fd: reading and writing it never leave the kernel.
 *
 * Only `bind` (the default) is implemented; merge, cow and mincow come with the rest of the
 * path engine (exec of files under a mount) and answer ENOTSUP until then.
 */
import path from 'node:path';
import fs from 'node:fs';
import { defineModule, SyscallError, type ModuleApi, type MountRequest } from '@vuos/core';

let api: ModuleApi;

interface Options {
  mode: 'bind';
  except: string[];
}

function parseOptions(data: string): Options {
  const o: Options = { mode: 'bind', except: [] };
  for (const word of data.split(',').filter(Boolean)) {
    const [key, value] = word.split(/=(.*)/s, 2);
    if (key === 'bind') continue;
    if (key === 'except' && value) o.except.push(...value.split(':').map((p) => '/' + p.replace(/^\/+|\/+$/g, '')));
    else if (['merge', 'cow', 'mincow'].includes(key)) throw new SyscallError('ENOTSUP', `vufs: ${key} is not implemented yet`);
    else if (!['ro', 'rw', 'permanent', 'defaults'].includes(key)) throw new SyscallError('EINVAL', `vufs: unknown option ${word}`);
  }
  return o;
}

function mount(req: MountRequest): void {
  const opts = parseOptions(req.data);
  const source = path.resolve(req.source);
  if (!fs.existsSync(source)) throw new SyscallError('ENOENT');
  const excepted = (tail: string) => opts.except.some((e) => tail === e || tail.startsWith(e + '/'));
  api.addEntry('path', req.target, {
    mount: { ...req.info, source },
    // without exceptions a pure prefix redirect, which the native fast path serves by itself
    files: { redirect: (mpath: string) => path.join(source, mpath), hostPrefix: opts.except.length ? undefined : source },
    confirm: opts.except.length ? (tail) => !excepted(String(tail)) : undefined,
    permanent: /(^|,)permanent(,|$)/.test(req.data),
  });
}

export default defineModule({
  name: 'vufs',
  description: 'vu filesystem patchworking',
  init(moduleApi) {
    api = moduleApi;
    api.setDebugTagName('V', 'VUFS');
  },
  mount,
});
