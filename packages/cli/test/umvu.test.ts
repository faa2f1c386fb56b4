import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EXAMPLE_MODULE, UMVU, run, testEnv, tmpdir } from './run.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe('umvu command line', () => {
  it('--help prints the usage on stdout and exits 0', () => {
    const r = run(UMVU, ['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: umvu \[options\] command \[args\]\n/);
    for (const opt of ['--nonesting', '--noseccomp', '--rc', '--norc', '--vu_name', '--output', '--loglevel', '--syslog', '--debugtags', '--debugcols'])
      assert.ok(r.stdout.includes(opt), opt);
  });

  it('rejects unknown options and a missing command with a one-line error and status 1', () => {
    for (const [args, message] of [
      [['-q', 'true'], "umvu: invalid option -- 'q'"],
      [['--bogus', 'true'], "umvu: unrecognized option '--bogus'"],
      [[], 'umvu: missing command'],
      [['-l', '9', 'true'], "umvu: invalid log level '9' (expected 0..7)"],
      [['-V'], "umvu: option requires an argument -- 'V'"],
    ] as const) {
      const r = run(UMVU, [...args]);
      assert.equal(r.status, 1, args.join(' '));
      assert.equal(r.stderr.split('\n')[0], message);
    }
  });

  it('stops option parsing at the command: its options are its own', () => {
    const r = run(UMVU, ['-N', 'sh', '-c', 'echo "$0" "$1"', '-x', '-V']);
    assert.equal(r.stdout, '-x -V\n');
  });

  it('reports a command that cannot be found (127) or run (126)', () => {
    const r = run(UMVU, ['-N', 'no-such-command-xyz']);
    assert.equal(r.status, 127);
    assert.equal(r.stderr, 'umvu: no-such-command-xyz: command not found\n');
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'noexec'), 'echo hi\n', { mode: 0o644 });
    const r2 = run(UMVU, ['-N', path.join(dir, 'noexec')]);
    assert.equal(r2.status, 126);
    assert.equal(r2.stderr, `umvu: ${path.join(dir, 'noexec')}: Permission denied\n`);
    // found in PATH but not executable: as execvp, Permission denied (126), not "not found"
    const r3 = run(UMVU, ['-N', 'noexec'], { env: testEnv({ PATH: `${dir}:/usr/bin:/bin` }) });
    assert.equal(r3.status, 126);
    assert.equal(r3.stderr, 'umvu: noexec: Permission denied\n');
  });

  it('passes the exit status through, and dies of the signal that killed the command', () => {
    assert.equal(run(UMVU, ['-N', 'sh', '-c', 'exit 42']).status, 42);
    const killed = spawnSync(UMVU, ['-N', 'sh', '-c', 'kill -TERM $$'], { env: testEnv() });
    assert.equal(killed.signal, 'SIGTERM');
    // as a shell sees it: $? is 128 + the signal
    assert.equal(run('sh', ['-c', `${UMVU} -N sh -c 'kill -KILL $$'; echo $?`]).stdout, `${128 + 9}\n`);
  });

  it('-V names the view; -o writes the log to a file; -l sets its level', () => {
    const dir = tmpdir();
    const log = path.join(dir, 'log');
    const r = run(UMVU, ['-N', '-V', 'named', '-o', log, '-l', '3', 'sh', '-c', 'vuname -V; vu_insmod nonexistent-module 2>/dev/null; true']);
    assert.equal(r.stdout, 'named\n');
    assert.equal(r.stderr, '');
    assert.match(fs.readFileSync(log, 'utf8'), /loading of module nonexistent-module failed/);
    const quiet = path.join(dir, 'quiet');
    run(UMVU, ['-N', '-o', quiet, '-l', '2', 'sh', '-c', 'vu_insmod nonexistent-module 2>/dev/null; true']);
    assert.equal(fs.readFileSync(quiet, 'utf8'), '', 'level 3 messages are hidden at -l 2');
  });

  it('-d enables debug tags from the start and -D colors them (on a tty only)', () => {
    const dir = tmpdir();
    const r = run(UMVU, ['-N', '-d', 's', '-D', 's:r', '-o', path.join(dir, 'log'), 'sh', '-c', 'vudebug; exec true']);
    assert.equal(r.stdout, 's\n');
    const log = fs.readFileSync(path.join(dir, 'log'), 'utf8');
    assert.match(log, /^\d+:\d+ SYSCALL \S+ execve "\/usr\/bin\/true"/m);
    assert.ok(!log.includes('\x1b['), 'no color codes in a file');
  });

  it('-S (no fast path) is still transparent', () => {
    const r = run(UMVU, ['-N', '-S', 'sh', '-c', 'ls / | wc -l; cat /etc/hostname']);
    const n = run('sh', ['-c', 'ls / | wc -l; cat /etc/hostname']);
    assert.equal(r.stdout, n.stdout);
    assert.equal(r.status, 0);
  });
});

describe('rc files', () => {
  const rcScript = (file: string, body: string) => {
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  };

  it('runs ~/.vurc inside the view before the command (modules it loads stay)', () => {
    const home = tmpdir();
    rcScript(path.join(home, '.vurc'), `vu_insmod ${EXAMPLE_MODULE}; echo rc-ran`);
    const r = run(UMVU, ['vu_lsmod'], { env: testEnv({ HOME: home }) });
    assert.equal(r.stdout, 'rc-ran\nvuhostname: per-view host names (example module)\n');
  });

  it('-N skips the rc files; -f runs the given file instead', () => {
    const home = tmpdir();
    rcScript(path.join(home, '.vurc'), 'echo home-rc');
    const other = rcScript(path.join(home, 'other'), 'echo other-rc');
    assert.equal(run(UMVU, ['-N', 'true'], { env: testEnv({ HOME: home }) }).stdout, '');
    assert.equal(run(UMVU, ['-f', other, 'true'], { env: testEnv({ HOME: home }) }).stdout, 'other-rc\n');
    assert.equal(run(UMVU, ['true'], { env: testEnv({ HOME: home }) }).stdout, 'home-rc\n');
  });

  it('ignores an rc file that is not executable and a failing one; an rc killed by a signal stops umvu (2)', () => {
    const home = tmpdir();
    fs.writeFileSync(path.join(home, 'plain'), 'echo should-not-run\n', { mode: 0o644 });
    assert.equal(run(UMVU, ['-f', path.join(home, 'plain'), 'echo', 'cmd']).stdout, 'cmd\n');
    const failing = rcScript(path.join(home, 'failing'), 'exit 3');
    assert.equal(run(UMVU, ['-f', failing, 'echo', 'cmd']).stdout, 'cmd\n');
    const killed = rcScript(path.join(home, 'killed'), 'kill -KILL $$');
    const r = run(UMVU, ['-f', killed, 'echo', 'cmd']);
    assert.equal(r.stdout, '');
    assert.equal(r.status, 2);
  });
});

describe('the view and its hypervisor', () => {
  it('waits for every process of the view, orphans included', () => {
    const dir = tmpdir();
    const marker = path.join(dir, 'marker');
    const r = run(UMVU, ['-N', 'sh', '-c', `(sleep 0.5; echo orphan-done > ${marker}) & exit 0`]);
    assert.equal(r.status, 0);
    assert.equal(fs.readFileSync(marker, 'utf8'), 'orphan-done\n');
  });

  it('kills the whole view when umvu is killed: no process keeps running unvirtualized', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'pids');
    const child = spawn(UMVU, ['-N', 'sh', '-c', `sleep 1000 & echo $! > ${pidfile}; (sleep 1000 & echo $! >> ${pidfile}; wait) & wait`], {
      env: testEnv(),
      stdio: 'ignore',
    });
    assert.ok(await waitFor(() => fs.existsSync(pidfile) && fs.readFileSync(pidfile, 'utf8').trim().split('\n').length === 2, 10000));
    const pids = fs.readFileSync(pidfile, 'utf8').trim().split('\n').map(Number);
    assert.ok(pids.every(alive));
    child.kill('SIGKILL');
    assert.ok(await waitFor(() => !pids.some(alive), 5000), `view processes still alive: ${pids.filter(alive)}`);
  });

  it('a SIGTERM to umvu\'s whole process group leaves the view supervised', async () => {
    // the command ignores SIGTERM and goes on: its syscalls must still be served
    const child = spawn(UMVU, ['-N', 'sh', '-c', 'trap "" TERM; sleep 1; echo survived; ls / > /dev/null && echo ls-ok'], {
      env: testEnv(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const done = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await new Promise((r) => setTimeout(r, 400));
    process.kill(-child.pid!, 'SIGTERM');
    assert.equal(await done, 0);
    assert.equal(out, 'survived\nls-ok\n');
  });

  it('forwards SIGTERM sent to umvu to the command', () => {
    const r = run('sh', ['-c', `${UMVU} -N sleep 100 & sleep 1; kill -TERM $!; wait $!; echo status=$?`]);
    assert.equal(r.stdout, `status=${128 + 15}\n`);
  });
});
