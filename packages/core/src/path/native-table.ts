/**
 * The data of the native path fast path (native/src/paths.cc): the view's mount points and,
 * per path syscall, where its path arguments are and which calls the listener may perform by
 * itself under a pure prefix redirect. The policy is here; the listener only applies it:
 * CONTINUE when the kernel's resolution provably reaches no mount point, the operation below
 * when it provably stays inside a pure redirect, JavaScript otherwise.
 */
import type { NativePathArg, NativePathOp, NativePathTable } from '@vuos/native';
import type { Entry } from '../registry.js';
import { SYSCALLS } from '../syscalls/x86_64.js';
import { pathArgsOf, type PathArg } from '../families/path.js';
import { VIRTUAL_FD_RANGE } from '../vfd.js';
import { isVirtualFs } from '../vfs/types.js';
import { anyKeeper } from '../families/attributes.js';

/** Calls the listener performs on the host tree (x86_64 argument positions); they create nothing. */
const OPS: Record<string, NativePathOp> = {
  stat: { kind: 'stat', out: 1 },
  lstat: { kind: 'stat', out: 1 },
  newfstatat: { kind: 'stat', out: 2 },
  statx: { kind: 'statx', flags: 2, mask: 3, out: 4 },
  access: { kind: 'access', mode: 1, flags: -1 },
  faccessat: { kind: 'access', mode: 2, flags: -1 },
  faccessat2: { kind: 'access', mode: 2, flags: 3 },
  readlink: { kind: 'readlink', out: 1, size: 2 },
  readlinkat: { kind: 'readlink', out: 2, size: 3 },
  getxattr: { kind: 'getxattr', name: 1, out: 2, size: 3 },
  lgetxattr: { kind: 'getxattr', name: 1, out: 2, size: 3 },
  // O_CREAT and O_TMPFILE opens (the caller's umask) are left to JavaScript by the listener
  open: { kind: 'open', flags: 1 },
  openat: { kind: 'open', flags: 2 },
};

function nativeArg(p: PathArg): NativePathArg {
  const fixed = typeof p.follow === 'boolean';
  return {
    arg: p.arg,
    dirfd: p.dirfd ?? -1,
    flags: typeof p.follow === 'boolean' ? -1 : p.follow.flags,
    follow: fixed && p.follow === true,
    nofollow: typeof p.follow === 'object' ? p.follow.nofollow : undefined,
    followBit: typeof p.follow === 'object' ? p.follow.follow : undefined,
    emptyFlags: p.emptyFlags ?? -1,
  };
}

/** Nothing mounted. */
export const NO_PATH_TABLE: NativePathTable = { mounts: [], hostDirs: [], calls: [], vfdLow: VIRTUAL_FD_RANGE.low, vfdHigh: VIRTUAL_FD_RANGE.high };

const under = (p: string, mount: string) => p === mount || p.startsWith(mount + '/');

/** Path syscalls whose path arguments the listener can check: nr -> layout. */
function nativePathCalls(): NativePathTable['calls'] {
  return SYSCALLS.filter((s) => s.family === 'path').flatMap((s) => {
    const paths = pathArgsOf(s.name);
    return paths?.length ? [{ nr: s.nr, paths: paths.map(nativeArg), op: OPS[s.name] }] : [];
  });
}

/**
 * The table for these path entries, or undefined when the listener cannot decide for them
 * (a mount on `/`, which every path touches).
 */
export function nativePathTable(entries: Entry[], listingsRoot: string): NativePathTable | undefined {
  const keys = entries.map((e) => String(e.key));
  if (keys.includes('')) return undefined;
  const mounts: NativePathTable['mounts'] = entries.map((e) => {
    const path = String(e.key);
    const files = e.options.files;
    const host = files && !isVirtualFs(files) ? files.hostPrefix : undefined;
    // pure: a declared prefix redirect, no exceptions, no other mount on or below its point
    const pure = host?.startsWith('/') && !e.options.confirm && keys.filter((k) => under(k, path)).length === 1;
    // (a prefix entry, /dev/hda, also owns /dev/hda1...: the listener sends those to JS)
    return pure ? { path, host } : e.options.prefix ? { path, namePrefix: true } : { path };
  });
  // /proc/.../mounts and mountinfo list the view's mounts: JavaScript generates them
  if (entries.some((e) => e.options.mount)) mounts.push({ path: '/proc' });
  // a dirfd or cwd in a host directory a mount serves (opened through it) stands for a view
  // directory: relative paths from there are JavaScript's, except single names under a pure one
  const hostDirs: NativePathTable['hostDirs'] = [{ prefix: listingsRoot, singleNameOk: false }];
  for (const [i, e] of entries.entries()) {
    const files = e.options.files;
    if (!files || isVirtualFs(files)) continue;
    for (const prefix of files.hostDirs?.() ?? [files.redirect('/')]) hostDirs.push({ prefix, singleNameOk: mounts[i].host !== undefined });
  }
  // fstat of an open file of a virtual file system (a memfd) must show the module's metadata;
  // that of a host file whose mount keeps other attributes for it (and of its directories, not
  // their materialized listings), those
  const fdStatToJs = entries.some((e) => isVirtualFs(e.options.files)) || anyKeeper(entries);
  return { mounts, hostDirs, calls: nativePathCalls(), vfdLow: VIRTUAL_FD_RANGE.low, vfdHigh: VIRTUAL_FD_RANGE.high, fdStatToJs };
}
