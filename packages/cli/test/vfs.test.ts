/**
 * Virtual file systems (files that are the module's own, not host files): the vumemfs fixture,
 * an in-memory tree. Real programs must behave in it as in a host directory; open files are
 * real fds (memfd shadows) whose content goes back to the module when they are closed, mapped
 * writes included, and at the latest when the view ends.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ROOT, UMVU, run, testEnv, tmpdir, umvuBash } from './run.js';

const VUMEMFS = path.join(ROOT, 'packages/core/test/fixtures/vumemfs.js');
const mountMemfs = (target: string, options?: string) =>
  `set -e; vu_insmod ${VUMEMFS}; vumount -t vumemfs ${options ? `-o ${options} ` : ''}none ${target}; set +e; `;

describe('a virtual file system (vumemfs)', () => {
  // a session of file work; times and inode numbers are left out (they are not the host's)
  const script = (d: string) =>
    `cd ${JSON.stringify(d)}; echo hello > a; mkdir -p d/sub; echo x > d/sub/x; ln -s a la; ln a hard; ` +
    `ls -l | sed 's/ [A-Z][a-z][a-z] [ 0-9]* [0-9:]* / /; s/^total .*/total/'; cat la hard; mv a b; echo more >> b; cat b; ` +
    `stat -c '%n %s %a %F %h' b d la hard; chmod 600 b; stat -c '%a' b; truncate -s 2 b; cat b; echo; ` +
    `python3 -c "import os; os.makedirs('p/q'); open('p/q/f', 'w').write('py'); print(sorted(os.listdir('p')), open('p/q/f').read(), os.path.realpath('la'))"; ` +
    // O_PATH opens of a file and of a symlink: fstat, /proc/self/fd and chmod through it, lchmod
    `python3 -c "import os; fd = os.open('b', os.O_PATH); st = os.fstat(fd); print(oct(st.st_mode), st.st_size, os.readlink(f'/proc/self/fd/{fd}')); ` +
    `os.chmod(f'/proc/self/fd/{fd}', 0o640); print(oct(os.stat('b').st_mode)); l = os.open('la', os.O_PATH | os.O_NOFOLLOW); print(oct(os.fstat(l).st_mode)[:4])"; ` +
    `chmod -h 600 la 2>&1; ` +
    `cp -r d d2; find . | sort; rm -r d; rmdir p 2>&1; rm la; ls; test -e nothing || echo absent; cat nothing 2>&1; ` +
    `cd d2/sub && pwd && cat x && cd ../.. && pwd`;

  for (const answers of ['at once', 'later']) {
    it(`coreutils and python behave as in a host directory (the module answers ${answers})`, () => {
      const work = tmpdir();
      fs.mkdirSync(path.join(work, 'native'));
      const native = run('bash', ['-c', script(path.join(work, 'native'))]);
      const view = umvuBash(mountMemfs(`${work}/mem`, answers === 'later' ? 'async' : undefined) + script(`${work}/mem`));
      assert.match(native.stdout, /hello\nhello\nhello\nmore\n/);
      assert.equal(view.stdout, native.stdout.replaceAll(path.join(work, 'native'), `${work}/mem`));
      assert.equal(view.stderr, native.stderr.replaceAll(path.join(work, 'native'), `${work}/mem`));
    });
  }

  it('builds programs with gcc there and runs them (dynamic, static, scripts)', () => {
    const work = tmpdir();
    const r = umvuBash(
      mountMemfs(`${work}/mem`) +
        `cd ${work}/mem; printf '#include <stdio.h>\\nint main(int c, char **v) { printf("hi %%s\\\\n", v[1]); return 0; }\\n' > h.c; ` +
        `gcc -o h h.c && ./h dynamic; gcc -static -o hs h.c && ${work}/mem/hs static; printf '#!/bin/sh\\necho "script $0 $1"\\n' > s; chmod +x s; ./s x; ` +
        `python3 -c 'import subprocess; subprocess.run(["./h", "spawned"])'`,
    );
    assert.equal(r.stdout, 'hi dynamic\nhi static\nscript ./s x\nhi spawned\n', r.stderr);
  });

  it('keeps what is written through reopens (/proc/self/fd), renames and unlinks of open files', () => {
    const work = tmpdir();
    const log = path.join(work, 'writeback.log');
    const r = umvuBash(
      mountMemfs(`${work}/mem`, `async,writeback=${log}`) +
        `cd ${work}/mem; exec 3>f; echo one >&3; cat /proc/self/fd/3 >/dev/null; echo two >&3; exec 3>&-; sleep 0.2; cat f; ` +
        `exec 3>c; mv c d; echo other > c; echo data >&3; exec 3>&-; sleep 0.2; cat d c; ` +
        `exec 4>u; rm u; echo gone >&4; exec 4>&-; sleep 0.2; ls; cd /usr; readlink /proc/self/cwd; cat /proc/self/cwd/lib/os-release | head -1`,
    );
    assert.equal(r.stdout, `one\ntwo\ndata\nother\nc\nd\nf\n/usr\n${fs.readFileSync('/usr/lib/os-release', 'utf8').split('\n')[0]}\n`, r.stderr);
    assert.equal(r.stderr, '');
    // (write-backs of different files may complete in any order)
    assert.deepEqual(fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).sort(), ['/c 6', '/d 5', '/f 8']);
  });

  it('shares one content among concurrent openers (60 appends at once)', () => {
    const work = tmpdir();
    const r = umvuBash(
      mountMemfs(`${work}/mem`, 'async') + `cd ${work}/mem; for r in 1 2; do rm -f f; for i in $(seq 60); do (echo $i >> f) & done; wait; wc -l < f; done`,
    );
    assert.equal(r.stdout, '60\n60\n', r.stderr);
  });

  it('shows the view paths of its open files in /proc/PID/fd', () => {
    const work = tmpdir();
    const r = umvuBash(
      mountMemfs(`${work}/mem`) +
        `cd ${work}/mem; echo a > f; exec 3<f 4<.; readlink /proc/self/fd/3 /proc/$$/fd/4; python3 -c 'import os; print(os.path.realpath("/proc/self/fd/3"))'`,
    );
    assert.equal(r.stdout, `${work}/mem/f\n${work}/mem\n${work}/mem/f\n`, r.stderr);
  });

  it('writes content back when the last user closes it, mapped writes included; umount waits for open files', () => {
    const work = tmpdir();
    const log = path.join(work, 'writeback.log');
    const r = umvuBash(
      mountMemfs(`${work}/mem`, `async,writeback=${log}`) +
        `cd ${work}/mem; echo data > f; sleep 0.2; cat ${log}; exec 3>>f; cd /; vuumount ${work}/mem 2>&1; echo more >&3; ` +
        `(sleep 0.1; echo "from a child" >&3); exec 3>&-; sleep 0.2; cat ${log}; ` +
        `python3 -c "import mmap; f = open('${work}/mem/f', 'r+b'); m = mmap.mmap(f.fileno(), 0); m[0:4] = b'DATA'; m.close(); f.close()"; sleep 0.2; ` +
        `tail -1 ${log}; cat ${work}/mem/f; echo left open > ${work}/mem/g; exec 4<${work}/mem/g`,
    );
    assert.equal(
      r.stdout,
      `/f 5\nvuumount: Device or resource busy\n/f 5\n/f 23\n/f 23\nDATA\nmore\nfrom a child\n`,
      r.stderr,
    );
    // still open when the view ended: written back then
    assert.match(fs.readFileSync(log, 'utf8'), /\/g 10\n$/);
  });
});

describe('virtual files under a storm of signals to umvu', function () {
  this.timeout(120_000);
  it('opens of virtual files give their fds while umvu takes SIGWINCH (a terminal being resized)', async () => {
    const work = tmpdir();
    const script =
      `${mountMemfs(`${work}/mem`)}cd ${work}/mem; echo content > f; mkdir d; bad=0; ` +
      `for i in $(seq 400); do c=$(cat f) || bad=$((bad+1)); [ "$c" = content ] || bad=$((bad+1)); ls d > /dev/null || bad=$((bad+1)); done; echo bad=$bad`;
    const child = spawn(UMVU, ['bash', '-c', script], { env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    // each signal ends the wait of an ADDFD in flight, if any (the handler forwards it to bash)
    const storm = setInterval(() => {
      for (let i = 0; i < 20; i++) child.kill('SIGWINCH');
    }, 1);
    const status = await new Promise((resolve) => child.on('exit', resolve));
    clearInterval(storm);
    assert.equal(status, 0, err);
    assert.equal(out, 'bad=0\n', err);
  });
});
