/**
 * vusu [options] [-] [user]: su for views (VUOS' vusu). With unrealuidgid loaded it takes the
 * user's ids (setresgid, setgroups, setresuid: virtual, no password) and runs a shell; outside
 * a view it runs su with the same arguments.
 */
import fs from 'node:fs';
import path from 'node:path';
import { native } from '@vuos/core';
import { execvp, insideView, strerror } from '@vuos/core/vulib';
import { perror, usageExit } from '../cmdlib.js';

const USAGE = `Usage: vusu [options] [-] [user]
Change the user id in a view (needs the unrealuidgid module); root by default.
  -c, --command CMD               run CMD with the shell's -c
  -, -l, --login                  a login shell: a clean environment, the user's home
  -m, -p, --preserve-environment  keep the environment (HOME, SHELL, USER, LOGNAME...)
  -s, --shell SHELL               run SHELL
  -h, --help                      print this help
`;
const SYS_setgroups = 116;
const SYS_setresuid = 117;
const SYS_setresgid = 119;
/** what a login shell keeps of the environment */
const LOGIN_KEEP = ['TERM', 'COLORTERM', 'DISPLAY', 'XAUTHORITY'];

const args = process.argv.slice(2);
if (!insideView()) {
  const err = execvp('su', ['su', ...args]);
  perror('su', err);
  process.exit(1);
}

let command: string | undefined;
let login = false;
let preserve = false;
let shell: string | undefined;
let user = 'root';
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => (i + 1 < args.length ? args[++i] : usageExit(USAGE, 1));
  if (a === '-h' || a === '--help') usageExit(USAGE, 0);
  else if (a === '-' || a === '-l' || a === '--login') login = true;
  else if (a === '-m' || a === '-p' || a === '--preserve-environment') preserve = true;
  else if (a === '-c' || a === '--command') command = value();
  else if (a.startsWith('--command=')) command = a.slice(10);
  else if (a === '-s' || a === '--shell') shell = value();
  else if (a.startsWith('--shell=')) shell = a.slice(8);
  else if (a.startsWith('-')) usageExit(USAGE, 1);
  else user = a;
}

/** name:x:uid:gid:gecos:home:shell of user (a name or a number), from /etc/passwd */
function passwdEntry(who: string): string[] | undefined {
  const lines = fs.readFileSync('/etc/passwd', 'utf8').split('\n');
  return lines.map((l) => l.split(':')).find((f) => f.length >= 7 && (f[0] === who || (/^\d+$/.test(who) && f[2] === who)));
}

/** the user's groups: its primary one and those /etc/group lists it in */
function groupsOf(name: string, gid: number): number[] {
  const groups = new Set([gid]);
  for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f.length >= 4 && f[3].split(',').includes(name)) groups.add(Number(f[2]));
  }
  return [...groups];
}

/** KEY VALUE of /etc/login.defs */
function loginDefs(key: string): string | undefined {
  try {
    const m = new RegExp(`^\\s*${key}\\s+(\\S+)`, 'm').exec(fs.readFileSync('/etc/login.defs', 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}

const entry = passwdEntry(user);
if (!entry) {
  process.stderr.write(`Unknown id: ${user}\n`);
  process.exit(1);
}
const [name, , uidText, gidText, , home, passwdShell] = entry;
const [uid, gid] = [Number(uidText), Number(gidText)];

const groups = groupsOf(name, gid);
const list = Buffer.alloc(4 * groups.length);
groups.forEach((g, i) => list.writeUInt32LE(g, 4 * i));
for (const r of [native.syscall(SYS_setresgid, gid, gid, gid), native.syscall(SYS_setgroups, groups.length, list), native.syscall(SYS_setresuid, uid, uid, uid)]) {
  if (r < 0) {
    process.stderr.write(`vusu: ${strerror(-r)}\n`);
    process.exit(1);
  }
}

const theShell = shell ?? (preserve ? process.env.SHELL : undefined) ?? (passwdShell || '/bin/sh');
let env: NodeJS.ProcessEnv = { ...process.env };
// (-m with -l keeps everything, as VUOS' vusu does)
if (login && !preserve) env = Object.fromEntries(LOGIN_KEEP.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
if (!preserve) {
  const pathDef = (uid === 0 ? loginDefs('ENV_SUPATH') : loginDefs('ENV_PATH'))?.replace(/^PATH=/, '');
  Object.assign(env, { HOME: home, SHELL: theShell, USER: name, LOGNAME: name, PATH: pathDef ?? (uid === 0 ? '/sbin:/bin:/usr/sbin:/usr/bin' : '/bin:/usr/bin') });
  delete env.IFS;
}
if (login) {
  try {
    process.chdir(home);
  } catch (e) {
    // the home cannot be entered: / only if login.defs says DEFAULT_HOME yes
    let ok = false;
    if (loginDefs('DEFAULT_HOME') === 'yes') {
      try {
        process.chdir('/');
        ok = true;
      } catch {
        // reported below
      }
    }
    if (!ok) {
      process.stderr.write(`vusu: ${home}: ${strerror(-((e as NodeJS.ErrnoException).errno ?? -2))}\n`);
      process.exit(1);
    }
  }
}
const argv0 = login ? `-${path.basename(theShell)}` : theShell;
const err = execvp(theShell, [argv0, ...(command !== undefined ? ['-c', command] : [])], env);
perror(theShell, err);
process.exit(1);
