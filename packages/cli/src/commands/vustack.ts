/**
 * vustack [-h] [-v] [-s | -f families] stack command [args]: runs command with the network
 * stack mounted at `stack` (vunet) as its default for the given address families (all the
 * stack serves, by default), as VUOS' vustack: the choice is per process and inherited.
 */
import fs from 'node:fs';
import { execvp, insideView, msocket, strerror } from '@vuos/core/vulib';
import { NOT_IN_VIEW, perror, usageExit } from '../cmdlib.js';

/** the stat type of a stack (VUOS' S_IFSTACK) */
const S_IFSTACK = 0o160000;
const S_IFMT = 0o170000;
const SOCK_DEFAULT = 0;
const SOCK_PROBE = -1;
const EINVAL = 22;

/** The address families by number, named as PF_* lowercased (0 unspec .. 45 mctp). */
const NAMES = [
  'unspec', 'local', 'inet', 'ax25', 'ipx', 'appletalk', 'netrom', 'bridge', 'atmpvc', 'x25', 'inet6', 'rose', 'decnet',
  'netbeui', 'security', 'key', 'netlink', 'packet', 'ash', 'econet', 'atmsvc', 'rds', 'sna', 'irda', 'pppox', 'wanpipe',
  'llc', 'ib', 'mpls', 'can', 'tipc', 'bluetooth', 'iucv', 'rxrpc', 'isdn', 'phonet', 'ieee802154', 'caif', 'alg', 'nfc',
  'vsock', 'kcm', 'qipcrtr', 'smc', 'xdp', 'mctp',
];
const MAX_FAMILY = 56;
const ALIASES: Record<string, string[]> = {
  ip: ['inet', 'inet6', 'netlink', 'packet'],
  ipv4: ['inet'],
  ip4: ['inet'],
  ipv6: ['inet6'],
  ip6: ['inet6'],
  bt: ['bluetooth'],
  ir: ['irda'],
};

const USAGE = `Usage: vustack [options] stack command [args]
Run command with the network stack mounted at stack (vunet) as its default.
  -f, --family, --families LIST   only these address families (comma separated names or
                                  numbers; aliases: ip = inet,inet6,netlink,packet; ipv4, ip4;
                                  ipv6, ip6; bt; ir)
  -s, --supported                 the families the stack supports
  -v, --verbose                   say which families use the stack
  -h, --help                      print this help
`;

function fail(message: string): never {
  process.stderr.write(`vustack: ${message}\n`);
  process.exit(1);
}

function familyNumbers(list: string): number[] {
  const out: number[] = [];
  for (const word of list.split(',').filter(Boolean)) {
    const names = ALIASES[word] ?? [word];
    for (const name of names) {
      const n = /^\d+$/.test(name) ? Number(name) : NAMES.indexOf(name);
      if (!(n >= 1 && n <= MAX_FAMILY)) fail(`unknown protocol family ${word}`);
      out.push(n);
    }
  }
  return out;
}

const args = process.argv.slice(2);
let families: number[] | undefined;
let supported = false;
let verbose = false;
let help = false;
const addFamilies = (value: string | undefined) => {
  if (value === undefined) usageExit(USAGE, 2);
  families = [...(families ?? []), ...familyNumbers(value)];
};
let i = 0;
for (; i < args.length && args[i].startsWith('-') && args[i] !== '-'; i++) {
  const a = args[i];
  if (a === '--') {
    i++;
    break;
  }
  if (a.startsWith('--')) {
    const [name, inline] = a.split(/=(.*)/s, 2);
    if (name === '--help') help = true;
    else if (name === '--verbose') verbose = true;
    else if (name === '--supported') supported = true;
    else if (name === '--family' || name === '--families') addFamilies(inline ?? args[++i]);
    else usageExit(USAGE, 2);
    continue;
  }
  // grouped short options, as getopt: -sv, -vf inet
  for (let k = 1; k < a.length; k++) {
    const c = a[k];
    if (c === 'h') help = true;
    else if (c === 'v') verbose = true;
    else if (c === 's') supported = true;
    else if (c === 'f') {
      addFamilies(a.slice(k + 1) || args[++i]);
      break;
    } else usageExit(USAGE, 2);
  }
}
if (help) {
  // -h -v: the families and aliases too
  const list = verbose
    ? `Address families:\n${NAMES.slice(1).map((n, f) => ` ${n}(${f + 1})`).join('')}\nMax family number ${MAX_FAMILY}\nAliases:\n${Object.entries(ALIASES).map(([a, l]) => ` ${a} = ${l.join(',')}`).join('\n')}\n`
    : '';
  process.stdout.write(USAGE + list);
  process.exit(0);
}
const [stack, ...command] = args.slice(i);
if (!stack || command.length === 0) usageExit(USAGE, 2);
if (!insideView()) fail(NOT_IN_VIEW.replace('This', 'vustack'));

let st: fs.Stats;
try {
  st = fs.statSync(stack);
} catch (e) {
  perror(stack, new Error(strerror(-((e as NodeJS.ErrnoException).errno ?? -2))));
  process.exit(1);
}
if ((st.mode & S_IFMT) !== S_IFSTACK) {
  perror(stack, new Error('Operation not supported'));
  process.exit(1);
}

try {
  if (supported) {
    families = [];
    for (let f = 1; f <= MAX_FAMILY; f++) {
      try {
        msocket(stack, f, SOCK_PROBE, 0);
        families.push(f);
      } catch (e) {
        if ((e as { errno?: number }).errno === EINVAL) families.push(f);
      }
    }
  }
  if (families === undefined) msocket(stack, 0, SOCK_DEFAULT, 0);
  else for (const f of families) msocket(stack, f, SOCK_DEFAULT, 0);
} catch (e) {
  perror('vustack: msocket', e);
  process.exit(1);
}
if (verbose) {
  if (families === undefined) process.stderr.write(`Using ${stack} for ALL address families\n`);
  else process.stderr.write(`Using ${stack} for the following address families:\n${families.map((f) => ` ${NAMES[f] ?? f}(${f})`).join('')}\n`);
}
const err = execvp(command[0], command);
perror(command[0], err);
process.exit(err.errno === 2 ? 127 : 126);
