/**
 * vumisctime as users meet it: `vumount -t vumisctime none /tmp/clock`, then the files base,
 * frequency and offset change the time the view's programs get. Real programs are the oracle:
 * date, python3's time.time() and datetime.now(), a static and a dynamic C program (vDSO,
 * gettimeofday, time), against this process' own clock (the host's: outside the view).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UMVU, sections, testEnv, tmpdir, umvuBash, type Result } from '../../cli/test/run.js';

const HOUR = 3600;
const show = (r: Result) => `status ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
/** the host's time now, in seconds */
const hostNow = () => Date.now() / 1000;
/** the numbers (integer or decimal) of a text, in order */
const numbers = (text: string) => [...text.matchAll(/-?\d+(?:\.\d+)?/g)].map((m) => Number(m[0]));

/** clock.c: the three ways of C programs to the time, one line: clock_gettime, gettimeofday, time */
const CLOCK_C = `#include <stdio.h>
#include <sys/time.h>
#include <time.h>
int main(void) {
  struct timespec ts;
  struct timeval tv;
  clock_gettime(CLOCK_REALTIME, &ts);
  gettimeofday(&tv, NULL);
  time_t t = time(NULL);
  printf("%lld.%09ld %lld.%06ld %lld\\n", (long long)ts.tv_sec, ts.tv_nsec, (long long)tv.tv_sec, (long)tv.tv_usec, (long long)t);
  return 0;
}
`;
/** thread.c: execs `date +%s` from a thread that is not its process' leader */
const THREAD_C = `#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *run(void *arg) {
  (void)arg;
  execl("/bin/date", "date", "+%s", (char *)NULL);
  perror("execl");
  return NULL;
}
int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, run, NULL);
  pthread_join(t, NULL);
  return 1;
}
`;

/** a view running script (bash) in dir; the host's time before and after it */
function view(dir: string, script: string, umvuArgs: string[] = []): Result & { before: number; after: number } {
  const before = hostNow();
  const r = umvuBash(`cd ${dir} || exit 99; vu_insmod vumisc || exit 98; ${script}`, umvuArgs, { env: testEnv({ TZ: 'UTC', LC_ALL: 'C' }), timeout: 60_000 });
  return { ...r, before, after: hostNow() };
}

/** Asserts that t (seconds) is what the host's clock said during the view, plus shift (±slack). */
function assertShifted(t: number, r: { before: number; after: number }, shift: number, what: string, slack = 2): void {
  assert.ok(t >= r.before + shift - slack && t <= r.after + shift + slack, `${what}: ${t} is not the host's time ${r.before.toFixed(3)}..${r.after.toFixed(3)} + ${shift}`);
}

describe('vumisctime: a clock of the view', function () {
  this.timeout(120_000);
  let work = '';
  let hasStatic = false;
  /** the mount point (no directory of the host's) */
  let mnt = '';

  before(() => {
    work = tmpdir('vumisc-');
    mnt = path.join(work, 'clock');
    fs.writeFileSync(path.join(work, 'clock.c'), CLOCK_C);
    fs.writeFileSync(path.join(work, 'thread.c'), THREAD_C);
    const cc = (args: string[]) => spawnSync('gcc', ['-O2', ...args], { cwd: work, encoding: 'utf8' });
    assert.equal(cc(['-o', 'dynamic', 'clock.c']).status, 0, 'gcc clock.c');
    assert.equal(cc(['-o', 'thread', 'thread.c', '-lpthread']).status, 0, 'gcc thread.c');
    hasStatic = cc(['-static', '-o', 'static', 'clock.c']).status === 0; // (libc.a may be missing)
  });

  it('ls shows base, frequency and offset; the files read as %Lf / %lf; the mount point is a 0777 directory of 0666 files', () => {
    const r = view(
      work,
      `vumount -t vumisctime none ${mnt} || exit 1
echo "== ls"; ls ${mnt}
echo "== ls -l"; ls -ld ${mnt} | cut -d' ' -f1; ls -l ${mnt} | tail -n +2 | awk '{print $1, $5, $NF}'
echo "== cat"; cat ${mnt}/base ${mnt}/frequency ${mnt}/offset
echo "== write"; echo 2.5 > ${mnt}/frequency; echo -3600.25 > ${mnt}/offset; echo 1e3 > ${mnt}/base; printf '  42\\n' > ${mnt}/offset; cat ${mnt}/frequency ${mnt}/base ${mnt}/offset
echo "== proc"; grep " ${mnt} " /proc/self/mounts`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assert.equal(s.ls, 'base\nfrequency\noffset\n');
    assert.equal(s['ls -l'], 'drwxrwxrwx\n-rw-rw-rw- 9 base\n-rw-rw-rw- 9 frequency\n-rw-rw-rw- 9 offset\n');
    assert.equal(s.cat, '0.000000\n1.000000\n0.000000\n');
    assert.equal(s.write, '2.500000\n1000.000000\n42.000000\n');
    assert.equal(s.proc, `none ${mnt} vumisctime rw 0 0\n`);
  });

  it('offset 3600: date, python3 time.time() and datetime.now(), a dynamic and a static C program are an hour ahead; the host\'s clock is not', async () => {
    const ready = path.join(work, 'ready');
    const done = path.join(work, 'done');
    // the view holds the clock changed while the test reads the host's clock
    const before = hostNow();
    const child = spawn(
      UMVU,
      [
        '-N',
        'bash',
        '-c',
        `cd ${work}; vu_insmod vumisc; vumount -t vumisctime none ${mnt} || exit 1; echo 3600 > ${mnt}/offset
echo "== date"; date +%s
echo "== python"; python3 -c 'import time, datetime; print(time.time()); print(datetime.datetime.now().timestamp())'
echo "== dynamic"; ./dynamic
echo "== static"; [ -x static ] && ./static
touch ${ready}; for i in $(seq 100); do [ -e ${done} ] && break; sleep 0.1; done; echo "== date2"; date +%s`,
      ],
      { env: testEnv({ TZ: 'UTC' }), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    const status = new Promise<number | null>((resolve) => child.on('close', resolve));
    for (let i = 0; i < 300 && !fs.existsSync(ready); i++) await new Promise((ok) => setTimeout(ok, 100));
    const outside = spawnSync('date', ['+%s'], { encoding: 'utf8' }).stdout;
    const mid = hostNow();
    fs.writeFileSync(done, '');
    const code = await status;
    const r = { stdout, stderr, status: code, before, after: hostNow() };
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    // (a date that stays the host's is not an hour ahead: the bounds are +-2 s)
    assertShifted(Number(outside), { before: mid, after: mid }, 0, 'date natively, meanwhile');
    assertShifted(numbers(s.date)[0], r, HOUR, 'date');
    assertShifted(numbers(s.date2)[0], r, HOUR, 'date, later');
    const [time, now] = numbers(s.python);
    assertShifted(time, r, HOUR, 'time.time()');
    assertShifted(now, r, HOUR, 'datetime.now()');
    for (const t of numbers(s.dynamic)) assertShifted(t, r, HOUR, 'dynamic: clock_gettime, gettimeofday, time');
    if (hasStatic) for (const t of numbers(s.static)) assertShifted(t, r, HOUR, 'static: clock_gettime, gettimeofday, time');
  });

  it('frequency 0 stops the clock, -1 runs it backwards, 2 doubles its speed; the clock stays continuous', () => {
    const r = view(
      work,
      `vumount -t vumisctime none ${mnt} || exit 1
echo "== stopped"; echo 0 > ${mnt}/frequency; date +%s.%N; sleep 1; date +%s.%N; ./dynamic
echo "== backwards"; echo -1 > ${mnt}/frequency; date +%s.%N; sleep 1; date +%s.%N; sleep 1; date +%s.%N
echo "== double"; echo 2 > ${mnt}/frequency; date +%s.%N; sleep 1; date +%s.%N
echo "== files"; cat ${mnt}/frequency`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    const stopped = s.stopped.split('\n');
    assert.equal(stopped[0], stopped[1], s.stopped);
    // (gettimeofday and time are the same stopped time, in µs and s)
    const [ts, tv, t] = stopped[2].split(' ');
    assert.equal(ts, stopped[0]);
    assert.equal(tv, stopped[0].slice(0, -3));
    assert.equal(t, stopped[0].split('.')[0]);
    assertShifted(Number(stopped[0]), r, 0, 'stopped clock');
    const back = numbers(s.backwards);
    assert.ok(back[0] > back[1] && back[1] > back[2], s.backwards);
    assert.ok(back[0] - back[1] > 0.9 && back[0] - back[1] < 2, s.backwards);
    // continuous: running backwards starts where the stopped clock was
    assert.ok(Math.abs(back[0] - Number(stopped[0])) < 1, `${s.stopped}${s.backwards}`);
    const [d0, d1] = numbers(s.double);
    assert.ok(d1 - d0 > 1.9 && d1 - d0 < 3, s.double);
    assert.ok(Math.abs(d0 - back[2]) < 1, `${s.backwards}${s.double}`);
    assert.equal(s.files, '2.000000\n');
  });

  it('writing no number leaves the value (EINVAL on the console: the write-back happens at close); settimeofday and clock_settime move the offset, without privileges', () => {
    const r = view(
      work,
      `vumount -t vumisctime none ${mnt} || exit 1
echo 10 > ${mnt}/offset
echo abc > ${mnt}/offset; echo '' > ${mnt}/frequency; echo 1x > ${mnt}/base
echo "== values"; cat ${mnt}/base ${mnt}/frequency ${mnt}/offset
echo "== date -s"; date -s @2000000000 > /dev/null; echo "status $?"; date +%s
echo "== python"; python3 -c 'import time; time.clock_settime(time.CLOCK_REALTIME, 1000000000); print(int(time.time()))
try:
    time.clock_settime(time.CLOCK_MONOTONIC, 1)
except OSError as e:
    print(e.strerror)'
echo "== offset"; cat ${mnt}/offset`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assert.equal(s.values, '0.000000\n1.000000\n10.000000\n');
    for (const f of ['offset', 'frequency', 'base']) assert.ok(r.stderr.includes(`umvu: ${mnt}/${f}: what was written could not be saved: EINVAL\n`), show(r));
    const [status, set] = numbers(s['date -s']);
    assert.equal(status, 0);
    assert.ok(set >= 2e9 && set <= 2e9 + 2, s['date -s']);
    const python = s.python.split('\n');
    assert.ok(Number(python[0]) >= 1e9 && Number(python[0]) <= 1e9 + 2, s.python);
    assert.equal(python[1], 'Invalid argument'); // (as natively: MONOTONIC cannot be set)
    // (1e9 - the real time of the call)
    const offset = numbers(s.offset)[0];
    assert.ok(offset >= 1e9 - r.after - 1 && offset <= 1e9 - r.before + 1, s.offset);
  });

  it('programs started before the mount keep the vDSO and the real time (the shell that mounts); those exec\'d after it do not', () => {
    const r = view(
      work,
      `vumount -t vumisctime none ${mnt} || exit 1; echo ${HOUR} > ${mnt}/offset
echo "== shell"; printf '%(%s)T\\n' -1
echo "== child"; bash -c "printf '%(%s)T\\n' -1"
echo "== python"; python3 -c 'import subprocess, time; print(int(time.time())); print(subprocess.run(["date", "+%s"], capture_output=True, text=True).stdout.strip())'`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assertShifted(numbers(s.shell)[0], r, 0, 'the mounting shell');
    assertShifted(numbers(s.child)[0], r, HOUR, 'a shell it starts');
    for (const t of numbers(s.python)) assertShifted(t, r, HOUR, 'python and its posix_spawn child');
  });

  it('execs: failing ones fail as natively; a program in a vufs bind and a script run with the virtual clock; a thread that is not the leader and a traced program keep the real time', () => {
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.copyFileSync(path.join(work, 'dynamic'), path.join(bin, 'dynamic'));
    fs.writeFileSync(path.join(bin, 'script'), '#!/bin/sh\ndate +%s\n', { mode: 0o755 });
    fs.chmodSync(path.join(bin, 'dynamic'), 0o755);
    fs.writeFileSync(path.join(work, 'fails.sh'), './nosuchprogram; echo "status $?"; env nosuchprogram; echo "status $?"; ./clock.c; echo "status $?"\n');
    const strace = spawnSync('sh', ['-c', 'command -v strace'], { encoding: 'utf8' }).stdout.trim();
    const r = view(
      work,
      `vumount -t vumisctime none ${mnt} || exit 1; echo ${HOUR} > ${mnt}/offset
echo "== fail"; bash fails.sh 2>&1
echo "== mount"; vu_insmod vufs; mkdir -p ${work}/m; vumount -t vufs ${bin} ${work}/m || exit 2; ${work}/m/dynamic; ${work}/m/script; vuumount ${work}/m
echo "== thread"; ./thread
echo "== traced"; ${strace ? `${strace} -o /dev/null date +%s` : 'echo none'}`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    // (the errors natively: the same script, outside)
    const native = spawnSync('bash', ['-c', 'bash fails.sh 2>&1'], { cwd: work, encoding: 'utf8', env: testEnv({ LC_ALL: 'C' }) });
    assert.equal(s.fail, native.stdout);
    assert.match(s.fail, /No such file or directory\nstatus 127\n.*\nstatus 127\n.*Permission denied\nstatus 126\n$/s);
    for (const t of numbers(s.mount)) assertShifted(t, r, HOUR, 'a program in a mount');
    assertShifted(numbers(s.thread)[0], r, 0, 'an exec by a thread');
    if (strace) assertShifted(numbers(s.traced)[0], r, 0, 'a traced program');
  });

  it('umvu -S (no native fast path) and processes with virtual state (unrealuidgid: vusu) get the same clock from JavaScript', () => {
    const script = `vumount -t vumisctime none ${mnt} || exit 1; echo ${HOUR} > ${mnt}/offset; echo "== date"; date +%s; ./dynamic; vu_insmod unrealuidgid; vusu -c 'id -u; date +%s; ./dynamic'`;
    for (const args of [['-S'], []]) {
      const r = view(work, script, args);
      assert.equal(r.status, 0, show(r));
      const t = numbers(sections(r.stdout).date);
      assert.equal(t[4], 0, r.stdout); // (vusu: root in the view)
      for (const x of [...t.slice(0, 4), ...t.slice(5)]) assertShifted(x, r, HOUR, `umvu ${args.join(' ')}: ${r.stdout}`);
    }
  });

  it('vuumount gives the kernel\'s clock back, two mounts stack (the newest is the clock), vu_rmmod is refused while mounted', () => {
    const r = view(
      work,
      `vumount -t vumisctime none ${mnt} || exit 1; echo ${HOUR} > ${mnt}/offset
vumount -t vumisctime none ${mnt}2; echo $((2 * ${HOUR})) > ${mnt}2/offset
echo "== two"; date +%s; cat ${mnt}/offset
echo "== busy"; vu_rmmod vumisc 2>&1; echo "status $?"
echo "== one"; vuumount ${mnt}2; date +%s
echo "== none"; vuumount ${mnt}; date +%s; ./dynamic; ls ${mnt} 2>&1
echo "== rmmod"; vu_rmmod vumisc; echo "status $?"; vu_lsmod`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assertShifted(numbers(s.two)[0], r, 2 * HOUR, 'the newest mount');
    assert.equal(s.two.split('\n')[1], '3600.000000');
    assert.equal(s.busy, 'vumisc: Device or resource busy\nstatus 1\n');
    assertShifted(numbers(s.one)[0], r, HOUR, 'the first mount again');
    for (const t of numbers(s.none.split('\n').slice(0, 2).join(' '))) assertShifted(t, r, 0, 'no mount');
    assert.ok(s.none.endsWith(`ls: cannot access '${mnt}': No such file or directory\n`), s.none);
    assert.equal(s.rmmod, 'status 0\n');
  });
});
