/**
 * Table-driven path resolution: for every path-taking system call, the same operations on a
 * vufs bind of a scratch tree and on the scratch tree itself must give identical results and
 * errno, including symlink chains in both directions across the mount and `..` out of it.
 *
 * Layout (W a scratch directory):
 *   W/native/root   tree A, used natively           (P = W/native, R = P/root)
 *   W/inview/root   an empty directory, the mount point of tree B in the view (P = W/inview)
 *   W/b/root        tree B, mounted with `vumount -t vufs W/b/root W/inview/root`
 * W/native and W/inview hold the same files around `root`, so `..` out of the mount looks alike;
 * W/b holds nothing else, so a path resolved on the host side of the mount shows. Both side
 * names have the same length: absolute symlinks (generated with each side's R) have the same size.
 *
 * The cases are probe lines (test/fixtures/pathprobe.c performs each with the raw system call
 * and prints its result or errno name), generated as syscall x path x flags x form, where the
 * form says how the path is written: absolute, relative to the cwd (R), or relative to a dirfd
 * opened on the mount point, inside it, or on its parent. Mutating calls work in their own
 * sandbox per call and form (R/mut/CALL/FORM, and P/out-CALL-FORM outside the mount), and the
 * trees are compared file by file afterwards. All the cases of a group run in one probe process,
 * all the groups in one umvu run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, run, tmpdir, umvuBash } from './run.js';

/**
 * Calls the path engine does not serve yet under a mount (packages/core/src/families/path.ts
 * answers ENOTSUP, or lets the kernel resolve the path on the host). Their differing cases are
 * reported as pending tests named after the call; a gap that no longer differs fails, so that
 * the list only shrinks.
 */
const KNOWN_GAPS: Record<string, string> = {
  'openat2 RESOLVE_NO_XDEV': 'an absolute symlink under a mount: whether the kernel allows the jump to / depends on vfsmounts umvu cannot see (ENOTSUP)',
};

// ---------------------------------------------------------------------------------------------
// The scratch tree. Link targets starting with R/ or P/ get the side's root or its parent.

const N255 = 'n'.repeat(255);
const N256 = 'n'.repeat(256);
/** the mtime that utimensat, utimes, utime and futimesat set (FIXED_MTIME in pathprobe.c) */
const FIXED_MTIME = 1200000000;

type Entry = { file: string; mode?: number } | { dir: number } | { link: string } | { fifo: true };
const file = (content: string, mode?: number): Entry => ({ file: content, mode });
const link = (target: string): Entry => ({ link: target });

/** Tree A and tree B: everything under root. */
function treeEntries(): Array<[string, Entry]> {
  const e: Array<[string, Entry]> = [
    ['f', file('hello\n')],
    ['exe', file('#!/bin/sh\nexit 3\n', 0o755)],
    ['noexec', file('#!/bin/sh\n')],
    ['ro', file('read only\n', 0o444)],
    ['d', { dir: 0o755 }],
    ['d/file', file('in d\n')],
    ['d/sub', { dir: 0o755 }],
    ['d/sub/deep', { dir: 0o700 }],
    ['d/sub/deep/leaf', file('leaf\n')],
    ['empty', { dir: 0o755 }],
    [N255, file('long name\n')],
    ['fifo', { fifo: true }],
    ['lf', link('f')],
    ['ld', link('d')],
    ['lexe', link('exe')],
    ['labs', link('R/f')],
    ['labsd', link('R/d')],
    ['d/up', link('../f')],
    ['d/sub/upup', link('../../d')],
    ['d/sub/deep/top', link('../../..')],
    ['d/sub/back', link('../../../root/d')],
    ['c1', link('c2')],
    ['c2', link('c3')],
    ['c3', link('f')],
    ['cd1', link('cd2')],
    ['cd2', link('ld')],
    ['cabs1', link('R/c1')],
    ['dang', link('nowhere')],
    ['dangabs', link('R/nowhere')],
    ['dangdir', link('nowhere/')],
    ['loop1', link('loop2')],
    ['loop2', link('loop1')],
    ['self', link('self')],
    // out of the mount and back in
    ['out', link('../sibling')],
    ['outdir', link('..')],
    ['outabs', link('P/sibling')],
    ['outin', link('../root/f')],
    ['outind', link('../root/d')],
    ['bounce', link('../into')],
    ['zig0', link('../zag0')],
    ['zig1', link('../zag1')],
    ['lsock', link('../sock')],
    // a directory nobody may read or search (root still may)
    ['noread', { dir: 0o000 }],
    ['noread/x', file('x\n')],
    ['mut', { dir: 0o755 }],
  ];
  // 40 links to follow are allowed, 41 are ELOOP
  for (let i = 0; i < 40; i++) e.push([`K${i}`, link(i === 39 ? 'f' : `K${i + 1}`)]);
  for (let i = 0; i < 41; i++) e.push([`L${i}`, link(i === 40 ? 'f' : `L${i + 1}`)]);
  return e;
}

/** Beside root, in P (natively and in the view alike). */
const OUTSIDE: Array<[string, Entry]> = [
  ['sibling', file('sibling\n')],
  ['sibdir', { dir: 0o755 }],
  ['sibdir/x', file('x\n')],
  ['into', link('root/f')],
  ['intod', link('root/d')],
  ['intoabs', link('P/root/d')],
  ['intodang', link('root/nowhere')],
  ['intoloop', link('root/loop1')],
  ['zag0', link('root/zig1')],
  ['zag1', link('root/f')],
];

/** A mutating call's sandbox, one per call and form: R/mut/CALL/FORM, P/out-CALL-FORM. */
function sandboxEntries(call: string, form: string): Array<[string, Entry]> {
  const s = `mut/${call}/${form}`;
  return [
    [`mut/${call}`, { dir: 0o755 }],
    [s, { dir: 0o755 }],
    [`${s}/a`, file('a\n')],
    [`${s}/b`, file('bb\n')],
    [`${s}/dd`, { dir: 0o755 }],
    [`${s}/dd/x`, file('x\n')],
    [`${s}/ed`, { dir: 0o755 }],
    [`${s}/ed2`, { dir: 0o755 }],
    [`${s}/la`, link('a')],
    [`${s}/ldd`, link('dd')],
    [`${s}/ln`, link('nowhere')],
    [`${s}/labs`, link(`R/${s}/a`)],
    [`${s}/lout`, link(`../../../../out-${call}-${form}`)],
  ];
}
const sandboxOutside = (call: string, form: string): Array<[string, Entry]> => [
  [`out-${call}-${form}`, { dir: 0o755 }],
  [`out-${call}-${form}/a`, file('out a\n')],
  [`out-${call}-${form}/ed`, { dir: 0o755 }],
];

/** Creates entries under dir; R and P in link targets become the side's prefixes. */
function build(dir: string, entries: Array<[string, Entry]>, R: string, P: string): void {
  const dirModes: Array<[string, number]> = [];
  for (const [name, e] of entries) {
    const p = path.join(dir, name);
    if ('file' in e) {
      fs.writeFileSync(p, e.file);
      fs.chmodSync(p, e.mode ?? 0o644); // not masked by the umask
    } else if ('dir' in e) {
      fs.mkdirSync(p, { recursive: true });
      dirModes.push([p, e.dir]);
    } else if ('link' in e) fs.symlinkSync(e.link.replace(/^R\//, `${R}/`).replace(/^P\//, `${P}/`), p);
    else spawnSync('mkfifo', ['-m', '644', p]);
  }
  // the permissions of directories last (noread), deepest first
  for (const [p, mode] of dirModes.reverse()) fs.chmodSync(p, mode);
}

// ---------------------------------------------------------------------------------------------
// The cases

interface Case {
  group: string;
  /** the call under test (KNOWN_GAPS, reports) */
  call: string;
  /** probe lines; R and P are replaced by the side's prefixes, fields are TAB-separated */
  ops: string[][];
  /** natively there is no mount boundary: the view must answer this and the native run skips it */
  viewOnly?: string;
}

/** Paths relative to R (or absolute), for the calls that do not modify the tree. */
function readPaths(): string[] {
  const base = [
    '', '.', '..', '../..', 'f', 'd', 'd/file', 'd/sub/deep/leaf', 'empty', 'exe', 'noexec', 'ro', 'fifo',
    N255, N256, `d/${N256}/x`, 'nonexist', 'nonexist/x', 'f/x', 'f/..', 'lf', 'ld', 'ld/file', 'lexe', 'labs',
    'labsd', 'labsd/file', 'd/up', 'd/sub/upup', 'd/sub/upup/file', 'd/sub/deep/top', 'd/sub/deep/top/f',
    'd/sub/back/file', 'c1', 'cd1', 'cd1/file', 'cabs1', 'dang', 'dangabs', 'dangdir', 'loop1', 'loop1/x',
    'self', 'K0', 'L0', 'L1', 'out', 'outdir', 'outdir/sibling', 'outdir/root/f', 'outabs', 'outin',
    'outind/file', 'outind/..', 'bounce', 'zig0', 'noread', 'noread/x', 'mut', 'd/../../sibling',
    'ld/..', 'ld/../f', 'labsd/../f', '../sibling', '../sibdir/x', '../root/f', '../root/../sibling',
    '../into', '../intod/file', '../intod/..', '../intoabs/file', '../intoabs/../f', '../intodang',
    '../intoloop', '../zag0',
    // PATH_MAX: 4095 bytes resolve, 4096 do not
    './'.repeat(2047) + 'f', './'.repeat(2046) + './/f',
    // absolute paths: form A only
    '/', '/proc/self/cwd/f',
  ];
  const suffixed = ['f', 'd', 'lf', 'ld', 'labsd', 'dang', 'dangdir', 'out', 'outdir', 'nonexist', 'fifo', 'cd1', 'loop1', '../intod'];
  return [...base, ...suffixed.flatMap((p) => [`${p}/`, `${p}/.`, `${p}/..`])];
}

/** How a tree path is written: its dirfd and its text. */
interface Form {
  name: string;
  dirfd: string;
  text(p: string): string;
}
const FORMS: Form[] = [
  { name: 'A', dirfd: 'CWD', text: (p) => `R/${p}` }, // absolute
  { name: 'C', dirfd: 'CWD', text: (p) => p }, // relative to the cwd, R
  { name: 'B', dirfd: 'D0', text: (p) => p }, // a dirfd on the mount point
  { name: 'D', dirfd: 'D1', text: (p) => (p === '' ? p : `../${p}`) }, // a dirfd on R/d, inside the mount
  { name: 'E', dirfd: 'D2', text: (p) => (p === '' ? p : `root/${p}`) }, // a dirfd on P, the mount's parent
];
/** the forms of calls that take no dirfd */
const PLAIN = FORMS.slice(0, 2);

/** (form, path text) pairs: absolute paths only once, the empty path never as R/ */
function written(paths: string[], forms: Form[]): Array<{ dirfd: string; p: string }> {
  return paths.flatMap((p) => {
    if (p.startsWith('/')) return forms[0].name === 'A' ? [{ dirfd: 'CWD', p }] : [];
    return forms.filter((f) => !(p === '' && f.name === 'A')).map((f) => ({ dirfd: f.dirfd, p: f.text(p) }));
  });
}

/** The setup every probe run starts with: the cwd and the dirfds of the forms. */
const SETUP: string[][] = [
  ['chdir', 'R'],
  ['dirfd', '0', 'R', 'O_RDONLY|O_DIRECTORY'],
  ['dirfd', '1', 'R/d', 'O_RDONLY|O_DIRECTORY'],
  ['dirfd', '2', 'P', 'O_RDONLY|O_DIRECTORY'],
];

interface Group {
  name: string;
  cases: Case[];
}

function readGroups(): Group[] {
  const paths = readPaths();
  const groups: Group[] = [];
  const group = (name: string, make: (add: (call: string, ...ops: string[][]) => void) => void) => {
    const cases: Case[] = [{ group: name, call: 'setup', ops: SETUP }];
    make((call, ...ops) => cases.push({ group: name, call, ops }));
    groups.push({ name, cases });
  };
  // each: (call, forms, flag variants, line) over every written path
  const each = (add: (call: string, ...ops: string[][]) => void, call: string, forms: Form[], variants: string[], line: (d: string, p: string, v: string) => string[][]) => {
    for (const v of variants) for (const { dirfd, p } of written(paths, forms)) add(call, ...line(dirfd, p, v));
  };
  group('stat, lstat, newfstatat, statx', (add) => {
    each(add, 'stat', PLAIN, [''], (_, p) => [['stat', p]]);
    each(add, 'lstat', PLAIN, [''], (_, p) => [['lstat', p]]);
    for (const call of ['newfstatat', 'statx'])
      each(add, call, FORMS, ['0', 'AT_SYMLINK_NOFOLLOW', 'AT_EMPTY_PATH'], (d, p, v) => [[call, d, p, v]]);
  });
  group('access, faccessat, faccessat2', (add) => {
    each(add, 'access', PLAIN, ['F_OK', 'R_OK|W_OK', 'X_OK'], (_, p, v) => [['access', p, v]]);
    each(add, 'faccessat', FORMS, ['X_OK'], (d, p, v) => [['faccessat', d, p, v]]);
    each(add, 'faccessat2', FORMS, ['0', 'AT_SYMLINK_NOFOLLOW', 'AT_EMPTY_PATH|AT_EACCESS'], (d, p, v) => [['faccessat2', d, p, 'R_OK', v]]);
  });
  group('readlink, readlinkat', (add) => {
    each(add, 'readlink', PLAIN, ['4096', '3'], (_, p, v) => [['readlink', p, v]]);
    each(add, 'readlinkat', FORMS, ['4096'], (d, p, v) => [['readlinkat', d, p, v]]);
  });
  group('open, openat, openat2, getdents (existing files)', (add) => {
    const flags = ['O_RDONLY', 'O_RDONLY|O_NOFOLLOW', 'O_RDONLY|O_DIRECTORY', 'O_PATH|O_NOFOLLOW'];
    each(add, 'open', PLAIN, flags, (_, p, v) => [['open', p, v]]);
    each(add, 'openat', FORMS, flags, (d, p, v) => [['openat', d, p, v]]);
    each(add, 'openat2', FORMS, ['0', 'RESOLVE_BENEATH', 'RESOLVE_IN_ROOT', 'RESOLVE_NO_SYMLINKS'], (d, p, v) => [
      ['openat2', d, p, 'O_RDONLY', v],
    ]);
    // its own row in KNOWN_GAPS: the absolute symlinks
    each((_, ...ops) => add('openat2 RESOLVE_NO_XDEV', ...ops), 'openat2', FORMS, ['RESOLVE_NO_XDEV'], (d, p, v) => [
      ['openat2', d, p, 'O_RDONLY', v],
    ]);
    each(add, 'getdents', FORMS, [''], (d, p) => [['getdents', d, p]]);
  });
  group('getxattr, lgetxattr, listxattr, llistxattr, getxattrat, listxattrat', (add) => {
    for (const call of ['getxattr', 'lgetxattr']) each(add, call, PLAIN, [''], (_, p) => [[call, p, 'user.test']]);
    for (const call of ['listxattr', 'llistxattr']) each(add, call, PLAIN, [''], (_, p) => [[call, p]]);
    each(add, 'getxattrat', FORMS, ['0', 'AT_SYMLINK_NOFOLLOW'], (d, p, v) => [['getxattrat', d, p, v, 'user.test']]);
    each(add, 'listxattrat', FORMS, ['0', 'AT_SYMLINK_NOFOLLOW'], (d, p, v) => [['listxattrat', d, p, v]]);
  });
  group('statfs', (add) => each(add, 'statfs', PLAIN, [''], (_, p) => [['statfs', p]]));
  group('chdir, fchdir, getcwd', (add) => {
    // each case ends back in R, so that the relative form stays relative to R
    each(add, 'chdir', PLAIN, [''], (_, p) => [['chdir', p], ['getcwd'], ['getdents', 'CWD', '.'], ['chdir', 'R']]);
    each(add, 'fchdir', PLAIN, [''], (_, p) => [['dirfd', '3', p, 'O_RDONLY|O_DIRECTORY'], ['fchdir', 'D3'], ['getcwd'], ['getdents', 'CWD', '.'], ['chdir', 'R']]);
  });
  group('execve', (add) => each(add, 'execve', PLAIN, [''], (_, p) => [['execve', p]]));
  group('inotify_add_watch', (add) =>
    each(add, 'inotify_add_watch', PLAIN, ['IN_ALL_EVENTS', 'IN_ALL_EVENTS|IN_DONT_FOLLOW', 'IN_ALL_EVENTS|IN_ONLYDIR'], (_, p, v) => [
      ['inotify_add_watch', p, v],
    ]),
  );
  // a socket beside the mount point (bound natively in both runs), reached directly and through
  // a link of the tree; sun_path holds 107 bytes: relative paths only
  group('connect', (add) => {
    add('setup', ['bind', 'P/sock']);
    for (const p of ['../sock', 'lsock', 'lsock/', ...paths]) if (p.length < 100 && !p.startsWith('/')) add('connect', ['connect', p]);
  });
  for (const g of groups) g.cases = g.cases.filter((c) => c.ops.length > 0);
  return groups;
}

// Mutating calls: targets relative to the sandbox; O is the sandbox's directory outside the mount.
const O = (call: string, form: string) => `../../../../out-${call}-${form}`;
const CREATE = ['new', 'new2/', 'a', 'la', 'ln', 'labs', 'ldd/new', 'a/new', 'nonexist/new', 'ed/.', 'ed/..', N256, 'lout/new', 'O/new3', ''];
const REMOVE = ['a', 'la', 'ln', 'labs', 'dd', 'ed', 'ldd', 'ldd/', 'ed2/.', 'ed2/..', 'nonexist', 'b/', 'lout/a', 'O/ed', N256, ''];
const ATTRS = ['a', 'la', 'labs', 'ln', 'dd', 'ldd', 'ldd/x', 'nonexist', 'b/', 'lout', 'lout/a', 'O/a', N256, ''];
/** [old, new, crossesTheMount] */
type Pair = [string, string, boolean?];
const RENAMES: Pair[] = [
  ['a', 'a-moved'], ['la', 'dd/la-moved'], ['ln', 'ln-moved'], ['labs', 'labs-moved'], ['ed', 'dd'], ['dd', 'ed'],
  ['b', 'ed'], ['nonexist', 'z'], ['ed2', 'ed2/sub'], ['ed2/.', 'z'], ['b', N256], ['b/', 'z'], ['b', 'nonexist/z'],
  ['O/a', 'O/a-moved'], ['lout/a-moved', 'lout/a-back'], ['a-moved', 'lout/a-cross', true], ['O/ed', 'ed-cross', true],
];
const RENAMES_NOREPLACE: Pair[] = [['b', 'labs-moved'], ['b', 'b-noreplace'], ['ed2', 'ed'], ['z', 'zz']];
const RENAMES_EXCHANGE: Pair[] = [['b-noreplace', 'a-moved'], ['dd/la-moved', 'nonexist'], ['ed', 'ed2'], ['ln-moved', 'lout/a-back', true]];
const LINKS: Pair[] = [
  ['a', 'a-hard'], ['la', 'la-hard'], ['ln', 'ln-hard'], ['dd', 'dd-hard'], ['a', 'b'], ['nonexist', 'z'], ['a/', 'z'],
  ['a', 'nonexist/z'], ['a', N256], ['a', 'z/'], ['O/a', 'O/a-hard'], ['a', 'lout/a-cross', true], ['lout/a', 'a-cross', true],
];
const LINKS_FOLLOW: Pair[] = [['la', 'la-followed'], ['labs', 'labs-followed'], ['ln', 'ln-followed'], ['ldd', 'ldd-followed'], ['lout/a', 'lout/a-followed']];
const SYMLINKS: Pair[] = [
  ['a', 's1'], ['/nonexistent/abs', 's2'], ['R/f', 's3'], ['x', 'a'], ['x', 'ln'], ['x', 'nonexist/s'], ['x', 'ldd/s4'],
  ['x', 's5/'], ['x', 'lout/s6'], ['x', 'O/s7'], ['x', N256], ['', 's8'], ['x', 'ed/.'], ['x', ''],
];

/** The sandbox forms: absolute, cwd-relative, and from dirfds (mount point, its parent, the sandbox). */
function sandboxForms(call: string, at: boolean): Array<{ name: string; dirfd: string; text(t: string): string }> {
  const forms = [
    { name: 'A', dirfd: 'CWD', prefix: `R/mut/${call}/A/` },
    { name: 'C', dirfd: 'CWD', prefix: `mut/${call}/C/` },
    { name: 'B', dirfd: 'D0', prefix: `mut/${call}/B/` },
    { name: 'E', dirfd: 'D2', prefix: `root/mut/${call}/E/` },
    { name: 'S', dirfd: 'D4', prefix: '' },
  ].slice(0, at ? 5 : 2);
  return forms.map((f) => ({
    name: f.name,
    dirfd: f.dirfd,
    text: (t: string) => (t === '' ? '' : f.prefix + t.replace(/^O\//, `${O(call, f.name)}/`)),
  }));
}

/** The mutating calls by group; each call gets a sandbox per form. */
const MUTATING: Array<{ group: string; calls: string[] }> = [
  { group: 'mkdir, mkdirat, rmdir', calls: ['mkdir', 'mkdirat', 'rmdir'] },
  { group: 'unlink, unlinkat', calls: ['unlink', 'unlinkat'] },
  { group: 'rename, renameat, renameat2', calls: ['rename', 'renameat', 'renameat2'] },
  { group: 'link, linkat', calls: ['link', 'linkat'] },
  { group: 'symlink, symlinkat', calls: ['symlink', 'symlinkat'] },
  { group: 'chmod, fchmodat, fchmodat2', calls: ['chmod', 'fchmodat', 'fchmodat2'] },
  { group: 'chown, lchown, fchownat', calls: ['chown', 'lchown', 'fchownat'] },
  { group: 'utimensat, utimes, utime, futimesat', calls: ['utimensat', 'utimes', 'utime', 'futimesat'] },
  { group: 'truncate', calls: ['truncate'] },
  { group: 'creat, open, openat, openat2 (creating)', calls: ['creat', 'open', 'openat', 'openat2'] },
  { group: 'mknod, mknodat', calls: ['mknod', 'mknodat'] },
  { group: 'setxattr, lsetxattr, removexattr, lremovexattr, setxattrat, removexattrat', calls: ['setxattr', 'lsetxattr', 'removexattr', 'lremovexattr', 'setxattrat', 'removexattrat'] },
  { group: 'bind (then connect)', calls: ['bind'] },
];
const AT_CALLS = new Set(['mkdirat', 'unlinkat', 'renameat', 'renameat2', 'linkat', 'symlinkat', 'fchmodat', 'fchmodat2', 'fchownat', 'utimensat', 'futimesat', 'openat', 'openat2', 'mknodat', 'setxattrat', 'removexattrat']);

/** The cases of one mutating call, form by form, in a fixed order. */
function mutatingCases(group: string, call: string): Case[] {
  const cases: Case[] = [{ group, call: 'setup', ops: [['dirfd', '4', `R/mut/${call}/S`, 'O_RDONLY|O_DIRECTORY']] }];
  for (const form of sandboxForms(call, AT_CALLS.has(call))) {
    const d = form.dirfd;
    const add = (ops: string[][], viewOnly?: string) => cases.push({ group, call, ops, viewOnly });
    const one = (targets: string[], line: (t: string) => string[][]) =>
      targets.filter((t) => t !== '' || d !== 'CWD').forEach((t) => add(line(form.text(t))));
    const pairs = (list: Pair[], line: (a: string, b: string) => string[]) =>
      list.forEach(([a, b, cross]) => add([line(form.text(a), form.text(b))], cross ? 'EXDEV' : undefined));
    switch (call) {
      case 'mkdir': one(CREATE, (t) => [['mkdir', t, '0750']]); break;
      case 'mkdirat': one(CREATE, (t) => [['mkdirat', d, t, '0750']]); break;
      case 'rmdir': one(REMOVE, (t) => [['rmdir', t]]); break;
      case 'unlink': one(REMOVE, (t) => [['unlink', t]]); break;
      case 'unlinkat': for (const f of ['0', 'AT_REMOVEDIR']) one(REMOVE, (t) => [['unlinkat', d, t, f]]); break;
      case 'rename': pairs(RENAMES, (a, b) => ['rename', a, b]); break;
      case 'renameat': pairs(RENAMES, (a, b) => ['renameat', d, a, d, b]); break;
      case 'renameat2':
        pairs(RENAMES, (a, b) => ['renameat2', d, a, d, b, '0']);
        pairs(RENAMES_NOREPLACE, (a, b) => ['renameat2', d, a, d, b, 'RENAME_NOREPLACE']);
        pairs(RENAMES_EXCHANGE, (a, b) => ['renameat2', d, a, d, b, 'RENAME_EXCHANGE']);
        break;
      case 'link': pairs(LINKS, (a, b) => ['link', a, b]); break;
      case 'linkat':
        pairs(LINKS, (a, b) => ['linkat', d, a, d, b, '0']);
        pairs(LINKS_FOLLOW, (a, b) => ['linkat', d, a, d, b, 'AT_SYMLINK_FOLLOW']);
        break;
      case 'symlink':
      case 'symlinkat':
        // the first of the pair is the link's text, not a path of the sandbox
        for (const [target, name] of SYMLINKS) {
          const p = form.text(name);
          if (name === '' && d === 'CWD') continue;
          add([call === 'symlink' ? ['symlink', target, p] : ['symlinkat', target, d, p], ['readlinkat', d, p]]);
        }
        break;
      case 'chmod': one(ATTRS, (t) => [['chmod', t, '0750']]); break;
      case 'fchmodat': one(ATTRS, (t) => [['fchmodat', d, t, '0750']]); break;
      case 'fchmodat2': for (const f of ['0', 'AT_SYMLINK_NOFOLLOW', 'AT_EMPTY_PATH']) one(ATTRS, (t) => [['fchmodat2', d, t, '0705', f]]); break;
      case 'chown': one(ATTRS, (t) => [['chown', t]]); break;
      case 'lchown': one(ATTRS, (t) => [['lchown', t]]); break;
      case 'fchownat': for (const f of ['0', 'AT_SYMLINK_NOFOLLOW', 'AT_EMPTY_PATH']) one(ATTRS, (t) => [['fchownat', d, t, f]]); break;
      case 'utimensat':
        for (const f of ['0', 'AT_SYMLINK_NOFOLLOW']) one(ATTRS, (t) => [['utimensat', d, t, f]]);
        one(ATTRS, (t) => [['utimensat', d, t, '0', 'NOW']]);
        break;
      case 'utimes':
      case 'utime': one(ATTRS, (t) => [[call, t]]); break;
      case 'futimesat': one(ATTRS, (t) => [['futimesat', d, t]]); break;
      case 'truncate': one(ATTRS, (t) => [['truncate', t, '2']]); break;
      case 'creat': one(CREATE, (t) => [['creat', t, '0640']]); break;
      case 'open':
      case 'openat':
        for (const f of ['O_CREAT|O_WRONLY', 'O_CREAT|O_EXCL|O_WRONLY', 'O_CREAT|O_WRONLY|O_NOFOLLOW|O_TRUNC', 'O_TMPFILE|O_WRONLY'])
          one(CREATE, (t) => [call === 'open' ? ['open', t, f, '0640'] : ['openat', d, t, f, '0640']]);
        break;
      case 'openat2': one(CREATE, (t) => [['openat2', d, t, 'O_CREAT|O_WRONLY', '0', '0640']]); break;
      case 'mknod': one(CREATE, (t) => [['mknod', t, 'S_IFIFO|0640']]); break;
      case 'mknodat': one(CREATE, (t) => [['mknodat', d, t, 'S_IFIFO|0640']]); break;
      case 'setxattr':
      case 'lsetxattr': {
        const get = call === 'setxattr' ? 'getxattr' : 'lgetxattr';
        for (const f of ['0', 'XATTR_CREATE', 'XATTR_REPLACE']) one(ATTRS, (t) => [[call, t, 'user.k', `v-${f}`, f], [get, t, 'user.k']]);
        break;
      }
      case 'removexattr':
      case 'lremovexattr': {
        const list = call === 'removexattr' ? 'listxattr' : 'llistxattr';
        one(ATTRS, (t) => [[call, t, 'user.test'], [list, t]]);
        break;
      }
      case 'setxattrat':
        for (const f of ['0', 'AT_SYMLINK_NOFOLLOW'])
          for (const x of ['0', 'XATTR_CREATE']) one(ATTRS, (t) => [['setxattrat', d, t, f, 'user.k', `v-${x}`, x], ['getxattrat', d, t, f, 'user.k']]);
        break;
      case 'removexattrat':
        for (const f of ['0', 'AT_SYMLINK_NOFOLLOW']) one(ATTRS, (t) => [['removexattrat', d, t, f, 'user.test'], ['listxattrat', d, t, f]]);
        break;
      // sun_path holds 107 bytes: no long name
      case 'bind': one(CREATE.filter((t) => t !== N256), (t) => [['bind', t], ['connect', t]]); break;
    }
  }
  return cases;
}

function allGroups(): Group[] {
  return [
    ...readGroups(),
    ...MUTATING.map(({ group, calls }) => ({
      name: group,
      cases: [{ group, call: 'setup', ops: SETUP }, ...calls.flatMap((c) => mutatingCases(group, c))],
    })),
  ];
}

// ---------------------------------------------------------------------------------------------
// Running and comparing

/** One probe line for a side: R and P (whole fields or path prefixes) become its prefixes. */
function render(op: string[], R: string, P: string): string {
  return op
    .map((field, i) => {
      if (i === 0) return field;
      if (field === 'R' || field === 'P') return field === 'R' ? R : P;
      return field.replace(/^R\//, `${R}/`).replace(/^P\//, `${P}/`);
    })
    .join('\t');
}

interface Mismatch {
  /** the group of its it(), or 'tree' for a file outside every sandbox */
  group: string;
  call: string;
  /** a file that differs afterwards, rather than a case */
  file?: boolean;
  text: string;
}

/** The group a sandbox's call belongs to. */
const groupOfCall = (call: string) => MUTATING.find((m) => m.calls.includes(call))?.group ?? 'tree';

/** Builds both sides under W and the probe; returns the side directories. */
function prepare(W: string, probe: string): { native: string; inview: string; treeB: string } {
  const cc = run('gcc', ['-O2', '-Wall', '-Werror', '-o', probe, path.join(ROOT, 'test/fixtures/pathprobe.c')]);
  assert.equal(cc.status, 0, cc.stderr);
  const dirs = { native: path.join(W, 'native'), inview: path.join(W, 'inview'), treeB: path.join(W, 'b/root') };
  const sandboxes = MUTATING.flatMap(({ calls }) => calls.flatMap((c) => sandboxForms(c, AT_CALLS.has(c)).map((f) => [c, f.name] as const)));
  for (const P of [dirs.native, dirs.inview]) {
    const R = `${P}/root`;
    const tree = P === dirs.native ? R : dirs.treeB;
    fs.mkdirSync(tree, { recursive: true });
    fs.mkdirSync(R, { recursive: true });
    build(P, [...OUTSIDE, ...sandboxes.flatMap(([c, f]) => sandboxOutside(c, f))], R, P);
    build(tree, [...treeEntries(), ...sandboxes.flatMap(([c, f]) => sandboxEntries(c, f))], R, P);
    // user.test on a few files, and on those that removexattr removes it from
    const xattrs = [`${tree}/f`, `${tree}/d`];
    for (const [c, f] of sandboxes.filter(([c]) => c.endsWith('removexattr'))) xattrs.push(`${tree}/mut/${c}/${f}/a`, `${tree}/mut/${c}/${f}/dd`, `${P}/out-${c}-${f}/a`);
    spawnSync(probe, { input: xattrs.map((x) => `setxattr\t${x}\tuser.test\tvalue\t0\n`).join('') });
  }
  return dirs;
}

/** The file-by-file state of a tree: type, permissions, size, links, link text, fixed mtime. */
function dump(dir: string, normalize: (s: string) => string, rel = '', into = new Map<string, string>()): Map<string, string> {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(dir, rel)).sort();
  } catch {
    into.set(`${rel}/*`, 'unreadable'); // noread, for a user without CAP_DAC_READ_SEARCH
    return into;
  }
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    const st = fs.lstatSync(path.join(dir, r));
    const what = st.isDirectory()
      ? 'dir'
      : st.isSymbolicLink()
        ? `-> ${normalize(fs.readlinkSync(path.join(dir, r)))}`
        : st.isFIFO()
          ? 'fifo'
          : st.isSocket()
            ? 'sock'
            : `file size=${st.size}`;
    const mtime = Math.floor(st.mtimeMs / 1000) === FIXED_MTIME ? ' mtime=fixed' : '';
    into.set(r, `${what} ${(st.mode & 0o7777).toString(8)} nlink=${st.nlink}${mtime}`);
    if (st.isDirectory()) dump(dir, normalize, r, into);
  }
  return into;
}

describe('path resolution table: a vufs bind of a tree vs the tree itself', function () {
  this.timeout(180_000);
  const groups = allGroups();
  const mismatches: Mismatch[] = [];
  let W = '';

  before(function () {
    W = tmpdir('umvu-pathtable-');
    const probe = path.join(W, 'pathprobe');
    const { native, inview, treeB } = prepare(W, probe);

    // one op file per group and side; natively the view-only cases are skipped
    const opsFile = (i: number, side: string) => path.join(W, 'ops', `${String(i).padStart(2, '0')}.${side}`);
    fs.mkdirSync(path.join(W, 'ops'));
    for (const [side, P] of [['native', native], ['inview', inview]]) {
      groups.forEach((g, i) => {
        const ops = g.cases.filter((c) => side === 'inview' || !c.viewOnly).flatMap((c) => c.ops);
        fs.writeFileSync(opsFile(i, side), ops.map((op) => render(op, `${P}/root`, P) + '\n').join(''));
      });
    }
    const loop = (side: string) => `umask 022; cd ${W}; for f in ops/*.${side}; do ${probe} < $f > $f.out; done`;
    const t0 = Date.now();
    const nat = run('bash', ['-c', loop('native')], { timeout: 120_000 });
    assert.equal(nat.status, 0, nat.stderr);
    const t1 = Date.now();
    const view = umvuBash(`set -e; vu_insmod vufs; vumount -t vufs ${treeB} ${inview}/root; ${loop('inview')}`, [], { timeout: 120_000 });
    assert.equal(view.status, 0, view.stderr);
    console.log(`      (probe runs: native ${t1 - t0} ms, umvu ${Date.now() - t1} ms)`);

    // the outputs, line by line, without the side's prefix
    const normalize = (s: string) => s.replaceAll(native, '$P').replaceAll(inview, '$P');
    groups.forEach((g, i) => {
      const out = (side: string) => fs.readFileSync(`${opsFile(i, side)}.out`, 'utf8').split('\n').slice(0, -1).map(normalize);
      const nat = out('native');
      const vw = out('inview');
      // a probe that executed nothing (or stopped early) must not pass
      const nativeOps = g.cases.filter((c) => !c.viewOnly).reduce((n, c) => n + c.ops.length, 0);
      assert.equal(nat.length, nativeOps, `${g.name}: the native probe printed ${nat.length} lines for ${nativeOps} operations`);
      let n = 0;
      let v = 0;
      let succeeded = false;
      for (const c of g.cases) {
        const got = vw.slice(v, (v += c.ops.length));
        const want = c.viewOnly ? [c.viewOnly] : nat.slice(n, (n += c.ops.length));
        succeeded ||= c.call !== 'setup' && !c.viewOnly && want.some((l) => l.startsWith('ok'));
        if (got.join('\n') === want.join('\n')) continue;
        const label = c.viewOnly ? 'expected:' : 'native:  ';
        const lines = c.ops.map((op, k) => `    ${render(op, '$P/root', '$P').replaceAll('\t', ' ')}\n      ${label} ${want[k]}\n      view:     ${got[k] ?? '(no output)'}`);
        mismatches.push({ group: g.name, call: c.call, text: `${c.call}:\n${lines.join('\n')}` });
      }
      assert.ok(succeeded, `${g.name}: natively no operation succeeded (is the tree there?)`);
    });

    // the trees afterwards, file by file: tree B stands for root, and nothing may appear in the
    // mount point's own directory or beside tree B
    const nativeTree = dump(native, normalize);
    const viewTree = dump(inview, normalize);
    for (const k of viewTree.keys()) if (k.startsWith('root/')) viewTree.delete(k);
    for (const [k, v] of dump(treeB, normalize)) viewTree.set(`root/${k}`, v);
    for (const k of fs.readdirSync(`${inview}/root`)) viewTree.set(`(in the mount point directory) ${k}`, 'present');
    for (const k of fs.readdirSync(path.dirname(treeB))) if (k !== 'root') viewTree.set(`(beside tree B) ${k}`, 'present');
    for (const k of new Set([...nativeTree.keys(), ...viewTree.keys()])) {
      const a = nativeTree.get(k) ?? '(absent)';
      const b = viewTree.get(k) ?? '(absent)';
      if (k === 'root' || a === b) continue;
      const call = /^root\/mut\/(\w+)\//.exec(k)?.[1] ?? /^out-(\w+)-\w(\/|$)/.exec(k)?.[1] ?? 'tree';
      mismatches.push({ group: groupOfCall(call), call, file: true, text: `${call} (the tree afterwards): $P/${k}\n      native:   ${a}\n      view:     ${b}` });
    }
  });

  after(() => {
    // a mode-0 directory stops the removal of the scratch directory by a user without CAP_DAC_OVERRIDE
    for (const d of ['native/root/noread', 'b/root/noread']) if (W && fs.existsSync(path.join(W, d))) fs.chmodSync(path.join(W, d), 0o755);
  });

  const report = (list: Mismatch[]) =>
    `${list.length} case(s) differ in the view:\n${list
      .slice(0, 30)
      .map((m) => m.text)
      .join('\n')}${list.length > 30 ? `\n... and ${list.length - 30} more` : ''}`;

  for (const g of groups) {
    // a group of known gaps only has its pending tests below
    const asserted = g.cases.filter((c) => c.call !== 'setup' && !(c.call in KNOWN_GAPS)).length;
    if (asserted === 0) continue;
    it(`${g.name}: ${asserted} cases`, () => {
      const failed = mismatches.filter((m) => m.group === g.name && !(m.call in KNOWN_GAPS));
      assert.ok(failed.length === 0, report(failed));
    });
  }

  it('leaves the rest of the trees alike: the read-only tree, the mount point directory, beside tree B', () => {
    const failed = mismatches.filter((m) => m.group === 'tree');
    assert.ok(failed.length === 0, report(failed));
  });

  describe('known gaps (pending until the path engine serves them)', () => {
    for (const [call, why] of Object.entries(KNOWN_GAPS)) {
      const count = groups.flatMap((g) => g.cases).filter((c) => c.call === call).length;
      it(`${call}: ${count} cases (${why})`, function () {
        const differing = mismatches.filter((m) => m.call === call);
        if (differing.length === 0) assert.fail(`${call} now behaves as natively in every case: remove it from KNOWN_GAPS`);
        const files = differing.filter((m) => m.file).length;
        console.log(`      ${call}: ${differing.length - files} of ${count} cases and ${files} files afterwards differ, e.g. ${differing[0].text.replace(/\n/g, '\n      ')}`);
        this.skip();
      });
    }
  });
});
