/**
 * vufs as users meet it: the VUOS tutorial scenarios, and the union modes (cow, merge, mincow)
 * checked against the same commands run natively on a plain copy of the tree.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run, tmpdir, umvuBash } from '../../cli/test/run.js';

/** Every file of a tree with its type, mode and content hash: equal snapshots = untouched tree. */
function snapshot(root: string): string {
  const lines: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const what = st.isSymbolicLink()
        ? `-> ${fs.readlinkSync(p)}`
        : st.isFile()
          ? createHash('sha1').update(fs.readFileSync(p)).digest('hex')
          : '';
      lines.push(`${path.relative(root, p)} ${(st.mode & 0o170777).toString(8)} ${st.mtimeMs} ${what}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return lines.join('\n');
}

/** A small tree: files, a symlink, nested directories. */
function makeTree(root: string): void {
  fs.mkdirSync(path.join(root, 'd/sub'), { recursive: true });
  fs.mkdirSync(path.join(root, 'empty'));
  fs.writeFileSync(path.join(root, 'a'), 'alpha\n');
  fs.writeFileSync(path.join(root, 'd/b'), 'beta\n');
  fs.writeFileSync(path.join(root, 'd/sub/c'), 'gamma\n');
  fs.symlinkSync('a', path.join(root, 'link'));
  for (const p of ['a', 'd/b', 'd/sub/c', 'd/sub', 'd', 'empty']) fs.utimesSync(path.join(root, p), 1e9, 1e9);
}

describe('vufs: the VUOS tutorial', () => {
  it('replicates / and layers a second mount inside the first; a mount point that does not exist stays out of /', () => {
    const unreal = `/umvu-unreal-${process.pid}`;
    const hostMnt = fs.readdirSync('/mnt').length; // the first mount shows / again: /mnt/mnt is the host's /mnt
    const r = umvuBash(
      `set -e; vu_insmod vufs; vumount -t vufs / /mnt; diff <(ls /) <(ls /mnt) && echo same; ls /mnt/mnt | wc -l; ` +
        `vumount -t vufs / /mnt; diff <(ls /) <(ls /mnt/mnt) && echo full; ls /mnt/mnt/mnt | wc -l; ` +
        `vumount -t vufs /usr ${unreal}; ls ${unreal} | grep -cx bin; ls / | grep -c ${unreal.slice(1)} || true; ls -d ${unreal}; cd /; ls -d ${unreal.slice(1)}`,
    );
    assert.equal(r.stdout, `same\n${hostMnt}\nfull\n${hostMnt}\n1\n0\n${unreal}\n${unreal.slice(1)}\n`, r.stderr);
  });

  it('umvu -x: a module\'s own paths are host paths (no layering)', () => {
    const r = umvuBash('set -e; vu_insmod vufs; vumount -t vufs / /mnt; vumount -t vufs / /mnt; diff <(ls /mnt) <(ls /mnt/mnt) >/dev/null || echo "not layered"', ['-x']);
    assert.equal(r.stdout, fs.readdirSync('/').join() === fs.readdirSync('/mnt').join() ? '' : 'not layered\n', r.stderr);
  });

  it('opens FIFOs in the caller (reader and writer meet; umvu never waits) and O_TMPFILE with the umask', () => {
    const work = tmpdir();
    fs.mkdirSync(path.join(work, 'h'));
    run('mkfifo', [path.join(work, 'h/fifo')]);
    const py = `import os; fd = os.open("${work}/m", os.O_WRONLY | os.O_TMPFILE, 0o666); print(oct(os.fstat(fd).st_mode))`;
    const r = umvuBash(
      `set -e; vu_insmod vufs; vumount -t vufs ${work}/h ${work}/m; cat ${work}/m/fifo & echo through > ${work}/m/fifo; wait; ` +
        `stat -c %F ${work}/m/fifo; umask 022; python3 -c '${py}'`,
      [],
      { timeout: 20000 },
    );
    assert.equal(r.stdout, 'through\nfifo\n0o100644\n', r.stderr);
  });

  it('a process that dropped root is refused under a mount what it is refused natively', function () {
    if (process.getuid?.() !== 0) this.skip(); // only root can drop to another user
    const work = tmpdir();
    fs.mkdirSync(path.join(work, 'h'));
    fs.writeFileSync(path.join(work, 'h/secret'), 'secret\n', { mode: 0o600 });
    fs.writeFileSync(path.join(work, 'h/pub'), 'pub\n', { mode: 0o666 });
    fs.chmodSync(path.join(work, 'h/pub'), 0o666);
    const script = (d: string) =>
      `setpriv --reuid 65534 --regid 65534 --clear-groups bash -c 'cat ${d}/secret; echo x >> ${d}/secret; cat ${d}/pub; echo y >> ${d}/pub; touch ${d}/new' 2>&1; cat ${d}/pub`;
    const native = run('bash', ['-c', script(`${work}/h`)]);
    fs.writeFileSync(path.join(work, 'h/pub'), 'pub\n');
    const view = umvuBash(`set -e; vu_insmod vufs; vumount -t vufs ${work}/h ${work}/m; set +e; ${script(`${work}/m`)}`);
    assert.match(native.stdout, /Permission denied/);
    assert.equal(view.stdout, native.stdout.replaceAll(`${work}/h`, `${work}/m`));
    assert.equal(fs.readFileSync(path.join(work, 'h/secret'), 'utf8'), 'secret\n');
  });

  it('in a cow union, a process that dropped root may not remove what it may not remove natively', function () {
    if (process.getuid?.() !== 0) this.skip(); // only root can drop to another user
    const work = tmpdir();
    fs.mkdirSync(path.join(work, 'low/d'), { recursive: true });
    fs.mkdirSync(path.join(work, 'up'));
    fs.writeFileSync(path.join(work, 'low/d/f'), 'f\n');
    const r = umvuBash(
      `set -e; vu_insmod vufs; vumount -t vufs -o cow ${work}/up ${work}/low; set +e; ` +
        `setpriv --reuid 65534 --regid 65534 --clear-groups rm ${work}/low/d/f 2>&1; ls ${work}/low/d; rm ${work}/low/d/f; ls ${work}/low/d`,
    );
    assert.equal(r.stdout, `rm: cannot remove '${work}/low/d/f': Permission denied\nf\n`, r.stderr);
    assert.ok(fs.existsSync(path.join(work, 'low/d/f')));
  });

  it('mounts a file over a file', () => {
    const work = tmpdir();
    fs.writeFileSync(path.join(work, 'resolv.conf'), 'nameserver 80.80.80.80\n');
    const r = umvuBash(`set -e; vu_insmod vufs; vumount -t vufs ${work}/resolv.conf /etc/resolv.conf; cat /etc/resolv.conf`);
    assert.equal(r.stdout, 'nameserver 80.80.80.80\n', r.stderr);
    assert.notEqual(fs.readFileSync('/etc/resolv.conf', 'utf8'), 'nameserver 80.80.80.80\n');
  });

  it('rejects bad options with VUOS\' messages (on the console) and a failing vumount', () => {
    const r = umvuBash('vu_insmod vufs; for o in cow,merge foo except cow=1; do vumount -t vufs -o $o /tmp /tmp/x 2>&1; echo "exit $?"; done');
    assert.equal(r.stdout, 'vumount: Invalid argument\nexit 1\n'.repeat(4));
    assert.equal(
      r.stderr,
      'vufs: move, merge, cow and mincow are mutually exclusive\nvufs: foo unknown tag\nvufs: except requires an arg\nvufs: cow need no args\n',
    );
  });
});

describe('vufs cow', () => {
  // changes of every kind, then listings and contents
  const script = (d: string) =>
    `cd ${JSON.stringify(d)}; echo more >> a; echo new > n; rm link; mkdir e; mv d/b e/; mv a a2; ln -s a2 l2; ` +
    `chmod 600 d/sub/c; touch -d @1000000000 n; rm -r d/sub; rmdir empty; mkdir empty; echo x > empty/x; ` +
    `ls -la --time-style=+ . e empty d | sed 's/ [0-9]* root root / /; s/^\\(.\\{10\\}\\) [0-9]*/\\1/'; ` +
    `cat a2 n e/b l2 empty/x; stat -c '%n %a %s' a2 e/b n; find . | sort; ` +
    `python3 -c "import os; print(sorted(os.listdir('.')), sorted(os.listdir('e')))"; cat a 2>&1; rm -r e; ls; ` +
    // a directory both layers have (d: the lower one, and its copy made for d/new)
    `echo y > d/new; ls d; rm -r d; ls`;

  it('shows every change in the view and leaves the lower tree untouched', () => {
    const work = tmpdir();
    for (const t of ['native', 'lower']) makeTree(path.join(work, t));
    fs.mkdirSync(path.join(work, 'upper'));
    const before = snapshot(path.join(work, 'lower'));
    const native = run('bash', ['-c', script(path.join(work, 'native'))]);
    const view = umvuBash(`set -e; vu_insmod vufs; vumount -t vufs -o cow ${work}/upper ${work}/lower; set +e; ${script(`${work}/lower`)}`);
    assert.match(native.stdout, /alpha\nmore\nnew\nbeta\n/);
    assert.equal(view.stdout, native.stdout.replaceAll(path.join(work, 'native'), path.join(work, 'lower')));
    assert.equal(view.stderr, native.stderr.replaceAll(path.join(work, 'native'), path.join(work, 'lower')));
    assert.equal(snapshot(path.join(work, 'lower')), before);
    // the changes live in the upper tree: copies, new files, whiteouts
    assert.equal(fs.readFileSync(path.join(work, 'upper/a2'), 'utf8'), 'alpha\nmore\n');
    assert.ok(fs.statSync(path.join(work, 'upper/.-/d')).isFile() && fs.existsSync(path.join(work, 'upper/.-/link')));
  });

  it('builds a C project inside a cow overlay: the source tree is byte-identical afterwards', () => {
    const work = tmpdir();
    const src = path.join(work, 'src');
    fs.mkdirSync(path.join(src, 'lib'), { recursive: true });
    fs.writeFileSync(path.join(src, 'lib/part.c'), 'int part(int x) { return x * 6; }\n');
    fs.writeFileSync(path.join(src, 'main.c'), '#include <stdio.h>\nint part(int);\nint main(void) { printf("%d\\n", part(7)); return 0; }\n');
    fs.writeFileSync(path.join(src, 'Makefile'), 'prog: main.o lib/part.o\n\t$(CC) -o $@ $^\nclean:\n\trm -f prog main.o lib/part.o\n');
    fs.mkdirSync(path.join(work, 'overlay'));
    const before = snapshot(src);
    const r = umvuBash(
      `set -e; vu_insmod vufs; vumount -t vufs -o cow ${work}/overlay ${src}; cd ${src}; make -s -j2; ./prog; ls; make -s clean; ls; make -s; ./prog; ` +
        `cd /; vuumount ${src}; ls ${src}`,
    );
    assert.equal(r.stdout, '42\nMakefile\nlib\nmain.c\nmain.o\nprog\nMakefile\nlib\nmain.c\n42\nMakefile\nlib\nmain.c\n', r.stderr);
    assert.equal(snapshot(src), before);
    assert.deepEqual(fs.readdirSync(path.join(work, 'overlay')).sort(), ['lib', 'main.o', 'prog']);
    assert.ok(fs.existsSync(path.join(work, 'overlay/lib/part.o')));
  });
});

describe('vufs merge', () => {
  it('serves SOURCE read-only over TARGET; new files and changes go to TARGET', () => {
    const work = tmpdir();
    fs.mkdirSync(path.join(work, 'src'));
    fs.mkdirSync(path.join(work, 'target'));
    fs.writeFileSync(path.join(work, 'src/s'), 'from source\n');
    fs.writeFileSync(path.join(work, 'target/t'), 'from target\n');
    fs.writeFileSync(path.join(work, 'target/s'), 'hidden\n');
    const r = umvuBash(
      `set -e; vu_insmod vufs; vumount -t vufs -o merge ${work}/src ${work}/target; cd ${work}/target; set +e; ls; cat s t; ` +
        `echo x >> s; rm s; echo more >> t; echo new > n; ls; ls ${work}/src`,
    );
    assert.equal(r.stdout, 's\nt\nfrom source\nfrom target\nn\ns\nt\ns\n', r.stderr);
    assert.match(r.stderr, /s: Read-only file system[\s\S]*rm: cannot remove 's': Read-only file system/);
    assert.equal(fs.readFileSync(path.join(work, 'target/t'), 'utf8'), 'from target\nmore\n');
    assert.equal(fs.readFileSync(path.join(work, 'target/n'), 'utf8'), 'new\n');
    assert.equal(fs.readFileSync(path.join(work, 'src/s'), 'utf8'), 'from source\n');
  });
});
