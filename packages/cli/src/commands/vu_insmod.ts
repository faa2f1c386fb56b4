import { insmod } from '@vuos/core/vulib';
import { forEachName, requireView, splitArgs, usageExit } from '../cmdlib.js';

const USAGE = `Usage: vu_insmod [-p|--permanent] module [module ...]
Load umvu modules: a short name (vufuse), an npm package name, or a path to a .js file.
  -p, --permanent   the modules cannot be removed
  -h, --help        print this help
`;

const { flags, operands } = splitArgs(
  process.argv.slice(2),
  { '-p': 'p', '--permanent': 'p', '-h': 'h', '--help': 'h' },
  USAGE,
  'vu_insmod',
);
if (flags.has('h')) usageExit(USAGE, 0);
requireView(USAGE);
if (operands.length === 0) usageExit(USAGE, 2);
process.exit(forEachName(operands, (name) => insmod(name, flags.has('p'))));
