#!/usr/bin/env node
/**
 * umvu [options] command [args]: run command in a partial virtual machine (a view).
 * Options as VUOS' getopt string "+hxNSl:s:f:V:o:d:D:" plus long forms; the first
 * non-option argument starts the command, so the command's own options are never parsed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hypervisor } from '@vuos/core';
import { inheritedFds } from '@vuos/core/vulib';
import { native, VIEW_LOST } from '@vuos/core';

const USAGE = `Usage: umvu [options] command [args]
Run command in a partial virtual machine (VUOS view); load modules with vu_insmod.
  -h, --help              print this help and exit
  -x, --nonesting         modules' own file access is not virtualized
  -S, --noseccomp         no native fast path: every notified syscall goes to the hypervisor
      --seccomp           use the native fast path (the default)
      --stdio-devices     a virtual device may become fd 0, 1 or 2 (dd if=/dev/hda1, cat > /dev/hda1);
                          their reads and writes then all cost a round trip to umvu
  -f, --rc FILE           run FILE instead of /etc/vurc and ~/.vurc
  -N, --norc              run no rc file
  -V, --vu_name NAME      name of the view (see vuname)
  -o, --output FILE       write log messages to FILE
  -l, --loglevel N        console log level 0..7 (0 emerg .. 7 debug; default 4)
  -s, --syslog N          also send messages up to level N to syslog
  -d, --debugtags TAGS    enable debug tags from the start (e.g. -d s logs syscalls)
  -D, --debugcols SPEC    debug colors, e.g. -D p:r -D c:g# (see vudebug)
`;

interface Options {
  nonesting: boolean;
  noFastPath: boolean;
  stdioDevices: boolean;
  rc?: string;
  norc: boolean;
  name?: string;
  output?: string;
  loglevel?: number;
  syslog?: number;
  debugtags: string[];
  debugcols: string[];
  command: string[];
  /** index in the arguments where the command starts */
  commandIndex: number;
}

const LONG: Record<string, string> = {
  help: 'h',
  nonesting: 'x',
  noseccomp: 'S',
  rc: 'f',
  norc: 'N',
  vu_name: 'V',
  output: 'o',
  loglevel: 'l',
  syslog: 's',
  debugtags: 'd',
  debugcols: 'D',
};
const WITH_ARG = new Set(['f', 'V', 'o', 'l', 's', 'd', 'D']);

function fail(message: string): never {
  process.stderr.write(`umvu: ${message}\n${USAGE}`);
  process.exit(1);
}

function parseLevel(v: string, what: string): number {
  if (!/^[0-7]$/.test(v)) fail(`invalid ${what} '${v}' (expected 0..7)`);
  return Number(v);
}

export function parseOptions(argv: string[]): Options {
  const o: Options = { nonesting: false, noFastPath: false, stdioDevices: false, norc: false, debugtags: [], debugcols: [], command: [], commandIndex: 0 };
  let i = 0;
  const set = (opt: string, value: string | undefined) => {
    switch (opt) {
      case 'h':
        process.stdout.write(USAGE);
        process.exit(0);
      case 'x':
        o.nonesting = true;
        break;
      case 'S':
        o.noFastPath = true;
        break;
      case 'seccomp':
        o.noFastPath = false;
        break;
      case 'stdio-devices':
        o.stdioDevices = true;
        break;
      case 'N':
        o.norc = true;
        break;
      case 'f':
        o.rc = value;
        break;
      case 'V':
        o.name = value;
        break;
      case 'o':
        o.output = value;
        break;
      case 'l':
        o.loglevel = parseLevel(value!, 'log level');
        break;
      case 's':
        o.syslog = parseLevel(value!, 'syslog level');
        break;
      case 'd':
        o.debugtags.push(value!);
        break;
      case 'D':
        o.debugcols.push(value!);
        break;
    }
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
      const opt = name === 'seccomp' || name === 'stdio-devices' ? name : LONG[name];
      if (!opt) fail(`unrecognized option '${a}'`);
      let value = inline;
      if (WITH_ARG.has(opt) && value === undefined) {
        if (++i >= argv.length) fail(`option '${a}' requires an argument`);
        value = argv[i];
      }
      set(opt, value);
      continue;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let k = 1; k < a.length; k++) {
      const opt = a[k];
      if (!'hxNSlsfVodD'.includes(opt)) fail(`invalid option -- '${opt}'`);
      if (WITH_ARG.has(opt)) {
        let value = a.slice(k + 1);
        if (!value) {
          if (++i >= argv.length) fail(`option requires an argument -- '${opt}'`);
          value = argv[i];
        }
        set(opt, value);
        break;
      }
      set(opt, undefined);
    }
  }
  o.command = argv.slice(i);
  o.commandIndex = i;
  if (o.command.length === 0) fail('missing command');
  return o;
}

/**
 * execvp's search: a name without '/' is looked up in PATH. A file found there but not
 * executable is returned if nothing better is (its execve then fails EACCES: status 126).
 */
function findProgram(name: string, env: NodeJS.ProcessEnv): string | undefined {
  if (name.includes('/')) return name;
  let notExecutable: string | undefined;
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const candidate = path.join(dir || '.', name);
    try {
      if (!fs.statSync(candidate).isFile()) continue;
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      if (fs.existsSync(candidate)) notExecutable ??= candidate;
    }
  }
  return notExecutable;
}

function rcFiles(o: Options): string[] {
  if (o.norc) return [];
  if (o.rc) return [path.resolve(o.rc)];
  return ['/etc/vurc', path.join(process.env.HOME ?? os.homedir(), '.vurc')];
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const hv = new Hypervisor();
  if (o.output) {
    try {
      hv.logger.setOutputFile(o.output);
    } catch (e) {
      fail(`${o.output}: ${(e as Error).message}`);
    }
  }
  if (o.loglevel !== undefined) hv.logger.consoleLevel = o.loglevel;
  if (o.syslog !== undefined) hv.logger.syslogLevel = o.syslog;
  for (const spec of o.debugcols) if (!hv.logger.setColors(spec)) fail(`invalid color spec '${spec}'`);
  for (const tags of o.debugtags) hv.logger.addGlobalTags(tags);

  const env = { ...process.env };
  const program = findProgram(o.command[0], env);
  if (!program) {
    process.stderr.write(`umvu: ${o.command[0]}: command not found\n`);
    process.exit(127);
  }
  const listed = env.UMVU_FDS?.trim().split(/\s+/).map(Number);
  // The view must not outlive its hypervisor: on an internal error, kill it and say why.
  const internalError = (e: unknown) => {
    hv.logger.printk(0, `umvu: internal error: ${(e as Error)?.stack ?? e}`);
    hv.killView();
    process.exit(125);
  };
  process.on('uncaughtException', internalError);
  process.on('unhandledRejection', internalError);
  const status = await hv.run({
    path: program,
    argv: rawArguments().slice(o.commandIndex),
    envp: callerEnvironment(env.UMVU_ENV),
    rcFiles: rcFiles(o),
    viewName: o.name,
    noFastPath: o.noFastPath,
    noNesting: o.nonesting,
    stdioDevices: o.stdioDevices,
    nofile: Number(env.UMVU_NOFILE) || undefined,
    keepFds: inheritedFds(listed),
    closeFds: listed ? [0, 1, 2].filter((fd) => !listed.includes(fd)) : [],
    sigIgnored: env.UMVU_SIGIGN ? BigInt(`0x${env.UMVU_SIGIGN}`) : 0n,
    sigBlocked: env.UMVU_SIGBLK ? BigInt(`0x${env.UMVU_SIGBLK}`) : 0n,
  });
  if (status === VIEW_LOST) {
    hv.logger.printk(0, 'umvu: the view lost its reaper: its processes were killed');
    process.exit(125);
  }
  // End as the command did: its exit code, or death by the same signal.
  const signal = status & 0x7f;
  if (signal) native.dieBySignal(signal);
  process.exit((status >> 8) & 0xff);
}

/** umvu's arguments as exact bytes (they need not be UTF-8). */
function rawArguments(): Buffer[] {
  const parts = splitNul(fs.readFileSync('/proc/self/cmdline'));
  return parts.slice(parts.length - (process.argv.length - 2));
}

/** The environment umvu's caller gave, in its order and bytes (UMVU_ENV from the wrapper). */
function callerEnvironment(recorded: string | undefined): Buffer[] {
  if (recorded !== undefined) return splitNul(Buffer.from(recorded, 'base64'));
  return splitNul(fs.readFileSync('/proc/self/environ')).filter((e) => !e.toString('latin1').startsWith('UMVU_'));
}

function splitNul(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < buf.length; ) {
    let end = buf.indexOf(0, start);
    if (end < 0) end = buf.length;
    out.push(buf.subarray(start, end));
    start = end + 1;
  }
  return out;
}

await main();
