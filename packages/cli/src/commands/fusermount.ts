/**
 * fusermount (and fusermount3) for views: `fusermount -u [-z] [-q] MOUNTPOINT` unmounts a FUSE
 * file system of the view (the real fusermount is setuid root, which a view's no_new_privs
 * withholds, and checks the mount in a private mount namespace of the host). Everything else,
 * and any use outside a view, runs the real program.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { insideView, umount2 } from '@vuos/core/vulib';
import { perror } from '../cmdlib.js';

const MNT_DETACH = 2;
const name = path.basename(process.argv[1]);
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => /^-[uzq]+$/.test(a)).flatMap((a) => [...a.slice(1)]));
const operands = args.filter((a) => !a.startsWith('-'));

if (insideView() && flags.has('u') && operands.length === 1) {
  try {
    umount2(operands[0], flags.has('z') ? MNT_DETACH : 0);
  } catch (e) {
    if (!flags.has('q')) perror(`${name}: failed to unmount ${path.resolve(operands[0])}`, e);
    process.exit(1);
  }
} else {
  // the first fusermount on the PATH after this one
  const self = path.dirname(process.argv[1]);
  const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(':').filter((d) => d && path.resolve(d) !== self);
  try {
    execFileSync(name, args, { stdio: 'inherit', env: { ...process.env, PATH: dirs.join(':') } });
  } catch (e) {
    process.exit((e as { status?: number }).status ?? 1);
  }
}
