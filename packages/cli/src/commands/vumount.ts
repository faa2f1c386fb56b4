/**
 * vumount: a thin wrapper around mount(2). Option words that are mount flags become flags;
 * every other word (rw+, size=10M, except=/spool, cow...) goes to the module in the data string.
 * Unlike VUOS' vumount, a failure exits non-zero.
 */
import fs from 'node:fs';
import path from 'node:path';
import { mount } from '@vuos/core/vulib';
import { fail, perror, requireView, usageExit } from '../cmdlib.js';

const USAGE = `Usage: vumount [-t TYPE] [-o OPTIONS] [-r|-w] [-B|-M|-R] SOURCE TARGET
Mount SOURCE on TARGET in this view (the module whose name prefixes TYPE serves it).
  -t, --types TYPE              filesystem type, e.g. vufuseext2, vufs, vudevpartx
  -o, --options LIST            comma-separated options (default: defaults)
  -r, --read-only               same as -o ro
  -w, --rw, --read-write        same as -o rw
  -B, --bind                    same as -o bind
  -M, --move                    same as -o move
  -R, --rbind                   same as -o rbind
  -h, --help                    print this help
`;

const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, SYNCHRONOUS: 16, REMOUNT: 32, MANDLOCK: 64,
  DIRSYNC: 128, NOATIME: 1024, NODIRATIME: 2048, BIND: 4096, MOVE: 8192, REC: 16384,
  SILENT: 32768, POSIXACL: 1 << 16, RELATIME: 1 << 21, I_VERSION: 1 << 23,
  STRICTATIME: 1 << 24, LAZYTIME: 1 << 25,
};
/** word -> [flags to set, flags to clear] */
const WORDS: Record<string, [number, number]> = {
  defaults: [0, 0],
  user: [MS.NOSUID | MS.NODEV | MS.NOEXEC, 0],
  group: [MS.NOSUID | MS.NODEV, 0],
  ro: [MS.RDONLY, 0],
  rw: [0, MS.RDONLY],
  suid: [0, MS.NOSUID],
  nosuid: [MS.NOSUID, 0],
  dev: [0, MS.NODEV],
  nodev: [MS.NODEV, 0],
  exec: [0, MS.NOEXEC],
  noexec: [MS.NOEXEC, 0],
  async: [0, MS.SYNCHRONOUS],
  sync: [MS.SYNCHRONOUS, 0],
  remount: [MS.REMOUNT, 0],
  mand: [MS.MANDLOCK, 0],
  nomand: [0, MS.MANDLOCK],
  dirsync: [MS.DIRSYNC, 0],
  atime: [0, MS.NOATIME],
  noatime: [MS.NOATIME, 0],
  diratime: [0, MS.NODIRATIME],
  nodiratime: [MS.NODIRATIME, 0],
  bind: [MS.BIND, 0],
  move: [MS.MOVE, 0],
  rbind: [MS.BIND | MS.REC, 0],
  silent: [MS.SILENT, 0],
  loud: [0, MS.SILENT],
  acl: [MS.POSIXACL, 0],
  relatime: [MS.RELATIME, 0],
  norelatime: [0, MS.RELATIME],
  iversion: [MS.I_VERSION, 0],
  noiversion: [0, MS.I_VERSION],
  strictatime: [MS.STRICTATIME, 0],
  nostrictatime: [0, MS.STRICTATIME],
  lazytime: [MS.LAZYTIME, 0],
  nolazytime: [0, MS.LAZYTIME],
};
const SHORT_WORD: Record<string, string> = { r: 'ro', w: 'rw', B: 'bind', M: 'move', R: 'rbind' };
const LONG_WORD: Record<string, string> = { '--read-only': 'ro', '--rw': 'rw', '--read-write': 'rw', '--bind': 'bind', '--move': 'move', '--rbind': 'rbind' };

const args = process.argv.slice(2);
let type = '';
const words: string[] = [];
const operands: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    if (i + 1 >= args.length) fail('vumount', `option '${a}' requires an argument`, USAGE);
    return args[++i];
  };
  if (a === '-h' || a === '--help') usageExit(USAGE, 0);
  else if (a === '-t' || a === '--types') type = value();
  else if (a === '-o' || a === '--options') words.push(...value().split(','));
  else if (a.startsWith('-t') && a.length > 2) type = a.slice(2);
  else if (a.startsWith('-o') && a.length > 2) words.push(...a.slice(2).split(','));
  else if (LONG_WORD[a]) words.push(LONG_WORD[a]);
  else if (a.startsWith('-') && a.length > 1 && !a.startsWith('--') && [...a.slice(1)].every((c) => SHORT_WORD[c]))
    words.push(...[...a.slice(1)].map((c) => SHORT_WORD[c]));
  else if (a.startsWith('-') && a.length > 1) fail('vumount', `invalid option '${a}'`, USAGE);
  else operands.push(a);
}
requireView(USAGE);
if (operands.length !== 2) usageExit(USAGE, 2);

let flags = MS.SILENT;
const data: string[] = [];
for (const w of words.filter(Boolean)) {
  const f = WORDS[w];
  if (f) flags = (flags | f[0]) & ~f[1];
  else data.push(w);
}
// A relative source that names an existing file is made absolute: the module does not share
// the caller's cwd. Other sources (none, vxvde://...) pass unchanged.
let [source, target] = operands;
if (!source.startsWith('/') && !source.includes(':') && fs.existsSync(source)) source = path.resolve(source);
try {
  mount(source, target, type, flags, data.join(','));
} catch (e) {
  perror('vumount', e);
  process.exit(1);
}
