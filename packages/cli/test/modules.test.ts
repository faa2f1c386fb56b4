import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { EXAMPLE_MODULE, run, tmpdir, umvuBash, BIN } from './run.js';

describe('module lifecycle: vu_insmod, vu_lsmod, vu_rmmod', () => {
  it('loads the example module by path, lists it, removes it', () => {
    const r = umvuBash(`vu_lsmod; echo ---; vu_insmod ${EXAMPLE_MODULE} && vu_lsmod && vu_rmmod vuhostname && echo ---; vu_lsmod`);
    assert.equal(r.stdout, '---\nvuhostname: per-view host names (example module)\n---\n');
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
  });

  it('loads a module by a path relative to the caller\'s cwd', () => {
    const r = umvuBash(`cd ${path.dirname(EXAMPLE_MODULE)} && vu_insmod ./vuhostname.js && vu_lsmod`);
    assert.match(r.stdout, /^vuhostname: /);
    assert.equal(r.status, 0);
  });

  it('refuses a second insmod: File exists', () => {
    const r = umvuBash(`vu_insmod ${EXAMPLE_MODULE}; vu_insmod ${EXAMPLE_MODULE}; echo status=$?`);
    // as VUOS: the hypervisor's console says why, the command perror()s
    assert.equal(r.stderr, `module vuhostname already loaded\n${EXAMPLE_MODULE}: File exists\n`);
    assert.equal(r.stdout, 'status=1\n');
  });

  it('reports a module that does not exist: No such file or directory', () => {
    const r = umvuBash('vu_insmod vufoo-does-not-exist; echo status=$?');
    assert.equal(r.stderr, 'loading of module vufoo-does-not-exist failed: not found\nvufoo-does-not-exist: No such file or directory\n');
    assert.equal(r.stdout, 'status=1\n');
  });

  it('refuses a file that is not a module: Invalid argument', () => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'notmodule.js'), 'export default 42;\n');
    const r = umvuBash(`vu_insmod ${dir}/notmodule.js; echo status=$?`);
    assert.match(r.stderr, /notmodule\.js: Invalid argument\n$/);
    assert.equal(r.stdout, 'status=1\n');
  });

  it('refuses rmmod while mounted: Device or resource busy; succeeds after vuumount', () => {
    const r = umvuBash(
      `set -e; vu_insmod ${EXAMPLE_MODULE}; vumount -t vuhostname viewhost /etc/hostname; hostname; ` +
        `vu_rmmod vuhostname || echo busy; vuumount /etc/hostname; vu_rmmod vuhostname; hostname; vu_lsmod`,
    );
    const real = run('hostname', []).stdout;
    assert.equal(r.stdout, `viewhost\nbusy\n${real}`);
    assert.equal(r.stderr, 'vuhostname: Device or resource busy\n');
    assert.equal(r.status, 0);
  });

  it('keeps a permanent module: vu_insmod -p', () => {
    const r = umvuBash(`vu_insmod -p ${EXAMPLE_MODULE}; vu_rmmod vuhostname; echo status=$?; vu_lsmod`);
    assert.equal(r.stderr, 'vuhostname: Device or resource busy\n');
    assert.equal(r.stdout, 'status=1\nvuhostname: per-view host names (example module)\n');
  });

  it('rmmod of a module that is not loaded: No such file or directory', () => {
    const r = umvuBash('vu_rmmod nothere; echo status=$?');
    assert.equal(r.stderr, 'nothere: No such file or directory\n');
    assert.equal(r.stdout, 'status=1\n');
  });

  it('a module serves syscalls: sethostname is private to the caller and its later children', () => {
    // python sets the name and starts children: they inherit it; the shell keeps the real one
    const r = umvuBash(
      `set -e; vu_insmod ${EXAMPLE_MODULE}; ` +
        `python3 -c "import socket, os, subprocess; socket.sethostname('private'); print(os.uname().nodename); ` +
        `print(subprocess.run(['hostname'], capture_output=True, text=True).stdout.strip()); ` +
        `print(subprocess.run(['sh', '-c', 'hostname & wait'], capture_output=True, text=True).stdout.strip())"; hostname`,
    );
    const real = run('hostname', []).stdout;
    assert.equal(r.stdout, `private\nprivate\nprivate\n${real}`);
    assert.equal(r.status, 0);
  });

  it('makes the syscall fail (not the hypervisor) when a module throws', () => {
    const dir = tmpdir();
    fs.writeFileSync(
      path.join(dir, 'broken.js'),
      `export default { name: 'broken', description: 'throws', init(api) { api.claimSyscall('sethostname', () => { throw new Error('boom'); }); } };\n`,
    );
    const r = umvuBash(
      `set -e; vu_insmod ${dir}/broken.js; python3 -c "import socket; socket.sethostname('x')" 2>&1 | tail -1; vu_rmmod broken; echo alive`,
      ['-l', '2'],
    );
    assert.equal(r.stdout, 'OSError: [Errno 5] Input/output error\nalive\n');
  });

  it('a handler returning no answer fails its syscall with EIO, and the view goes on', () => {
    const dir = tmpdir();
    fs.writeFileSync(
      path.join(dir, 'noanswer.js'),
      `export default { name: 'noanswer', description: 'returns nothing', init(api) { api.claimSyscall('sethostname', () => undefined); } };\n`,
    );
    const r = umvuBash(
      `set -e; vu_insmod ${dir}/noanswer.js; python3 -c "import socket; socket.sethostname('x')" 2>&1 | tail -1; vu_rmmod noanswer; echo alive`,
      ['-l', '2'],
    );
    assert.equal(r.stdout, 'OSError: [Errno 5] Input/output error\nalive\n');
    assert.equal(r.status, 0);
  });

  it('serves mount(2) for a module with only a mount method', () => {
    const dir = tmpdir();
    fs.writeFileSync(
      path.join(dir, 'mountonly.js'),
      // no init: nothing but the mount method tells the core that mount(2) must reach it
      `export default { name: 'vumountonly', description: 'mounts', mount() {} };\n`,
    );
    const r = umvuBash(`set -e; vu_insmod ${dir}/mountonly.js; vumount -t vumountonly none ${dir}/target && echo mounted`);
    assert.equal(r.stdout, 'mounted\n');
    assert.equal(r.stderr, '');
  });

  it('a slow module delays only its own syscall: other processes go on', () => {
    const dir = tmpdir();
    fs.writeFileSync(
      path.join(dir, 'slow.js'),
      `export default { name: 'slow', description: 'sleeps', init(api) { api.claimSyscall('sethostname', () => new Promise((r) => setTimeout(() => r({ kind: 'value', value: 0 }), 3000))); } };\n`,
    );
    // while python waits 3 s in sethostname, the shell starts, runs and times other commands
    const r = umvuBash(
      `set -e; vu_insmod ${dir}/slow.js; python3 -c "import socket; socket.sethostname('x'); print('slow done')" & ` +
        `sleep 0.5; s=$(date +%s%N); ls / > /dev/null; cat /etc/hostname > /dev/null; vuname -o; e=$(date +%s%N); ` +
        `echo "fast $(( (e - s) / 1000000 < 2000 ))"; wait`,
    );
    assert.equal(r.stdout, 'GNU/Linux/VUOS\nfast 1\nslow done\n');
  });

  it('outside a view the commands say so and fail', () => {
    for (const cmd of ['vu_insmod', 'vu_rmmod', 'vu_lsmod']) {
      const r = run(path.join(BIN, cmd), cmd === 'vu_lsmod' ? [] : ['x']);
      assert.equal(r.status, 2, cmd);
      assert.match(r.stderr, /^This is a VUOS command\. It works only inside a vuos virtual namespace\nUsage: /);
    }
  });
});
