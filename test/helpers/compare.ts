/**
 * Native-versus-umvu comparison: the oracle of the end-to-end transparency suite.
 *
 * A command is run twice with the same argv, environment, cwd and stdin: once directly and once
 * as `umvu COMMAND...`. With no module loaded umvu must be invisible, so stdout, stderr, the exit
 * status and the terminating signal must be identical.
 *
 * What is normalized, and why: nothing by default. The suite's commands are written to be
 * deterministic (fixed mtimes, fixed modes, LC_ALL=C, TZ=UTC, no pids or timings printed). The
 * only legitimate run-to-run differences are values the kernel hands out anew at each run (pids,
 * pipe/socket inode numbers) and timings; a test whose output contains one of them passes a
 * `normalize` function that masks exactly that (see maskPids / maskInodes) and says so.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const UMVU = path.join(REPO, 'packages/cli/bin/umvu');
export const FIXTURES = path.join(REPO, 'test/fixtures');

/** A PATH without anything under /root (pyenv, cargo): the unprivileged user sees the same tools. */
export const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The fixed environment every run gets (callers may add or override variables). */
export function baseEnv(user?: TestUser): Record<string, string> {
  const name = user?.name ?? os.userInfo().username;
  return {
    PATH: BASE_PATH,
    HOME: user?.home ?? os.homedir(),
    USER: name,
    LOGNAME: name,
    SHELL: '/bin/sh',
    LC_ALL: 'C',
    LANG: 'C',
    TZ: 'UTC',
    TERM: 'dumb',
  };
}

export interface RunOptions {
  /** working directory (default: the OS temp dir) */
  cwd?: string;
  /** variables added to (or overriding) baseEnv(); a value of undefined removes the variable */
  env?: Record<string, string | undefined>;
  /** stdin contents (through a pipe); default: stdin is /dev/null */
  input?: string | Buffer;
  /** stdin is this file, opened read-only at each run (a seekable stdin) */
  stdinFile?: string;
  /** extra fds given to the command as fd 3, 4, ... (already open in this process) */
  extraFds?: number[];
  /** kill the whole process group after this many ms (default 60 s) */
  timeoutMs?: number;
  /** run as this (unprivileged) user, through setpriv */
  user?: TestUser;
  /** options given to umvu before the command (runUmvu only) */
  umvuArgs?: string[];
  /**
   * argv prefix run before the command in both runs, outside umvu: e.g. a shell that changes
   * umask/rlimits/environment and then execs "$@" (umvu is inserted after the prefix).
   */
  prefix?: string[];
  /** called once the process is started (e.g. to send it a signal) */
  onSpawn?: (child: ChildProcess) => void;
}

export interface RunResult {
  /** stdout/stderr decoded as UTF-8 (for checks and messages) */
  stdout: string;
  stderr: string;
  /** the exact bytes, one char per byte (latin1): what the comparison uses */
  stdoutRaw: string;
  stderrRaw: string;
  /** exit code, or null when killed by a signal */
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** the process exited but something kept its stdout/stderr open for 10 s more */
  strayHolders: boolean;
  ms: number;
}

/**
 * Runs argv in a new session/process group (so that a timeout can kill everything it started,
 * view included) and collects its output.
 */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...baseEnv(opts.user), ...opts.env })) if (v !== undefined) env[k] = v;
  const full = opts.user ? [...asUser(opts.user), ...argv] : argv;
  const stdinFd = opts.stdinFile === undefined ? undefined : fs.openSync(opts.stdinFile, 'r');
  const stdio: (number | 'pipe' | 'ignore')[] = [stdinFd ?? (opts.input === undefined ? 'ignore' : 'pipe'), 'pipe', 'pipe', ...(opts.extraFds ?? [])];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(full[0], full.slice(1), { cwd: opts.cwd ?? os.tmpdir(), env, stdio, detached: true });
    } catch (e) {
      reject(e);
      return;
    } finally {
      if (stdinFd !== undefined) fs.closeSync(stdinFd);
    }
    opts.onSpawn?.(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    if (child.stdin) {
      child.stdin.on('error', () => {}); // EPIPE when the command does not read all of it
      child.stdin.end(opts.input);
    }
    let timedOut = false;
    let strayHolders = false;
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs ?? 60_000);
    let strayTimer: NodeJS.Timeout | undefined;
    child.on('exit', () => {
      strayTimer = setTimeout(() => {
        strayHolders = true;
        killGroup();
        child.stdout!.destroy();
        child.stderr!.destroy();
      }, 10_000);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (strayTimer) clearTimeout(strayTimer);
      const o = Buffer.concat(out);
      const e = Buffer.concat(err);
      resolve({
        stdout: o.toString('utf8'),
        stderr: e.toString('utf8'),
        stdoutRaw: o.toString('latin1'),
        stderrRaw: e.toString('latin1'),
        status,
        signal,
        timedOut,
        strayHolders,
        ms: Date.now() - started,
      });
    });
  });
}

export const runNative = (argv: string[], opts: RunOptions = {}) => run([...(opts.prefix ?? []), ...argv], opts);
export const runUmvu = (argv: string[], opts: RunOptions = {}) => run([...(opts.prefix ?? []), UMVU, ...(opts.umvuArgs ?? []), ...argv], opts);

/** `bash -c SCRIPT` (bash from /usr/bin, no rc files). */
export const bash = (script: string, ...args: string[]) => ['/bin/bash', '--norc', '--noprofile', '-c', script, 'bash', ...args];
/** `sh -c SCRIPT` (dash). */
export const sh = (script: string, ...args: string[]) => ['/bin/sh', '-c', script, 'sh', ...args];

// ---- normalizers (only for values that legitimately change at every run) ----

/**
 * Masks every number that looks like a pid in the given contexts, e.g. bash's "line 3: 12345
 * Killed" (bash pads a pid to 5 columns: the padding goes too, pids wrap at pid_max).
 */
export function maskPids(s: string): string {
  return s.replace(/(line \d+:) *\d+( )/g, '$1 PID$2').replace(/\[\d+\] \d+/g, '[JOB] PID');
}

/** Masks pipe/socket/anon inode numbers as /proc/PID/fd links show them. */
export function maskInodes(s: string): string {
  return s.replace(/(pipe|socket|anon_inode):\[\d+\]/g, '$1:[INODE]');
}

// ---- comparison ----

/** A readable difference between two texts: the first differing line with some context. */
export function describeDifference(a: string, b: string, labelA = 'native', labelB = 'umvu'): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  let i = 0;
  while (i < la.length && i < lb.length && la[i] === lb[i]) i++;
  // texts are byte strings (latin1): show them as UTF-8 where they are valid
  const cut = (s: string) => {
    const u = Buffer.from(s, 'latin1').toString('utf8');
    const t = u.includes('\ufffd') ? s : u;
    return t.length > 300 ? `${t.slice(0, 300)}…(${t.length} chars)` : t;
  };
  const show = (lines: string[], label: string) => {
    const from = Math.max(0, i - 3);
    const to = Math.min(lines.length, i + 4);
    const body = lines
      .slice(from, to)
      .map((l, k) => `${from + k === i ? '>' : ' '} ${String(from + k + 1).padStart(6)}| ${cut(JSON.stringify(l))}`)
      .join('\n');
    return `  ${label} (${lines.length} lines, ${lines.join('\n').length} chars):\n${body || '    (empty)'}`;
  };
  return `first difference at line ${i + 1}\n${show(la, labelA)}\n${show(lb, labelB)}`;
}

function statusText(r: RunResult): string {
  return `${r.signal ? `signal ${r.signal}` : `exit ${r.status}`}${r.timedOut ? ' (TIMED OUT, killed)' : ''}${r.strayHolders ? ' (output kept open after exit)' : ''}`;
}

/** Asserts that two runs are indistinguishable: stdout, stderr, exit status, signal. */
export function assertSameResult(native: RunResult, umvu: RunResult, what = 'command', normalize: (s: string) => string = (s) => s): void {
  const problems: string[] = [];
  if (native.timedOut) problems.push(`the native run timed out (test bug?)`);
  if (umvu.timedOut) problems.push(`the umvu run timed out after ${umvu.ms} ms (native took ${native.ms} ms)`);
  if (umvu.strayHolders) problems.push('under umvu, something kept stdout/stderr open 10 s after umvu exited');
  if (native.status !== umvu.status || native.signal !== umvu.signal)
    problems.push(`status differs: native ${statusText(native)}, umvu ${statusText(umvu)}`);
  const [no, uo, ne, ue] = [native.stdoutRaw, umvu.stdoutRaw, native.stderrRaw, umvu.stderrRaw].map(normalize);
  if (no !== uo) problems.push(`stdout differs: ${describeDifference(no, uo)}`);
  if (ne !== ue) problems.push(`stderr differs: ${describeDifference(ne, ue)}`);
  if (problems.length) assert.fail(`${what}: umvu is not transparent\n${problems.join('\n')}`);
}

export interface CompareOptions extends RunOptions {
  /** called before each of the two runs (reset scratch state) */
  setup?: () => void | Promise<void>;
  /** masks values that legitimately differ run to run (document why at the call site) */
  normalize?: (s: string) => string;
  /** the exit status the native run must have (guards against comparing two identical failures); default 0 */
  expectStatus?: number | null;
  /** more checks on the native run's result, so that a test cannot pass on two broken runs */
  check?: (native: RunResult) => void;
}

/** Runs argv natively then under umvu and asserts identical results. */
export function compare(argv: string[], opts: CompareOptions = {}): Promise<{ native: RunResult; umvu: RunResult }> {
  return compareArgv([...(opts.prefix ?? []), ...argv], [...(opts.prefix ?? []), UMVU, ...(opts.umvuArgs ?? []), ...argv], { ...opts, prefix: undefined });
}

/**
 * The general form: the native argv and the umvu argv are given explicitly, for commands where
 * umvu sits in the middle (e.g. `sh -c 'umvu CMD; echo $?'` versus `sh -c 'CMD; echo $?'`).
 */
export function compareWith(make: (umvu: string) => string[], opts: CompareOptions = {}) {
  return compareArgv(make(''), make(shellQuote([UMVU, ...(opts.umvuArgs ?? [])])), opts);
}

/** Quotes words for a POSIX shell command line. */
export function shellQuote(words: string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

async function compareArgv(nativeArgv: string[], umvuArgv: string[], opts: CompareOptions): Promise<{ native: RunResult; umvu: RunResult }> {
  const argv = nativeArgv;
  await opts.setup?.();
  const native = await run(nativeArgv, opts);
  const expected = opts.expectStatus === undefined ? 0 : opts.expectStatus;
  assert.ok(!native.timedOut, `native run of ${JSON.stringify(argv)} timed out (test bug)`);
  if (expected !== null)
    assert.equal(
      native.status,
      expected,
      `native run of ${JSON.stringify(argv)} exited ${statusText(native)}, the test expects ${expected} (test bug)\nstderr: ${native.stderr.slice(0, 2000)}`,
    );
  opts.check?.(native);
  await opts.setup?.();
  const umvu = await run(umvuArgv, opts);
  assertSameResult(native, umvu, JSON.stringify(argv).slice(0, 200), opts.normalize);
  return { native, umvu };
}

// ---- scratch directories ----

/** A fresh temp dir under os.tmpdir() (owned by `owner` when given); remove it with removeDir(). */
export function scratchDir(prefix: string, owner?: TestUser): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `vuos-e2e-${prefix}-`));
  if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  return dir;
}

export function removeDir(dir: string | undefined): void {
  if (dir && dir.startsWith(os.tmpdir())) fs.rmSync(dir, { recursive: true, force: true });
}

/** Runs a shell script synchronously for test preparation; throws with its stderr on failure. */
export function prepare(script: string, opts: { cwd?: string; user?: TestUser } = {}): string {
  const argv = opts.user ? [...asUser(opts.user), '/bin/bash', '-euc', script] : ['/bin/bash', '-euc', script];
  const r = spawnSync(argv[0], argv.slice(1), { cwd: opts.cwd, env: baseEnv(opts.user), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`preparation failed (${r.status ?? r.signal}): ${script}\n${r.stderr}`);
  return r.stdout;
}

// ---- the unprivileged user ----

export const TEST_USER_NAME = 'vuostest';

/** The argv prefix that runs a command as `u` (nothing when we already are `u`). */
function asUser(u: TestUser): string[] {
  if (process.getuid!() === u.uid) return [];
  return ['/usr/bin/setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--'];
}

/**
 * The user unprivileged tests run as. When this process runs as root, the user `vuostest` is
 * created if missing (useradd -m); otherwise the tests run as the current user.
 * Throws an Error explaining why when that user cannot run umvu from this checkout (e.g. a
 * directory on the way to the repo or node is not searchable by others): nothing is copied.
 */
export function unprivilegedUser(): TestUser {
  if (process.getuid!() !== 0) {
    const i = os.userInfo();
    return { name: i.username, uid: i.uid, gid: i.gid, home: i.homedir };
  }
  const lookup = () => spawnSync('/usr/bin/getent', ['passwd', TEST_USER_NAME], { encoding: 'utf8' });
  let pw = lookup();
  if (pw.status !== 0) {
    const add = spawnSync('/usr/sbin/useradd', ['-m', '-s', '/bin/bash', TEST_USER_NAME], { encoding: 'utf8' });
    pw = lookup();
    // a concurrent run may have created it in between: only the final lookup matters
    if (pw.status !== 0) throw new Error(`cannot create user ${TEST_USER_NAME}: ${add.stderr}`);
  }
  const f = pw.stdout.trim().split(':');
  const user: TestUser = { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
  if (!fs.existsSync(user.home)) {
    fs.mkdirSync(user.home, { recursive: true, mode: 0o755 });
    fs.chownSync(user.home, user.uid, user.gid);
  }
  checkAccess(user);
  return user;
}

/** Explains precisely which path keeps `user` from running umvu, if any. */
function checkAccess(user: TestUser): void {
  const probe = (args: string[]) => {
    const argv = [...asUser(user), ...args];
    return spawnSync(argv[0], argv.slice(1), { env: baseEnv(user), encoding: 'utf8' });
  };
  const blocked: string[] = [];
  const needed = [UMVU, path.join(REPO, 'packages/cli/dist/umvu.js'), path.join(REPO, 'packages/core/dist/index.js'), path.join(REPO, 'native')];
  for (const target of needed) {
    // every ancestor must be searchable (x) and the target readable
    for (let p = target; ; p = path.dirname(p)) {
      const r = probe(['/usr/bin/test', '-x', p]);
      if (r.status !== 0 && fs.statSync(p).isDirectory()) blocked.push(`${p} is not searchable by ${user.name} (mode ${(fs.statSync(p).mode & 0o7777).toString(8)})`);
      if (p === '/') break;
    }
    if (probe(['/usr/bin/test', '-r', target]).status !== 0) blocked.push(`${target} is not readable by ${user.name}`);
  }
  if (blocked.length)
    throw new Error(`user ${user.name} cannot run ${UMVU}:\n  ${[...new Set(blocked)].join('\n  ')}\n(the suite copies nothing: give others r/x on these paths)`);
  const r = probe([UMVU, '/bin/true']);
  if (r.status !== 0) throw new Error(`user ${user.name} cannot run umvu: \`${UMVU} /bin/true\` exited ${r.status ?? r.signal}: ${r.stderr}`);
}
