/**
 * vuname: uname(1) for views. Inside umvu the values come from the hypervisor, plus the
 * server id (umvu's pid) and the view name; `vuname NAME` sets the view name.
 */
import os from 'node:os';
import { getInfo, insideView, setName, type VuInfo } from '@vuos/core/vulib';
import { fail, perror, usageExit } from '../cmdlib.js';

const USAGE = `Usage: vuname [OPTION]...
       vuname NAME          set the name of the view
Print system and view information (as uname, plus the view's server id and name).
  -a, --all                print all information, in this order, except -p and -i if unknown
  -s, --kernel-name        the kernel name
  -n, --nodename           the network node hostname
  -r, --kernel-release     the kernel release
  -v, --kernel-version     the kernel version
  -m, --machine            the machine hardware name
  -p, --processor          the processor type
  -i, --hardware-platform  the hardware platform
  -o, --operating-system   the operating system (GNU/Linux/VUOS inside a view)
  -U, --serverid           the server id of the view (umvu's pid)
  -V, --viewid, --viewname the name of the view (-N is accepted too)
  -P, --prompt             a name for shell prompts: the view name, or nodename[serverid]
  -x, --nouname            fail outside a view instead of behaving as uname
  -q, --quiet              no error message outside a view
      --help               print this help
      --version            print the version
`;

const LONG: Record<string, string> = {
  '--all': 'a',
  '--kernel-name': 's',
  '--nodename': 'n',
  '--kernel-release': 'r',
  '--kernel-version': 'v',
  '--machine': 'm',
  '--processor': 'p',
  '--hardware-platform': 'i',
  '--operating-system': 'o',
  '--serverid': 'U',
  '--viewid': 'V',
  '--viewname': 'V',
  '--prompt': 'P',
  '--nouname': 'x',
  '--quiet': 'q',
};
const ORDER = 'snrvmpioUV';

const args = process.argv.slice(2);
const opts = new Set<string>();
const operands: string[] = [];
for (const a of args) {
  if (a === '--help') usageExit(USAGE, 0);
  if (a === '--version') {
    process.stdout.write('vuname (vuos-ts) 0.1.0\n');
    process.exit(0);
  }
  if (a.startsWith('--')) {
    if (!LONG[a]) fail('vuname', `unrecognized option '${a}'`, USAGE);
    opts.add(LONG[a]);
  } else if (a.startsWith('-') && a.length > 1) {
    for (const c of a.slice(1)) {
      const o = c === 'N' ? 'V' : c;
      if (!'asnrvmpioUVPxq'.includes(o)) fail('vuname', `invalid option -- '${c}'`, USAGE);
      opts.add(o);
    }
  } else operands.push(a);
}

const inside = insideView();
if (operands.length > 0) {
  if (operands.length > 1 || opts.size > 0) fail('vuname', `extra operand '${operands[operands.length - 1]}'`, USAGE);
  if (!inside) fail('vuname', 'setting the view name works only inside a view', USAGE);
  try {
    setName(operands[0]);
    process.exit(0);
  } catch (e) {
    perror('vuname', e);
    process.exit(1);
  }
}
if (!inside && opts.has('x')) {
  if (!opts.has('q')) process.stderr.write('vuname: not inside a vuos view\n');
  process.exit(1);
}

const info: VuInfo = inside
  ? getInfo()
  : {
      sysname: os.type(),
      nodename: os.hostname(),
      release: os.release(),
      version: os.version(),
      machine: os.machine(),
      domainname: '',
      serverid: '',
      name: '',
    };

if (opts.has('P')) {
  process.stdout.write(`${!inside ? info.nodename : info.name || `${info.nodename}[${info.serverid}]`}\n`);
  process.exit(0);
}

const value: Record<string, string> = {
  s: info.sysname,
  n: info.nodename,
  r: info.release,
  v: info.version,
  m: info.machine,
  p: 'unknown',
  i: 'unknown',
  o: inside ? 'GNU/Linux/VUOS' : 'GNU/Linux',
  U: info.serverid,
  V: info.name,
};
const wanted = [...ORDER].filter((c) => {
  if (opts.has('a')) return !(c === 'p' || c === 'i') || opts.has(c);
  return opts.has(c);
});
if (wanted.length === 0) wanted.push('s');
// outside a view there is no server id nor view name; an unnamed view prints no name with -a
const fields = wanted
  .filter((c) => (inside || (c !== 'U' && c !== 'V')) && !(c === 'V' && opts.has('a') && !value.V))
  .map((c) => value[c]);
process.stdout.write(fields.join(' ') + '\n');
