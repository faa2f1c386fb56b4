import { lsmod } from '@vuos/core/vulib';
import { perror, requireView, splitArgs, usageExit } from '../cmdlib.js';

const USAGE = `Usage: vu_lsmod
List the loaded umvu modules: "name: description", in load order.
  -h, --help        print this help
`;

const { flags, operands } = splitArgs(process.argv.slice(2), { '-h': 'h', '--help': 'h' }, USAGE, 'vu_lsmod');
if (flags.has('h')) usageExit(USAGE, 0);
requireView(USAGE);
if (operands.length > 0) usageExit(USAGE, 2);
try {
  process.stdout.write(lsmod());
} catch (e) {
  perror('vu_lsmod', e);
  process.exit(1);
}
