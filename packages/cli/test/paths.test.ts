/**
 * Files served by a mount (the vubind fixture: a host directory shown elsewhere in the view):
 * real programs operating under the mount point must behave as on the host directory itself.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, run, tmpdir, umvuBash } from './run.js';

const VUBIND = path.join(ROOT, 'packages/core/test/fixtures/vubind.js');

describe('path calls under a mount (bind fixture)', () => {
  let work = '';
  beforeEach(() => {
    work = tmpdir();
    for (const side of ['native', 'view']) {
      const d = path.join(work, side);
      fs.mkdirSync(path.join(d, 'dir/sub'), { recursive: true });
      fs.writeFileSync(path.join(d, 'dir/file'), 'hello\n');
      fs.symlinkSync('file', path.join(d, 'dir/link'));
      fs.symlinkSync('../outside', path.join(d, 'dir/up'));
      for (const f of ['dir', 'dir/sub', 'dir/file']) fs.utimesSync(path.join(d, f), 1e9, 1e9);
    }
    // dir/up -> ../outside leaves the directory: natively to native/outside, in the view from
    // the mount point (work/mnt) to work/outside
    fs.writeFileSync(path.join(work, 'native/outside'), 'out\n');
    fs.writeFileSync(path.join(work, 'outside'), 'out\n');
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  // the same script, on the host directory natively and on the mount point in the view
  const script = (d: string) =>
    `cd ${JSON.stringify(path.dirname(d))} && D=${JSON.stringify(d)}; ls -l --time-style=+%s "$D"; cat "$D/file" "$D/link"; ` +
    `stat -c '%n %s %a %F' "$D/file" "$D/link" "$D/sub"; stat -L -c '%n %s' "$D/link"; ` +
    `echo new > "$D/new"; mkdir "$D/sub/deeper"; mv "$D/new" "$D/sub/deeper/moved"; ln -s moved "$D/sub/deeper/ml"; ` +
    `chmod 600 "$D/sub/deeper/moved"; ls -lR --time-style=+ "$D/sub" | sed 's/ [0-9]* [A-Z][a-z]* *[0-9]* *[0-9:]* / /'; ` +
    `cat "$D/sub/deeper/ml"; test -e "$D/nothing" || echo absent; cat "$D/nothing" 2>&1; ` +
    `python3 -c "import os,sys; print(sorted(os.listdir(sys.argv[1])), os.path.realpath(sys.argv[1] + '/link'))" "$D"; ` +
    `rm -r "$D/sub/deeper"; ls "$D/sub"; truncate -s 3 "$D/file"; cat "$D/file"; echo; cat "$D/up" 2>&1`;

  it('ls, cat, stat, mkdir, mv, ln -s, chmod, rm, truncate and python give the host directory\'s results', () => {
    const native = run('bash', ['-c', script(path.join(work, 'native/dir'))]);
    const view = umvuBash(`set -e; vu_insmod ${VUBIND}; vumount -t vubind ${work}/view/dir ${work}/mnt; set +e; ${script(`${work}/mnt`)}`);
    assert.equal(native.status, 0, native.stderr);
    const expected = native.stdout.replaceAll(path.join(work, 'native/dir'), `${work}/mnt`);
    assert.equal(view.stdout, expected);
    assert.equal(view.stderr, native.stderr.replaceAll(path.join(work, 'native/dir'), `${work}/mnt`));
    // written through the mount: the host directory changed
    assert.equal(fs.readFileSync(path.join(work, 'view/dir/file'), 'utf8'), 'hel');
  });

  it('keeps the mount point out of its parent listing; unmounted, the path is gone', () => {
    const r = umvuBash(
      `set -e; vu_insmod ${VUBIND}; vumount -t vubind ${work}/view/dir ${work}/mnt; ls ${work}; ls -d ${work}/mnt; vuumount ${work}/mnt; ls ${work}/mnt 2>&1 || true`,
    );
    assert.equal(r.stdout, `native\noutside\nview\n${work}/mnt\nls: cannot access '${work}/mnt': No such file or directory\n`);
  });

  it('cd into a mount: pwd, relative paths, child processes and cd .. behave as on the host directory', () => {
    const cdScript = (parent: string, name: string) =>
      `cd ${parent}/${name} && pwd && /bin/pwd && ls && cd sub && cat ../file && echo made > made && cat made && ` +
      `python3 -c "import os; print(os.getcwd(), sorted(os.listdir('.')))" && sh -c 'pwd; ls' && cd ../.. && pwd && ls -d ${name}`;
    const native = run('bash', ['-c', cdScript(path.join(work, 'native'), 'dir')]);
    const view = umvuBash(`set -e; vu_insmod ${VUBIND}; vumount -t vubind ${work}/view/dir ${work}/native/mnt; ${cdScript(path.join(work, 'native'), 'mnt')}`);
    assert.equal(native.status, 0, native.stderr);
    assert.equal(view.stdout, native.stdout.replaceAll(`${work}/native/dir`, `${work}/native/mnt`).replace(/^dir$/m, 'mnt'));
    assert.equal(view.stderr, '');
    assert.equal(fs.readFileSync(path.join(work, 'view/dir/sub/made'), 'utf8'), 'made\n');
  });
});

describe('the mount table of a view', () => {
  it('lists the virtual mounts after the real ones in /proc/mounts and mountinfo: mount and findmnt see them', () => {
    const work = tmpdir();
    fs.mkdirSync(path.join(work, 'src'));
    const target = path.join(work, 'a mount');
    const r = umvuBash(
      `set -e; vu_insmod vufs; vumount -t vufs ${work}/src "${target}"; tail -1 /proc/mounts; tail -1 /proc/self/mountinfo | cut -d' ' -f3-; ` +
        `mount | tail -1; findmnt -n -o TARGET,SOURCE,FSTYPE "${target}"; vuumount "${target}"; grep -c vufs /proc/mounts || true`,
    );
    const esc = target.replaceAll(' ', '\\040');
    const realLines = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter(Boolean).length;
    assert.ok(realLines > 0);
    assert.equal(
      r.stdout,
      `${work}/src ${esc} vufs rw 0 0\n0:0 / ${esc} rw - vufs ${work}/src rw\n${work}/src on ${target} type vufs (rw)\n${target} ${work}/src vufs\n0\n`,
    );
  });
});

describe('vufs', () => {
  it('replicates a tree (vumount -t vufs / TARGET) and leaves except= paths to what was there', () => {
    const work = tmpdir();
    fs.mkdirSync(path.join(work, 'src/spool'), { recursive: true });
    fs.mkdirSync(path.join(work, 'src/a'));
    fs.writeFileSync(path.join(work, 'src/a/x'), 'from source\n');
    fs.writeFileSync(path.join(work, 'src/spool/s'), 'source spool\n');
    fs.mkdirSync(path.join(work, 'var/spool'), { recursive: true });
    fs.writeFileSync(path.join(work, 'var/spool/r'), 'real spool\n');
    const r = umvuBash(
      `set -e; vu_insmod vufs; vu_lsmod; vumount -t vufs / ${work}/root; ls ${work}/root${work}/src; vuumount ${work}/root; ` +
        `vumount -t vufs -o bind,except=/spool ${work}/src ${work}/var; ls ${work}/var ${work}/var/spool; cat ${work}/var/a/x ${work}/var/spool/r; ` +
        `vu_rmmod vufs 2>&1 || true; vuumount ${work}/var; vu_rmmod vufs; ls ${work}/var`,
    );
    assert.equal(
      r.stdout,
      `vufs: vu filesystem patchworking\na\nspool\n${work}/var:\na\nspool\n\n${work}/var/spool:\nr\nfrom source\nreal spool\nvufs: Device or resource busy\nspool\n`,
    );
  });
});
