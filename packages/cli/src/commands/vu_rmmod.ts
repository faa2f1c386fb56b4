import { rmmod } from '@vuos/core/vulib';
import { forEachName, requireView, splitArgs, usageExit } from '../cmdlib.js';

const USAGE = `Usage: vu_rmmod module [module ...]
Remove umvu modules (by the names vu_lsmod shows).
  -h, --help        print this help
`;

const { flags, operands } = splitArgs(process.argv.slice(2), { '-h': 'h', '--help': 'h' }, USAGE, 'vu_rmmod');
if (flags.has('h')) usageExit(USAGE, 0);
requireView(USAGE);
if (operands.length === 0) usageExit(USAGE, 2);
process.exit(forEachName(operands, (name) => rmmod(name)));
