/**
 * vufuse as users meet it: FAT images (vufusefat) and the in-memory example (vufusememfs) must
 * give programs what a host directory gives them; the FAT image left behind must satisfy
 * fsck.vfat and mtools; damaged images and misbehaving submodules fail calls, never umvu.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, run, tmpdir, umvuBash } from '../../cli/test/run.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const mount = (type: string, source: string, target: string, options?: string) =>
  `set -e; vu_insmod vufuse; vumount -t ${type} ${options ? `-o ${options} ` : ''}${source} ${target}; set +e; `;
const lines = (s: string) => s.split('\n').filter(Boolean).sort();

/** a fresh FAT image of size KiB */
function fatImage(work: string, kib = 16384, bits = 16): string {
  const img = path.join(work, 'usb.img');
  run('mkfs.vfat', ['-F', String(bits), '-C', img, String(kib)]);
  return img;
}

/** what a session of file work leaves, told by programs (names, sizes, checksums) */
const report = `find . | sort; find . -type f -printf '%p %s\\n' | sort; find . -type f -print0 | sort -z | xargs -0 md5sum`;

describe('vufuse: FAT images (vufusefat)', () => {
  let images: string;
  before(function () {
    this.timeout(60000);
    images = tmpdir();
    const r = run('bash', [path.join(ROOT, 'test-images/build.sh'), images]);
    assert.equal(r.status, 0, r.stderr);
  });

  it('a session of file work gives what it gives in a host directory; fsck.vfat and mtools agree', () => {
    const work = tmpdir();
    const src = path.join(work, 'src');
    fs.mkdirSync(path.join(src, 'deep/er'), { recursive: true });
    fs.writeFileSync(path.join(src, 'one.txt'), 'one\n');
    fs.writeFileSync(path.join(src, 'deep/er/Two Words.md'), 'two\n'.repeat(1000));
    fs.writeFileSync(path.join(work, 'big.src'), Buffer.alloc(2_600_000, 'x').map((_, i) => (i * 7919) & 255));
    const script = (d: string) =>
      `cd ${d}; echo hello > a.txt; mkdir -p dir/sub; cp -a ${src} dir/src; cp ${work}/big.src big.bin; ` +
      `mv a.txt b.txt; echo more >> b.txt; truncate -s 3 b.txt; truncate -s 10000 grown; echo x > gone; rm gone; ` +
      `mv dir/src/one.txt dir/one.txt; rmdir dir/sub; mv dir/src dir/moved; echo over > c; mv c dir/one.txt; ` +
      `dd if=big.bin of=part bs=1000 skip=3 count=1500 status=none; ${report}; rmdir dir 2>&1; cat nothing 2>&1; cat dir/one.txt`;
    fs.mkdirSync(path.join(work, 'host'));
    const native = run('bash', ['-c', script(path.join(work, 'host'))]);
    const img = fatImage(work);
    const view = umvuBash(mount('vufusefat', img, `${work}/mnt`) + script(`${work}/mnt`) + `; cd /; vuumount ${work}/mnt && echo unmounted`);
    assert.match(native.stdout, /big\.bin 2600000/);
    assert.equal(view.stdout, native.stdout.replaceAll(`${work}/host`, `${work}/mnt`) + 'unmounted\n', view.stderr);
    assert.equal(view.stderr, native.stderr.replaceAll(`${work}/host`, `${work}/mnt`));

    const fsck = run('fsck.vfat', ['-n', img]);
    assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
    const mdir = run('mdir', ['-/', '-b', '-i', img]);
    assert.deepEqual(
      lines(mdir.stdout),
      (fs.readdirSync(path.join(work, 'host'), { recursive: true }) as string[]).map((p) => `::/${p}${fs.statSync(path.join(work, 'host', p)).isDirectory() ? '/' : ''}`).sort(),
    );
    assert.equal(run('mtype', ['-i', img, '::/dir/moved/deep/er/Two Words.md']).stdout, 'two\n'.repeat(1000));
    assert.equal(run('mtype', ['-i', img, '::/b.txt']).stdout, 'hel');
  });

  it('reads an image made by mkfs.vfat and mcopy as mdir lists it (FAT16, FAT32), contents as mtype shows them', () => {
    for (const image of ['fat16.img', 'fat32.img']) {
      const work = tmpdir();
      const img = path.join(images, image);
      const view = umvuBash(mount('vufusefat', img, `${work}/mnt`) + `cd ${work}/mnt; find . -mindepth 1 -type d -printf '%P/\\n'; find . -type f -printf '%P\\n'; md5sum usr/lib/big.bin 'usr/share/doc/Read Me First.txt'`);
      const listed = lines(view.stdout).filter((l) => !/^[0-9a-f]{32} /.test(l));
      assert.deepEqual(listed.map((l) => `::/${l}`), lines(run('mdir', ['-/', '-b', '-i', img]).stdout), image);
      const mtype = run('bash', ['-c', `mtype -i ${img} ::/usr/lib/big.bin | md5sum; mtype -i ${img} '::/usr/share/doc/Read Me First.txt' | md5sum`]);
      assert.deepEqual(
        view.stdout.split('\n').filter((l) => /^[0-9a-f]{32} /.test(l)).map((l) => l.slice(0, 32)),
        mtype.stdout.split('\n').filter(Boolean).map((l) => l.slice(0, 32)),
        view.stderr,
      );
    }
  });

  it('-o ro: every change fails with EROFS and the image stays as it was', () => {
    const work = tmpdir();
    const img = path.join(work, 'ro.img');
    fs.copyFileSync(path.join(images, 'fat16.img'), img);
    const before = fs.readFileSync(img);
    const r = umvuBash(
      mount('vufusefat', img, `${work}/mnt`, 'ro') +
        `export LC_ALL=C; cd ${work}/mnt; cat etc/hostname; echo x >> etc/hostname; echo y > new; mkdir d; rm etc/passwd; mv etc e; touch boot/config; truncate -s 0 etc/hostname; ls etc`,
    );
    const rofs = (what: string) => `${what}: Read-only file system\n`;
    assert.equal(r.stdout, 'vuos-test\nhostname\npasswd\n');
    assert.equal(
      r.stderr,
      'bash: line 1: etc/hostname: Read-only file system\nbash: line 1: new: Read-only file system\n' +
        rofs("mkdir: cannot create directory 'd'") + rofs("rm: cannot remove 'etc/passwd'") + rofs("mv: cannot move 'etc' to 'e'") +
        rofs("touch: cannot touch 'boot/config'") + rofs("truncate: cannot open 'etc/hostname' for writing"),
    );
    assert.ok(fs.readFileSync(img).equals(before));
  });

  it('damaged images: a clean mount failure or EIO, and umvu goes on serving', () => {
    const work = tmpdir();
    const r = umvuBash(
      `vu_insmod vufuse; mkdir -p ${work}/a ${work}/b ${work}/c; ` +
        `vumount -t vufusefat ${images}/fat16-superblock.img ${work}/a; echo "superblock: $?"; ` +
        `vumount -t vufusefat ${images}/fat16-truncated.img ${work}/b && cat ${work}/b/etc/hostname && md5sum ${work}/b/usr/lib/big.bin; ` +
        `vumount -t vufusefat ${images}/fat16-fat.img ${work}/c && (ls -R ${work}/c; cat ${work}/c/usr/lib/* ) > /dev/null 2>&1; echo "fat: done"; ` +
        `vumount -t vufusefat ${work}/none.img ${work}/a; vumount -t vufusenosuchthing none ${work}/a; echo alive`,
      [],
      { timeout: 30000 },
    );
    assert.equal(r.stdout, 'superblock: 1\nvuos-test\nfat: done\nalive\n', r.stderr);
    assert.match(r.stderr, /vufuse: vufusefat .*fat16-superblock\.img: no FAT file system\nvumount: Invalid argument\n/);
    assert.match(r.stderr, /md5sum: .*big\.bin: Input\/output error\n/);
    assert.match(r.stderr, /none\.img: ENOENT.*\nvumount: No such file or directory\n/);
    assert.match(r.stderr, /vufuse: unknown file system type vufusenosuchthing\nvumount: No such device\n$/);
  });
});

describe('vufuse: submodules', () => {
  it('vufusememfs: coreutils and python behave as in a host directory (chmod, symlinks, hard links)', () => {
    const work = tmpdir();
    const script = (d: string) =>
      `cd ${d}; echo hello > a; mkdir -p d/sub; echo x > d/sub/x; ln -s a la; ln a hard; ` +
      `ls -l | sed 's/ [A-Z][a-z][a-z] [ 0-9]* [0-9:]* / /; s/^total .*/total/'; cat la hard; mv a b; echo more >> b; cat b; ` +
      `stat -c '%n %s %a %F %h' b d la hard; chmod 600 b; stat -c '%a' b; truncate -s 2 b; cat b; echo; ` +
      `head -c 3000000 /dev/zero | tr '\\0' y > big; cp -a d d2; ${report}; rm -r d; readlink la; cat la 2>&1; ` +
      `python3 -c "import os; os.makedirs('p/q'); open('p/q/f', 'w').write('py'); print(sorted(os.listdir('p')), open('p/q/f').read())"`;
    fs.mkdirSync(path.join(work, 'host'));
    const native = run('bash', ['-c', script(path.join(work, 'host'))]);
    const view = umvuBash(mount('vufusememfs', 'none', `${work}/mnt`) + script(`${work}/mnt`));
    assert.match(native.stdout, /hello\nhello\nhello\nmore\n/);
    assert.equal(view.stdout, native.stdout.replaceAll(`${work}/host`, `${work}/mnt`), view.stderr);
    assert.equal(view.stderr, native.stderr.replaceAll(`${work}/host`, `${work}/mnt`));
  });

  it('a third-party submodule installed as an npm package: its options, and its failures as errors', () => {
    const work = tmpdir();
    fs.cpSync(path.join(FIXTURES, 'vufusehello'), path.join(work, 'node_modules/vufusehello'), { recursive: true });
    const r = umvuBash(
      `cd ${work}; vu_insmod vufuse; mkdir m1 m2 m3 m4; vumount -t vufusehello -o rw+,x=1 world m1; cat m1/hello; ls m1; ` +
        `vumount -t vufusehello -o initfail s m2; echo "init: $?"; ` +
        `vumount -t vufusehello -o throws s m3; cat m3/hello; vumount -t vufusehello -o garbage s m4; ls m4; ` +
        `vumount -t vufusehello -r s m2; cat m2/hello; vuumount m1 && echo done`,
    );
    assert.equal(r.stdout, 'hello world (rw+,x=1)\nhello\ninit: 1\nhello s (ro)\ndone\n', r.stderr);
    assert.match(r.stderr, /vufuse: vufusehello: init failed\nvumount: Invalid argument\n/);
    assert.match(r.stderr, /vufuse: getattr: Error: getattr broke[^]*cat: m3\/hello: Input\/output error\n/);
    assert.match(r.stderr, /vufuse: readdir \/: bad names\n[^]*ls: cannot open directory 'm4': Input\/output error\n/);
  });
});
