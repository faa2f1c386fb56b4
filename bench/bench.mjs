#!/usr/bin/env node
// umvu benchmark: every workload natively, under umvu and under PRoot (and,
// with --with-slow, under `umvu -S`), repetitions interleaved, medians compared.
// Normally started by bench/run.sh, which builds the helpers in bench/out first.
// Usage: see usage() below, or `bash bench/run.sh --help`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const OUT = join(BENCH, 'out');
const TIMEIT = join(OUT, 'timeit');
const PROJ = join(OUT, 'proj');

function usage() {
  return `usage: bash bench/run.sh [options] [WORKLOAD...]
Runs each workload natively, under umvu and under \`proot -b /tmp:/tmp\`,
interleaving the repetitions, and compares the medians of the wall times.
Results: a table on stdout, JSON in bench/out/results.json.
  --quick           smoke check: 1 repetition, smaller syscall loops (< 1 min)
  --with-slow       add an \`umvu -S\` column (no native fast path)
  --no-proot        skip PRoot even if it is installed
  --only A,B        run only these workloads (same as naming them as arguments)
  --reps N          exactly N timed repetitions per workload
  --budget SECONDS  time budget per workload used to pick the repetitions
                    (default 25; between ${MIN_REPS} and ${MAX_REPS} repetitions)
  --umvu PATH       the umvu to measure (default packages/cli/bin/umvu)
  --json FILE       where to write the results (default bench/out/results.json)
  --list            list the workloads and exit
Exit status: 0 even if targets are missed; 1 if a command failed (natively or
under umvu, or umvu gave different output); 2 on a usage or setup error.`;
}

const MIN_REPS = 3;
const MAX_REPS = 7;

// ---------------------------------------------------------------- options
const opts = {
  quick: false, withSlow: false, proot: true, only: [], reps: 0, budget: 25,
  umvu: join(ROOT, 'packages/cli/bin/umvu'), json: join(OUT, 'results.json'), list: false,
};
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const arg = a[i];
    const val = () => {
      if (i + 1 >= a.length) die(`${arg} needs a value`);
      return a[++i];
    };
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--with-slow') opts.withSlow = true;
    else if (arg === '--no-proot') opts.proot = false;
    else if (arg === '--only') opts.only.push(...val().split(',').filter(Boolean));
    else if (arg.startsWith('--only=')) opts.only.push(...arg.slice(7).split(',').filter(Boolean));
    else if (arg === '--reps') opts.reps = Number(val());
    else if (arg === '--budget') opts.budget = Number(val());
    else if (arg === '--umvu') opts.umvu = resolve(val());
    else if (arg === '--json') opts.json = resolve(val());
    else if (arg === '--list') opts.list = true;
    else if (arg === '-h' || arg === '--help') {
      console.log(usage());
      process.exit(0);
    } else if (arg.startsWith('-')) die(`unknown option ${arg}\n${usage()}`);
    else opts.only.push(...arg.split(',').filter(Boolean));
  }
  if (!(Number.isInteger(opts.reps) && opts.reps >= 0)) die('--reps needs a positive integer');
  if (!(opts.budget > 0)) die('--budget needs a positive number of seconds');
}

function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

// -------------------------------------------------------------- workloads
// argv(n): the command for a loop count n (workloads without a count ignore it).
// n: loop count {full, quick}; prootDiv: PRoot (without its seccomp accelerator, as
// Debian builds it, it ptrace-stops on *every* syscall) runs n/prootDiv and its time
// is extrapolated linearly (shown with a leading ~).
// target: {ratio: X} (umvu/native <= X), {addedMs: X} (umvu - native <= X ms) or null.
const sh = (cmd) => ['sh', '-c', cmd];
const K = 1024;
const WORKLOADS = [
  {
    name: 'ls', title: 'ls -lR /usr/share/doc',
    argv: () => sh('ls -lR /usr/share/doc > /dev/null'),
    target: { ratio: 3 },
  },
  {
    name: 'find', title: 'find /usr/lib -type f | wc -l',
    argv: () => sh('find /usr/lib -type f | wc -l'),
    target: { ratio: 2.5 }, sameStdout: true,
  },
  // A vufs bind of /usr/share at BIND_TARGET (absent on the host): `in` walks the mount, `out`
  // walks /usr/share itself with the mount present. Natively (and under PRoot, with -b) the
  // same command runs on /usr/share; `ls-share`/`find-share` are the same without any module.
  {
    name: 'bind-setup', title: 'true, vufs bind mounted (setup)',
    argv: () => ['true'], bind: { cmd: () => 'true', walk: 'out' },
    reps: { full: 5, quick: 2 },
    target: null,
  },
  {
    name: 'ls-share', title: 'ls -lR /usr/share (no module)',
    argv: () => sh('ls -lR /usr/share > /dev/null'),
    target: null,
  },
  {
    name: 'ls-bind', title: 'ls -lR over a vufs bind of /usr/share',
    argv: () => sh('ls -lR /usr/share > /dev/null'), bind: { cmd: (d) => `ls -lR ${d} > /dev/null`, walk: 'in' },
    target: { ratio: 2.5 },
  },
  {
    name: 'ls-out', title: 'ls -lR /usr/share, vufs bind elsewhere',
    argv: () => sh('ls -lR /usr/share > /dev/null'), bind: { cmd: (d) => `ls -lR ${d} > /dev/null`, walk: 'out' },
    target: null,
  },
  {
    name: 'find-share', title: 'find /usr/share | wc -l (no module)',
    argv: () => sh('find /usr/share | wc -l'),
    target: null, sameStdout: true,
  },
  {
    name: 'find-bind', title: 'find over a vufs bind of /usr/share',
    argv: () => sh('find /usr/share | wc -l'), bind: { cmd: (d) => `find ${d} | wc -l`, walk: 'in' },
    target: { ratio: 2.5 }, sameStdout: true,
  },
  {
    name: 'find-out', title: 'find /usr/share | wc -l, vufs bind elsewhere',
    argv: () => sh('find /usr/share | wc -l'), bind: { cmd: (d) => `find ${d} | wc -l`, walk: 'out' },
    target: null, sameStdout: true,
  },
  // cat of a 500 MiB file through a vufs bind (a host fd: the target is >= 90% of native
  // throughput), four times over so that reading dominates; judged without the bind setup
  {
    name: 'cat-bind', title: 'cat of a 500 MiB file x4 over a vufs bind',
    setup: ['sh', '-c', 'test -s big/file500 || { mkdir -p big && head -c 500M /dev/zero > big/file500; }'],
    argv: () => sh('cat big/file500 big/file500 big/file500 big/file500 > /dev/null'),
    bind: { source: () => join(OUT, 'big'), target: '/tmp/umvu-bench-cat', cmd: (d) => `cat ${d}/file500 ${d}/file500 ${d}/file500 ${d}/file500 > /dev/null`, walk: 'in' },
    target: { setupExcludedRatio: 1.11 },
  },
  {
    name: 'tar', title: 'tar c /usr/share/doc | wc -c',
    argv: () => sh('tar c /usr/share/doc 2>/dev/null | wc -c'),
    target: { ratio: 1.5 }, sameStdout: true,
  },
  {
    name: 'dd512', title: (n) => `dd bs=512 count=${countStr(n)} /dev/zero>/dev/null`,
    argv: (n) => ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=512', `count=${n}`],
    n: { full: 1024 * K, quick: 128 * K }, prootDiv: 16, warmN: 4 * K,
    target: { ratio: 1.2 }, perBlock: true,
  },
  {
    name: 'dd1', title: (n) => `dd bs=1 count=${countStr(n)} /dev/zero>/dev/null`,
    argv: (n) => ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${n}`],
    n: { full: 1024 * K, quick: 128 * K }, prootDiv: 16, warmN: 4 * K,
    target: null, perBlock: true,
  },
  {
    name: 'getppid', title: (n) => `getppid loop ${countStr(n, true)}`,
    argv: (n) => [join(OUT, 'getppid_loop'), String(n)],
    n: { full: 10_000_000, quick: 1_000_000 }, prootDiv: 100, warmN: 1000,
    target: { ratio: 1.3 }, nsPerCall: true,
  },
  {
    name: 'make', title: 'make -j2 (generated C project)',
    argv: () => ['make', '-s', '-j2', '-C', PROJ],
    setup: ['make', '-s', '-C', PROJ, 'clean'],
    verify: () => (existsSync(join(PROJ, 'prog')) ? null : 'make did not produce proj/prog'),
    target: { ratio: 1.15 },
  },
  {
    name: 'stat', title: (n) => `stat() loop ${countStr(n, true)}`,
    argv: (n) => [join(OUT, 'stat_loop'), String(n), '/usr/bin/env'],
    n: { full: 100_000, quick: 20_000 }, prootDiv: 5, warmN: 100,
    target: null, nsPerCall: true,
  },
  {
    name: 'startup', title: 'true (startup)',
    argv: () => ['true'],
    reps: { full: 10, quick: 3 },
    target: { addedMs: 100 },
  },
];
// Run startup first: its overhead is used for the "excl. startup" column.
const RUN_ORDER = ['startup', 'ls', 'find', 'bind-setup', 'ls-share', 'ls-bind', 'ls-out', 'find-share', 'find-bind', 'find-out', 'cat-bind',
  'tar', 'dd512', 'dd1', 'getppid', 'make', 'stat'];
const BIND_SOURCE = '/usr/share';
const BIND_TARGET = '/tmp/umvu-bench-bind';

function countStr(n, decimal = false) {
  if (!decimal && n % (1024 * K) === 0) return `${n / (1024 * K)}M`;
  if (!decimal && n % K === 0) return `${n / K}k`;
  if (decimal && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (decimal && n % 1000 === 0) return `${n / 1000}k`;
  return String(n);
}

if (opts.list) {
  for (const w of WORKLOADS) {
    const t = typeof w.title === 'function' ? w.title(w.n.full) : w.title;
    console.log(`${w.name.padEnd(10)} ${t.padEnd(46)} ${targetStr(w.target)}`);
  }
  process.exit(0);
}

const unknown = opts.only.filter((n) => !WORKLOADS.some((w) => w.name === n));
if (unknown.length) die(`unknown workload(s): ${unknown.join(', ')} (try --list)`);
const selected = RUN_ORDER.map((n) => WORKLOADS.find((w) => w.name === n))
  .filter((w) => !opts.only.length || opts.only.includes(w.name));

// ------------------------------------------------------------------ modes
function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
const prootPath = opts.proot ? which('proot') : null;
const MODES = [
  { key: 'native', label: 'native', prefix: [], timeout: 600, fatal: true },
  { key: 'umvu', label: 'umvu', prefix: [opts.umvu], timeout: 600, fatal: true },
];
if (opts.withSlow) MODES.push({ key: 'umvu_slow', label: 'umvu -S', prefix: [opts.umvu, '-S'], timeout: 600, fatal: true });
if (prootPath) MODES.push({ key: 'proot', label: 'proot', prefix: [prootPath, '-b', '/tmp:/tmp'], timeout: opts.quick ? 30 : 90, fatal: false, scaled: true });

// --------------------------------------------------------------- running
// Progress goes to stderr: one updating line on a terminal, one line per workload otherwise.
const TTY = process.stderr.isTTY;
function progress(msg, transient = false) {
  if (TTY) process.stderr.write(`\r\x1b[K${msg}${transient ? '' : '\n'}`);
  else if (!transient) process.stderr.write(`${msg}\n`);
}

/**
 * A workload's command line in a mode. Bind workloads: under umvu the command loads vufs and
 * mounts the bind first; under PRoot the bind is proot's own -b.
 */
function modeArgv(w, m, n) {
  if (!w.bind || m.key === 'native') return [...m.prefix, ...w.argv(n)];
  const source = w.bind.source?.() ?? BIND_SOURCE;
  const target = w.bind.target ?? BIND_TARGET;
  const dir = w.bind.walk === 'in' ? target : source;
  if (m.key === 'proot') return [...m.prefix, '-b', `${source}:${target}`, ...sh(w.bind.cmd(dir))];
  const bin = dirname(opts.umvu);
  const mount = `${join(bin, 'vu_insmod')} vufs && ${join(bin, 'vumount')} -t vufs ${source} ${target}`;
  return [...m.prefix, ...sh(`${mount} && ${w.bind.cmd(dir)}`)];
}

/** Runs argv under timeit; returns {wall (s), status, signal, timedout, stdout, stderr}. */
function timed(argv, timeout) {
  const r = spawnSync(TIMEIT, ['-t', String(timeout), '--', ...argv], {
    cwd: OUT, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new Error(`cannot run ${TIMEIT}: ${r.error.message}`);
  const rep = r.output[3]?.toString() ?? '';
  const m = /TIMEIT (.*)/.exec(rep);
  if (!m) throw new Error(`timeit gave no report for: ${shq(argv)}${tail(r.stderr.toString())}`);
  const f = Object.fromEntries(m[1].trim().split(/\s+/).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
  return {
    wall: f.wall_ns / 1e9, status: f.status, signal: f.signal, timedout: f.timedout === 1,
    stdout: r.stdout.toString(), stderr: r.stderr.toString(),
  };
}

function runSetup(w) {
  if (!w.setup) return;
  const r = spawnSync(w.setup[0], w.setup.slice(1), { cwd: OUT, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`setup failed: ${w.setup.join(' ')}: ${r.stderr}`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
// The interesting part of a failed command's stderr: its beginning and its end.
const tail = (s) => {
  const l = s.trimEnd().split('\n').filter((x, i) => i > 0 || x.trim());
  if (!l.length) return '';
  return `\n${(l.length > 8 ? [...l.slice(0, 3), '  [...]', ...l.slice(-4)] : l).map((x) => `    ${x}`).join('\n')}`;
};
const shq = (argv) => argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');

const failures = [];
const warnings = [];
const results = [];

function runWorkload(w, idx, total) {
  const n = w.n ? (opts.quick ? w.n.quick : w.n.full) : 0;
  const title = typeof w.title === 'function' ? w.title(n) : w.title;
  const res = {
    name: w.name, title, argv: w.argv(n), count: n || undefined, target: w.target,
    modes: {}, ratios: {}, reps: 0,
  };
  const state = {};
  for (const m of MODES) {
    const scale = m.scaled && w.prootDiv ? w.prootDiv : 1;
    const mn = w.n ? Math.max(1, Math.round(n / scale)) : 0;
    state[m.key] = { m, scale, argv: modeArgv(w, m, mn), done: false };
    res.modes[m.key] = {
      argv: state[m.key].argv, scale, samples: [], nsPerCall: [], median: null, status: 'ok',
    };
  }
  const tag = `[${idx}/${total}] ${w.name}`;

  // Warm-up, untimed: the page cache (file trees, gcc, ...) and the binaries.
  progress(`${tag}: warm-up`, true);
  try {
    runSetup(w);
    const wa = w.argv(w.warmN ?? n);
    const r = timed(wa, 600);
    if (r.status !== 0) {
      failures.push(`${w.name}: native warm-up failed (status ${r.status}): ${shq(wa)}${tail(r.stderr)}`);
      res.error = 'native warm-up failed';
      return res;
    }
  } catch (e) {
    failures.push(`${w.name}: ${e.message}`);
    res.error = e.message;
    return res;
  }

  let reps = opts.reps || (opts.quick ? (w.reps?.quick ?? 1) : (w.reps?.full ?? MIN_REPS));
  for (let rep = 0; rep < reps; rep++) {
    // Rotate the order of the modes on every repetition, against drift and order effects.
    const keys = MODES.map((m) => m.key);
    const order = keys.slice(rep % keys.length).concat(keys.slice(0, rep % keys.length));
    let repTime = 0;
    for (const key of order) {
      const st = state[key];
      if (st.done) continue;
      const out = res.modes[key];
      progress(`${tag}: rep ${rep + 1}/${reps} ${st.m.label}`, true);
      let r;
      try {
        runSetup(w);
        r = timed(st.argv, st.m.timeout);
      } catch (e) {
        failures.push(`${w.name} (${st.m.label}): ${e.message}`);
        out.status = 'error';
        st.done = true;
        continue;
      }
      repTime += r.wall;
      if (r.timedout) {
        out.status = 'timeout';
        out.timeout = st.m.timeout;
        st.done = true;
        const msg = `${w.name} (${st.m.label}): no result within ${st.m.timeout} s, stopped`;
        (st.m.fatal ? failures : warnings).push(msg);
        continue;
      }
      const bad = r.status !== 0 ? `exit status ${r.status}${r.signal ? ` (signal ${r.signal})` : ''}` : w.verify?.();
      if (bad) {
        out.status = 'failed';
        out.error = `${bad}${tail(r.stderr)}`;
        st.done = true;
        const msg = `${w.name} (${st.m.label}): ${bad}: ${shq(st.argv)}${tail(r.stderr)}`;
        (st.m.fatal ? failures : warnings).push(msg);
        continue;
      }
      out.samples.push(r.wall * st.scale);
      const ns = /ns_per_call=([\d.]+)/.exec(r.stdout);
      if (ns) out.nsPerCall.push(Number(ns[1]));
      if (w.sameStdout) (out.outputs ??= new Set()).add(r.stdout.trim());
    }
    // After the first repetition, fit the repetitions into the time budget.
    if (rep === 0 && !opts.reps && !opts.quick && !w.reps) {
      reps = Math.max(MIN_REPS, Math.min(MAX_REPS, Math.floor(opts.budget / Math.max(repTime, 1e-3))));
    }
  }
  res.reps = reps;
  const summary = MODES.map((m) => {
    const o = res.modes[m.key];
    return `${m.label} ${o.status === 'ok' ? fmtTime(median(o.samples), state[m.key].scale > 1) : o.status}`;
  });
  progress(`${tag}: ${reps} rep(s): ${summary.join(', ')}`);

  for (const [key, out] of Object.entries(res.modes)) {
    if (out.samples.length) out.median = median(out.samples);
    if (out.nsPerCall.length) out.nsPerCallMedian = median(out.nsPerCall);
    if (out.status !== 'ok') out.median = null;
    if (key !== 'native' && out.median != null && res.modes.native.median) {
      res.ratios[key] = out.median / res.modes.native.median;
    }
  }
  if (w.sameStdout) {
    // Every run must print what the native runs printed (a count of files or bytes).
    const ref = [...(res.modes.native.outputs ?? [])];
    for (const [key, out] of Object.entries(res.modes)) {
      const got = [...(out.outputs ?? [])];
      delete out.outputs;
      out.output = got.length === 1 ? got[0] : got;
      if (key === 'native' || ref.length !== 1 || got.every((g) => g === ref[0])) continue;
      const msg = `${w.name}: output under ${state[key].m.label} (${got.join(', ')}) differs from native (${ref[0]})`;
      (state[key].m.fatal ? failures : warnings).push(msg);
      out.outputDiffers = true;
    }
    if (ref.length > 1) warnings.push(`${w.name}: native output varies between runs (${ref.join(', ')})`);
  }
  return res;
}

// ------------------------------------------------------------ formatting
function fmtTime(s, approx = false) {
  if (s == null || Number.isNaN(s)) return '-';
  let t;
  if (s < 0.1) t = `${(s * 1000).toFixed(1)}ms`;
  else if (s < 10) t = `${s.toFixed(3)}s`;
  else if (s < 100) t = `${s.toFixed(2)}s`;
  else t = `${s.toFixed(1)}s`;
  return approx ? `~${t}` : t;
}
function fmtRatio(x) {
  if (x == null || Number.isNaN(x)) return '-';
  return x < 10 ? `${x.toFixed(2)}x` : x < 100 ? `${x.toFixed(1)}x` : `${x.toFixed(0)}x`;
}
function targetStr(t) {
  if (!t) return '-';
  if (t.ratio) return `<=${t.ratio}x`;
  if (t.setupExcludedRatio) return `excl<=${t.setupExcludedRatio}x`;
  return `<=+${t.addedMs}ms`;
}
function cellTime(out) {
  if (!out) return 'n/a';
  if (out.status === 'timeout') return `>${out.timeout}s`;
  if (out.status !== 'ok') return 'FAIL';
  return fmtTime(out.median, out.scale > 1);
}
function cellRatio(res, key) {
  const out = res.modes[key];
  if (!out) return 'n/a';
  if (out.status === 'timeout' && res.modes.native.median) return `>${fmtRatio(out.timeout / res.modes.native.median)}`;
  if (res.name === 'startup') {
    return out.median != null && res.modes.native.median != null
      ? `+${((out.median - res.modes.native.median) * 1000).toFixed(0)}ms` : '-';
  }
  return fmtRatio(res.ratios[key]);
}

function verdict(res, setupAdded) {
  const t = res.target;
  const u = res.modes.umvu;
  const nat = res.modes.native;
  if (res.error || !u || u.status !== 'ok' || nat.status !== 'ok') return 'FAIL';
  if (!t) return '';
  if (t.ratio) return res.ratios.umvu <= t.ratio ? 'PASS' : 'MISS';
  if (t.setupExcludedRatio) return setupAdded != null && (u.median - setupAdded) / nat.median <= t.setupExcludedRatio ? 'PASS' : 'MISS';
  return (u.median - nat.median) * 1000 <= t.addedMs ? 'PASS' : 'MISS';
}

function printTable(rows, startupAdded, setupAdded) {
  const hasSlow = MODES.some((m) => m.key === 'umvu_slow');
  const head = ['workload', 'native', 'umvu', 'ratio', 'excl.start', 'proot', 'ratio'];
  if (hasSlow) head.push('umvu -S', 'ratio');
  head.push('target', 'result');
  const lines = [head];
  for (const r of rows) {
    const u = r.modes.umvu;
    let excl = '-';
    // bind workloads: without umvu's start, vu_insmod and vumount (the bind-setup workload)
    const fixed = WORKLOADS.find((w) => w.name === r.name).bind ? setupAdded : startupAdded;
    if (fixed != null && !['startup', 'bind-setup'].includes(r.name) && u?.median != null && r.modes.native.median) {
      excl = fmtRatio(Math.max(u.median - fixed, 0) / r.modes.native.median);
    }
    const line = [r.title, cellTime(r.modes.native), cellTime(u), cellRatio(r, 'umvu'), excl,
      prootPath ? cellTime(r.modes.proot) : 'n/a', prootPath ? cellRatio(r, 'proot') : 'n/a'];
    if (hasSlow) line.push(cellTime(r.modes.umvu_slow), cellRatio(r, 'umvu_slow'));
    line.push(targetStr(r.target), r.verdict);
    lines.push(line);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  console.log(fmt(lines[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines.slice(1)) console.log(fmt(l));
}

// ------------------------------------------------------------------ main
function gitInfo() {
  const rev = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' });
  return rev.status === 0 ? { rev: rev.stdout.trim(), dirty: dirty.stdout.trim() !== '' } : null;
}
function prootVersion() {
  if (!prootPath) return null;
  const r = spawnSync(prootPath, ['--version'], { encoding: 'utf8' });
  const txt = `${r.stdout}${r.stderr}`;
  return {
    path: prootPath,
    version: /v?(\d+\.\d+(\.\d+)?)/.exec(txt.replace(/\|/g, ' '))?.[1] ?? null,
    seccompAccel: /seccomp_filter = (\w+)/.exec(txt)?.[1] ?? null,
  };
}

const started = Date.now();
const nproc = cpus().length;
const load0 = loadavg();
const meta = {
  date: new Date().toISOString(), host: hostname(), kernel: release(), nproc, node: process.version,
  cpu: cpus()[0]?.model, loadavgStart: load0, git: gitInfo(), umvu: opts.umvu, proot: prootVersion(),
  quick: opts.quick, withSlow: opts.withSlow, budgetPerWorkload: opts.budget, fixedReps: opts.reps || null,
};
progress(`bench: ${selected.length} workload(s), modes: ${MODES.map((m) => m.label).join(', ')}` +
  `${prootPath || !opts.proot ? '' : ' (proot not found: its columns are n/a)'}${opts.quick ? ', quick' : ''}`);
if (meta.proot?.seccompAccel === 'no') {
  progress('bench: this proot has no seccomp accelerator: it stops on every syscall, so its syscall loops run shortened and are extrapolated (~)');
}
if (load0[0] > nproc * 0.5) {
  const msg = `machine busy at start (load average ${load0[0].toFixed(2)} on ${nproc} CPUs): expect noisy results`;
  warnings.push(msg);
  progress(`bench: warning: ${msg}`);
}

// Warm the wrappers themselves (node, the addon, proot) once.
for (const m of MODES) if (m.prefix.length) timed([...m.prefix, 'true'], 120);

let i = 0;
for (const w of selected) {
  const res = runWorkload(w, ++i, selected.length);
  results.push(res);
}

const startup = results.find((r) => r.name === 'startup');
// Reference for the startup target: the bare start of node itself (umvu is a node program).
let nodeStart = null;
if (startup) {
  progress('bench: reference: node -e 0', true);
  const xs = [];
  for (let k = 0; k < (opts.quick ? 3 : 7); k++) {
    const r = timed(['node', '-e', '0'], 120);
    if (r.status === 0) xs.push(r.wall);
  }
  nodeStart = xs.length ? median(xs) : null;
  progress('', true);
}
const startupAdded = startup?.modes.umvu?.median != null && startup.modes.native.median != null
  ? startup.modes.umvu.median - startup.modes.native.median : null;

// Print in the order of the task list.
const rows = WORKLOADS.map((w) => results.find((r) => r.name === w.name)).filter(Boolean);
console.log('');
console.log(`umvu benchmark  ${meta.date}  ${meta.host}  ${nproc} CPUs  kernel ${meta.kernel}  node ${meta.node}` +
  `${meta.git ? `  git ${meta.git.rev}${meta.git.dirty ? '+dirty' : ''}` : ''}${opts.quick ? '  (--quick)' : ''}`);
console.log(`medians of wall times; repetitions: ${rows.map((r) => `${r.name} ${r.reps}`).join(', ')}`);
console.log('');
const bindSetup = results.find((r) => r.name === 'bind-setup');
const setupAdded = bindSetup?.modes.umvu?.median != null && bindSetup.modes.native.median != null
  ? bindSetup.modes.umvu.median - bindSetup.modes.native.median : null;
for (const r of results) r.verdict = verdict(r, setupAdded);
printTable(rows, startupAdded, setupAdded);

// Notes: per-call costs, startup, extrapolations.
const notes = [];
for (const r of rows) {
  const w = WORKLOADS.find((x) => x.name === r.name);
  if (w.nsPerCall) {
    const parts = Object.entries(r.modes).filter(([, o]) => o.nsPerCallMedian != null)
      .map(([k, o]) => `${MODES.find((m) => m.key === k).label} ${o.nsPerCallMedian.toFixed(0)}`);
    const nat = r.modes.native.nsPerCallMedian;
    const u = r.modes.umvu.nsPerCallMedian;
    const extra = nat != null && u != null ? ` (umvu +${(u - nat).toFixed(0)} ns/call, ${fmtRatio(u / nat)})` : '';
    if (parts.length) notes.push(`${r.name}: ns/call (measured in-process): ${parts.join(', ')}${extra}`);
  }
  if (w.perBlock && !opts.quick && r.count && r.modes.umvu.median != null && r.modes.native.median != null) {
    const add = r.modes.umvu.median - r.modes.native.median - (startupAdded ?? 0);
    notes.push(`${r.name}: umvu adds ${(add / r.count * 1e9).toFixed(0)} ns per block (read+write)` +
      `${startupAdded != null ? ', startup excluded' : ''}`);
  }
}
if (startupAdded != null) {
  notes.push(`startup: \`umvu true\` adds ${(startupAdded * 1000).toFixed(0)} ms over \`true\`` +
    `${startup.modes.proot?.median != null ? `; proot adds ${((startup.modes.proot.median - startup.modes.native.median) * 1000).toFixed(0)} ms` : ''}` +
    ' ("excl.start" = umvu ratio with this subtracted)' +
    `${nodeStart != null ? `; for reference \`node -e 0\` alone takes ${(nodeStart * 1000).toFixed(0)} ms` : ''}`);
}
if (setupAdded != null) {
  notes.push(`bind setup: umvu + \`vu_insmod vufs\` + \`vumount\` add ${(setupAdded * 1000).toFixed(0)} ms` +
    ' (subtracted in "excl.start" for the bind workloads)');
}
if (prootPath && rows.some((r) => r.modes.proot?.scale > 1)) {
  notes.push(`~: proot ran ${rows.filter((r) => r.modes.proot?.scale > 1).map((r) => `${r.name} /${r.modes.proot.scale}`).join(', ')}` +
    ` and the time is extrapolated${meta.proot?.seccompAccel === 'no' ? ' (this proot has no seccomp accelerator: every syscall is a ptrace stop)' : ''}`);
}
if (!prootPath) notes.push(opts.proot ? 'proot: not installed (apt-get install proot), columns n/a' : 'proot: skipped (--no-proot)');
if (notes.length) {
  console.log('');
  for (const n of notes) console.log(`  ${n}`);
}

meta.loadavgEnd = loadavg();
meta.elapsedSeconds = (Date.now() - started) / 1000;
if (warnings.length) {
  console.log('');
  for (const w of warnings) console.log(`warning: ${w}`);
}
if (failures.length) {
  console.log('');
  for (const f of failures) console.log(`FAILED: ${f}`);
}
const summary = {
  pass: rows.filter((r) => r.verdict === 'PASS').map((r) => r.name),
  miss: rows.filter((r) => r.verdict === 'MISS').map((r) => r.name),
  fail: rows.filter((r) => r.verdict === 'FAIL').map((r) => r.name),
};
console.log('');
console.log(`targets: ${summary.pass.length} PASS, ${summary.miss.length} MISS` +
  `${summary.miss.length ? ` (${summary.miss.join(', ')})` : ''}` +
  `${summary.fail.length ? `, ${summary.fail.length} FAIL (${summary.fail.join(', ')})` : ''}` +
  `; ${meta.elapsedSeconds.toFixed(0)} s; results in ${opts.json}`);

mkdirSync(dirname(opts.json), { recursive: true });
writeFileSync(opts.json, `${JSON.stringify({
  meta, startupAddedSeconds: startupAdded, nodeStartSeconds: nodeStart, summary, warnings, failures,
  workloads: rows.map((r) => ({ ...r, verdict: r.verdict || null })),
}, null, 2)}\n`);
process.exit(failures.length ? 1 : 0);
