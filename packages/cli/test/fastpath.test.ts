/**
 * The native path fast path (native/src/paths.cc) with a vufs bind mounted: path calls that
 * reach no mount go to the kernel, calls inside a pure redirect are performed by the listener,
 * and every trap where the kernel alone would resolve differently from the view must still give
 * the view's answer. Each script runs natively on a tree where the mount points are real
 * directories holding the mounts' content, and in the view on a tree where they are vufs mounts
 * (one missing on the host, one shadowing a host directory): the outputs must be the same.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { run, tmpdir, umvuBash } from './run.js';

/** The content of the mounts: mnt (symlinks of every kind) and shadow; `root` is where they show. */
function fill(root: string, mnt: string, shadow: string): void {
  fs.mkdirSync(path.join(mnt, 'sub'), { recursive: true });
  fs.mkdirSync(shadow, { recursive: true });
  fs.mkdirSync(path.join(root, 'outside'), { recursive: true });
  fs.writeFileSync(path.join(mnt, 'file'), 'in mount\n');
  fs.writeFileSync(path.join(mnt, 'sub/inner'), 'inner\n');
  fs.symlinkSync('file', path.join(mnt, 'link'));
  fs.symlinkSync('../outside/o', path.join(mnt, 'up'));
  fs.symlinkSync(path.join(root, 'mnt/file'), path.join(mnt, 'abs'));
  fs.symlinkSync(path.join(root, 'outside/o'), path.join(mnt, 'absout'));
  fs.symlinkSync('sub', path.join(mnt, 'sublink'));
  run('mkfifo', [path.join(mnt, 'fifo')]);
  run('python3', ['-c', "import os, sys; os.setxattr(sys.argv[1], 'user.t', b'x')", path.join(mnt, 'file')]);
  fs.writeFileSync(path.join(shadow, 's'), 'shadow\n');
  fs.writeFileSync(path.join(root, 'outside/o'), 'outside\n');
  fs.symlinkSync(path.join(root, 'mnt/file'), path.join(root, 'outside/abs'));
  fs.symlinkSync('../mnt/file', path.join(root, 'outside/rel'));
  fs.symlinkSync('../mnt', path.join(root, 'outside/dirlink'));
  fs.symlinkSync('../shadow/s', path.join(root, 'outside/shadowrel'));
  fs.symlinkSync('.', path.join(root, 'self'));
  for (const f of [mnt, path.join(mnt, 'sub'), path.join(mnt, 'file'), shadow]) fs.utimesSync(f, 1e9, 1e9);
}

// python: opens, dirfd-relative calls, O_CLOEXEC, O_NOFOLLOW, O_DIRECTORY, a FIFO, access, xattr
const PY = `
import os, fcntl, stat, sys
def t(f):
    try: r = f()
    except OSError as e: r = 'E' + str(e.errno)
    print(r)
def fl(fd): return fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
t(lambda: fl(os.open('mnt/file', os.O_RDONLY | os.O_CLOEXEC)))
t(lambda: fl(os.open('mnt/file', os.O_RDONLY)))
t(lambda: os.read(os.open('mnt/sub/inner', os.O_RDONLY), 100))
t(lambda: os.open('mnt/link', os.O_RDONLY | os.O_NOFOLLOW))
t(lambda: os.open('mnt/file', os.O_RDONLY | os.O_DIRECTORY))
t(lambda: os.open('mnt/nope/x', os.O_RDONLY))
t(lambda: os.open('mnt/file/x', os.O_RDONLY))
t(lambda: stat.S_ISFIFO(os.fstat(os.open('mnt/fifo', os.O_RDONLY | os.O_NONBLOCK)).st_mode))
d = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
t(lambda: os.stat('mnt', dir_fd=d, follow_symlinks=False).st_mode)
t(lambda: os.read(os.open('mnt/file', os.O_RDONLY, dir_fd=d), 100))
m = os.open('mnt', os.O_RDONLY | os.O_DIRECTORY)
t(lambda: sorted(os.listdir(m)))
t(lambda: os.stat('file', dir_fd=m).st_size)
t(lambda: os.readlink('link', dir_fd=m))
t(lambda: os.stat('..', dir_fd=os.open('mnt/sub', os.O_RDONLY)).st_mtime)
t(lambda: os.read(os.open('sub/inner', os.O_RDONLY, dir_fd=m), 100))
t(lambda: [os.access(p, os.R_OK | os.X_OK) for p in ('mnt/file', 'mnt/sub', 'mnt/link', 'mnt/nope')])
t(lambda: os.getxattr('mnt/file', 'user.t'))
t(lambda: os.getxattr('mnt/link', 'user.t', follow_symlinks=False))
t(lambda: os.readlink('mnt/file'))
fd = os.open('mnt/new', os.O_CREAT | os.O_WRONLY, 0o666); os.write(fd, b'new\\n'); os.close(fd)
t(lambda: oct(os.stat('mnt/new').st_mode))
fd = os.open('mnt/new', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'trunc\\n'); os.close(fd)
t(lambda: open('mnt/new').read())
`;

// the same script natively (D: the tree with real directories) and in the view
const script = (d: string) =>
  `cd ${JSON.stringify(d)} && umask 022; ` +
  // symlinks from outside into the mounts, absolute and relative, and .. into a mount point
  `cat mnt/file outside/abs outside/rel outside/dirlink/file outside/shadowrel outside/../mnt/file shadow/s; ` +
  `cat mnt/sub/../file mnt/link mnt/abs mnt/up mnt/absout mnt/sublink/inner self/mnt/file self/outside/o; ` +
  `stat -c '%n %s %F' mnt/ mnt/file mnt/link mnt/sub outside/abs outside/dirlink shadow/s mnt/sub/.. mnt/sublink/; ` +
  `stat -c '%n %Y' mnt/ mnt/file mnt/sub/..; ` +
  `stat -L -c '%n %s %F' outside/dirlink mnt/link mnt/abs mnt/sublink; readlink mnt/link mnt/abs outside/rel outside/dirlink; ` +
  `ls shadow mnt outside/dirlink/ mnt/sublink/; ls -ld mnt/sublink | cut -d' ' -f1,9-; ` +
  `cd outside && cat ../mnt/file ../shadow/s && ls ../mnt && cd .. && ` +
  `cd mnt/.. && cat mnt/sub/inner && cd "$OLDPWD"; ` +
  `find mnt shadow outside outside/dirlink/ | sort; find -L outside | sort; ` +
  `test -r mnt/file && test -x mnt/sub && test ! -e mnt/nope && test -L mnt/link && echo tests; ` +
  `cat mnt/nope 2>&1; cat mnt/file/x 2>&1; cat self/../mnt/file 2>&1; ls mnt/nope/ 2>&1; ` +
  `python3 ../t.py`;

describe('native path fast path: traps (vufs bind, compared with real directories)', () => {
  let work = '';
  before(() => {
    work = tmpdir();
    fs.writeFileSync(path.join(work, 't.py'), PY);
    fill(path.join(work, 'N'), path.join(work, 'N/mnt'), path.join(work, 'N/shadow'));
    fill(path.join(work, 'V'), path.join(work, 'srcA'), path.join(work, 'srcB'));
    // V/mnt does not exist on the host; V/shadow does, with something else in it
    fs.mkdirSync(path.join(work, 'V/shadow'));
    fs.writeFileSync(path.join(work, 'V/shadow/decoy'), 'host\n');
  });

  it('symlinks into a mount, .. into a mount point, relative and dirfd-relative paths, native operations', () => {
    const N = path.join(work, 'N');
    const V = path.join(work, 'V');
    const native = run('bash', ['-c', script(N)]);
    assert.equal(native.status, 0, native.stderr);
    // with the native fast path, and with -S (every call resolved in JavaScript)
    for (const opts of [[], ['-S']]) {
      fs.rmSync(path.join(work, 'srcA/new'), { force: true });
      fs.utimesSync(path.join(work, 'srcA'), 1e9, 1e9);
      const view = umvuBash(
        `set -e; vu_insmod vufs; vumount -t vufs ${work}/srcA ${V}/mnt; vumount -t vufs ${work}/srcB ${V}/shadow; set +e; ${script(V)}`,
        opts,
      );
      assert.equal(view.stderr, native.stderr.replaceAll(N, V), `umvu ${opts}`);
      assert.equal(view.stdout, native.stdout.replaceAll(N, V), `umvu ${opts}`);
      // the open wrote through the mount, on the host directory
      assert.equal(fs.readFileSync(path.join(work, 'srcA/new'), 'utf8'), 'trunc\n');
      assert.ok(!fs.existsSync(path.join(V, 'mnt')));
    }
  });

  it('a mount point at the top of the tree that does not exist on the host', () => {
    const unreal = `/umvu-unreal-${process.pid}`;
    const src = path.join(work, 'srcA');
    const cmds = (d: string) =>
      `cat ${d}/file ${d}/link ${d}/sub/../file; stat -c '%n %s %F' ${d} ${d}/sub ${d}/link; readlink ${d}/link; ` +
      `find ${d} | sort; cd / && cat ${d.slice(1)}/sub/inner && cd ${d}/sub && cat ../file`;
    const native = run('bash', ['-c', cmds(src)]);
    const view = umvuBash(`set -e; vu_insmod vufs; vumount -t vufs ${src} ${unreal}; ${cmds(unreal)}`);
    assert.equal(native.status, 0, native.stderr);
    assert.equal(view.stdout, native.stdout.replaceAll(src, unreal));
    assert.equal(view.stderr, '');
    assert.ok(!fs.existsSync(unreal));
  });

  it('nested mounts and except= are left to JavaScript and still resolved over the view', () => {
    const src = path.join(work, 'srcA');
    const other = tmpdir();
    fs.writeFileSync(path.join(other, 'x'), 'nested\n');
    const m = path.join(work, 'nested');
    fs.mkdirSync(path.join(m, 'sub'), { recursive: true }); // mount(2) resolves its target on the host
    const r = umvuBash(
      `set -e; vu_insmod vufs; vumount -t vufs ${src} ${m}; vumount -t vufs ${other} ${m}/sub; cat ${m}/file ${m}/sub/x; ls ${m}/sub; ` +
        `vuumount ${m}/sub; cat ${m}/sub/inner; vuumount ${m}; vumount -t vufs -o except=/sub ${src} ${m}; cat ${m}/file; ls ${m}/sub`,
    );
    // except=/sub: what was there before, the (empty) host directory
    assert.equal(r.stdout, `in mount\nnested\nx\ninner\nin mount\n`);
  });

  it('with a mount present, paths outside it behave as natively (find, ls -lR, stat of symlinks)', () => {
    const tree = path.join(work, 'N');
    const cmds = `find ${tree} | sort; ls -lR --time-style=+%s ${tree}; stat -c '%n %F' ${tree}/outside/* ${tree}/self/self/outside/rel`;
    const native = run('bash', ['-c', cmds]);
    const view = umvuBash(`set -e; vu_insmod vufs; vumount -t vufs ${work}/srcB ${work}/elsewhere; ${cmds}`);
    assert.equal(native.status, 0, native.stderr);
    assert.equal(view.stdout, native.stdout);
  });
});
