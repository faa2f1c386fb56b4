/**
 * chroot in a view: a small tree with bash, coreutils and their libraries (as debootstrap would
 * make), entered with chroot(8). Its dynamic programs run with the tree's own loader and
 * libraries; paths, cwd, scripts and relative exec behave as in a real chroot. As root the
 * test compares with a real chroot; any user may chroot in a view.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { run, tmpdir, umvuBash } from './run.js';
import { makeChrootTree } from './trees.js';

const INSIDE = 'ls /; pwd; cat /etc/motd; cd /etc; pwd; ls; /bin/script a b; echo "$0"; cd ..; ls -d *; cd /etc && ../bin/cat motd; ls /..; ls -ld /bin /etc/motd /bin/script | while read -r m rest; do echo "$m"; done';

describe('chroot in a view', () => {
  let root = '';
  before(() => {
    root = path.join(tmpdir(), 'root');
    makeChrootTree(root, ['bash', 'ls', 'cat']);
  });

  it('runs the tree\'s dynamic programs with its own loader and libraries, as a real chroot does', function () {
    const view = umvuBash(`chroot ${root} /bin/bash -c '${INSIDE}'`);
    assert.equal(view.stderr, '');
    assert.match(view.stdout, /^bin\netc\nlib\nlib64\n\/\nhello from the chroot\n\/etc\nmotd\nscript \/bin\/script a b\n\/bin\/bash\n/);
    if (process.getuid?.() !== 0) this.skip(); // only root can make the real chroot to compare with
    const native = run('chroot', [root, '/bin/bash', '-c', INSIDE]);
    assert.equal(view.stdout, native.stdout);
  });

  it('keeps the process and its children inside: .. stops at the new root', () => {
    const r = umvuBash(`chroot ${root} /bin/bash -c 'cd /../../..; pwd; ls; bash -c "cd ..; pwd"'`);
    assert.equal(r.stdout, '/\nbin\netc\nlib\nlib64\n/\n', r.stderr);
  });
});
