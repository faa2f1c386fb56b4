/**
 * vufs: file system patchworking (VUOS' vufs). `vumount -t vufs SOURCE TARGET` shows the host
 * tree SOURCE at TARGET in the view (bind, the default); merge, cow and mincow make a union of
 * SOURCE over what TARGET was (union.ts). `-o except=/a,except=/b` (or `except=/a:/b`) leaves
 * TARGET/a and TARGET/b to what was there before. Files are served by redirecting path calls
 * to host paths, so a file opened through vufs is a host fd: reading and writing it never
 * leave the kernel.
 */
import path from 'node:path';
import fs from 'node:fs';
import { defineModule, SyscallError, type ModuleApi, type MountRequest, type PathService } from '@vuos/core';
import { Union, under, type UnionMode } from './union.js';

let api: ModuleApi;

interface Options {
  mode: 'bind' | UnionMode;
  except: string[];
  nochcopy: boolean;
}

/** VUOS' option table, and its messages for bad options. */
function parseOptions(data: string): Options {
  const o: Options = { mode: 'bind', except: [], nochcopy: false };
  const modes = new Set<string>();
  for (const word of data.split(',').filter(Boolean)) {
    const [key, value] = word.split(/=(.*)/s, 2);
    const takesArg = key === 'except';
    if (!['bind', 'move', 'merge', 'cow', 'mincow', 'except', 'nochcopy', 'ro', 'rw', 'permanent', 'defaults'].includes(key)) fail(`vufs: ${key} unknown tag`);
    if (takesArg && !value) fail(`vufs: ${key} requires an arg`);
    if (!takesArg && value !== undefined) fail(`vufs: ${key} need no args`);
    if (['merge', 'cow', 'mincow', 'move'].includes(key)) modes.add(key);
    if (key === 'merge' || key === 'cow' || key === 'mincow') o.mode = key;
    if (key === 'nochcopy') o.nochcopy = true;
    if (key === 'except') o.except.push(...value.split(':').map((p) => '/' + p.replace(/^\/+|\/+$/g, '')));
  }
  if (modes.size > 1) fail('vufs: move, merge, cow and mincow are mutually exclusive');
  return o;
}

function fail(message: string): never {
  api.printk(3, message);
  throw new SyscallError('EINVAL', message);
}

function mount(req: MountRequest): void {
  const opts = parseOptions(req.data);
  const source = path.resolve(req.source);
  if (!fs.existsSync(source)) throw new SyscallError('ENOENT');
  const excepted = (tail: string) => opts.except.some((e) => tail === e || tail.startsWith(e + '/'));
  let files: PathService;
  if (opts.mode === 'bind') {
    // a directory bound without exceptions is a pure prefix redirect: the native fast path serves it
    const pure = opts.except.length === 0 && fs.statSync(source).isDirectory();
    files = { redirect: (mpath: string) => under(source, mpath), hostPrefix: pure ? source : undefined };
  } else {
    const union = new Union(source, req.target, opts.mode, opts.nochcopy);
    files = {
      redirect: (mpath, access) => union.redirect(mpath, access),
      retry: (mpath, access, errno) => union.retry(mpath, access, errno),
      remove: (mpath, dir) => union.remove(mpath, dir),
      renamed: (mpath, to, exchange) => union.renamed(mpath, to, exchange),
      list: (mpath) => union.list(mpath),
      hostDirs: () => [union.upper, union.lower],
      attributes: union.attributes,
    };
  }
  api.addEntry('path', req.target, {
    mount: { ...req.info, source },
    files,
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
