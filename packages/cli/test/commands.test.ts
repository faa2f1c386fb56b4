import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { BIN, run, umvuBash } from './run.js';

const uname = (flag: string) => run('uname', [flag]).stdout.trim();

describe('vuname', () => {
  it('prints uname values plus GNU/Linux/VUOS, the server id and the view name inside a view', () => {
    const r = umvuBash('vuname -a; vuname; vuname -o; vuname -n -m; echo umvu=$PPID', ['-V', 'myview']);
    const lines = r.stdout.trim().split('\n');
    const serverid = lines[4].replace('umvu=', '');
    // bash's parent is the root of the view, started by umvu: the server id is umvu's pid
    assert.match(serverid, /^\d+$/);
    assert.equal(
      lines[0],
      `${uname('-s')} ${uname('-n')} ${uname('-r')} ${uname('-v')} ${uname('-m')} GNU/Linux/VUOS ${lines[0].split(' ').at(-2)} myview`,
    );
    assert.deepEqual(lines.slice(1, 4), [uname('-s'), 'GNU/Linux/VUOS', `${uname('-n')} ${uname('-m')}`]);
  });

  it('sets the view name and uses it as the prompt name', () => {
    const r = umvuBash('vuname -P; vuname newname; vuname -V; vuname -P');
    const [prompt, name, prompt2] = r.stdout.trim().split('\n');
    assert.match(prompt, new RegExp(`^${os.hostname()}\\[\\d+\\]$`));
    assert.equal(name, 'newname');
    assert.equal(prompt2, 'newname');
  });

  it('behaves as uname outside a view, and fails with -x', () => {
    const vuname = path.join(BIN, 'vuname');
    assert.equal(run(vuname, ['-a']).stdout, `${uname('-s')} ${uname('-n')} ${uname('-r')} ${uname('-v')} ${uname('-m')} GNU/Linux\n`);
    assert.equal(run(vuname, ['-P']).stdout, `${os.hostname()}\n`);
    const x = run(vuname, ['-x']);
    assert.equal(x.status, 1);
    assert.equal(x.stderr, 'vuname: not inside a vuos view\n');
    assert.equal(run(vuname, ['-x', '-q']).stderr, '');
  });

  it('rejects unknown options with usage', () => {
    const r = run(path.join(BIN, 'vuname'), ['-Z']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^vuname: invalid option -- 'Z'\nUsage: vuname/);
  });
});

describe('vudebug', () => {
  it('enables, lists and disables global tags', () => {
    const r = umvuBash('vudebug; vudebug +p; vudebug; vudebug ?ps; vudebug -; vudebug');
    assert.equal(r.stdout, '\np\np +   PATH\ns -   SYSCALL\n\n');
  });

  it('lists the named tags, modules\' uppercase tags first', () => {
    const r = umvuBash(`vu_insmod ${path.resolve(BIN, '../../core/examples/vuhostname.js')}; vudebug ?`);
    assert.equal(
      r.stdout,
      ['H -   VUHOSTNAME', 'a -   ACTION', 'c -   CHOICE', 'd -   FD_TABLE', 'f -   FILETABLE', 'm -   MODULE', 'n -   NESTED', 'p -   PATH', 's -   SYSCALL', 't -   THREADS', 'v -   VNODE', ''].join('\n'),
    );
  });

  it('with -- command, logs the syscalls of that command and its children only', () => {
    // the local tag s is inherited across fork, vfork, clone (threads) and exec
    const r = umvuBash(
      'vudebug +s -- sh -c \'ls /proc/self/fd > /dev/null; (cat /dev/null); python3 -c "import threading, os; t = threading.Thread(target=lambda: os.stat(\\"/etc/hostname\\")); t.start(); t.join()"; vudebug\'; ls / > /dev/null',
    );
    const lines = r.stderr.trim().split('\n');
    const tids = new Set(lines.map((l) => l.split(':')[0]));
    assert.ok(lines.every((l) => /^\d+:\d+ SYSCALL \S+:\d+ \w+ /.test(l)), r.stderr.slice(0, 500));
    assert.ok(lines.some((l) => / execve "\/usr\/bin\/ls"/.test(l) || / execve "\/bin\/ls"/.test(l)), 'exec of ls logged');
    assert.ok(lines.some((l) => / execve "\/usr\/bin\/cat"/.test(l) || / execve "\/bin\/cat"/.test(l)), 'exec in a subshell logged');
    assert.ok(lines.some((l) => /"\/etc\/hostname"/.test(l)), 'stat from a python thread logged');
    assert.ok(tids.size >= 4, `several processes and threads logged (${[...tids]})`);
    assert.ok(!lines.some((l) => /"\/"/.test(l) && / openat /.test(l)), 'the ls after vudebug is not logged');
    assert.equal(r.stdout, ' (s)\n', 'the local tag shows in parentheses inside the command');
  });

  it('rejects invalid tags', () => {
    const r = umvuBash('vudebug +%; echo status=$?');
    assert.equal(r.stdout, 'status=2\n');
    assert.equal(r.stderr, "vudebug: invalid tag in '+%'\n");
  });
});

describe('vumount / vuumount', () => {
  it('exit non-zero with a message when the call fails', () => {
    const r = umvuBash('vuumount /nonexistent-mount; echo status=$?; vumount -t vuunknownfs none /nonexistent-mount-point; echo status=$?');
    assert.equal(r.stdout, 'status=1\nstatus=1\n');
    assert.match(r.stderr, /^vuumount: .+\nvumount: .+\n$/);
  });
});
