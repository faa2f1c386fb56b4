/** vuumount: umount2(2) wrapper. Unlike VUOS' vuumount, a failure exits non-zero. */
import { umount2 } from '@vuos/core/vulib';
import { perror, requireView, splitArgs, usageExit } from '../cmdlib.js';

const USAGE = `Usage: vuumount [-f] [-l] TARGET
Unmount the virtual file system (or device, or stack) mounted on TARGET.
  -f, --force            force the unmount (MNT_FORCE)
  -l, --lazy, -d, --detach-loop
                         detach now, release when no longer in use (MNT_DETACH)
  -h, --help             print this help
`;
const MNT_FORCE = 1;
const MNT_DETACH = 2;

const { flags, operands } = splitArgs(
  process.argv.slice(2),
  { '-f': 'f', '--force': 'f', '-l': 'l', '--lazy': 'l', '-d': 'l', '--detach-loop': 'l', '-h': 'h', '--help': 'h' },
  USAGE,
  'vuumount',
);
if (flags.has('h')) usageExit(USAGE, 0);
requireView(USAGE);
if (operands.length !== 1) usageExit(USAGE, 2);
try {
  umount2(operands[0], (flags.has('f') ? MNT_FORCE : 0) | (flags.has('l') ? MNT_DETACH : 0));
} catch (e) {
  perror('vuumount', e);
  process.exit(1);
}
