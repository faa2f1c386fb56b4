/**
 * vufuse's file systems served by unmodified FUSE programs (vufuseext2/3/4 → fuse2fs,
 * vufusesquashfs → squashfuse, vufuseiso9660 → fuseiso), and those programs run by hand on the
 * fuse module's /dev/fuse. Real programs are the oracle: what programs print in the view is
 * compared with what they print in a host directory, or with what e2fsprogs (debugfs, e2fsck),
 * unsquashfs and isoinfo say about the same image.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, run, tmpdir, umvuBash } from '../../cli/test/run.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
/** lists a tree: path, type, mode, owner, links, size, mtime, link target, sha256 (see the script) */
const TREELIST = path.join(FIXTURES, 'treelist.py');
/** the file work compared between a mount and a host directory */
const WORKLOAD = path.join(FIXTURES, 'workload.sh');
const isRoot = process.getuid?.() === 0;

const sh = (script: string) => run('bash', ['-c', script]);
/** the view's output without fuse2fs' own notices on its stdout (it prints them natively too) */
const quiet = (out: string) => out.replace(/^(Mounting read-only\.|\S+: Writing to the journal is not supported\.)\n/gm, '');
const lines = (s: string) => s.split('\n').filter(Boolean).sort();
const mount = (type: string, source: string, target: string, options?: string) =>
  `set -e; vu_insmod vufuse; mkdir -p ${target}; vumount -t ${type} ${options ? `-o ${options} ` : ''}${source} ${target}; set +e; `;

/** names in the root directory of an ext2/3/4 image, as debugfs lists them */
function debugfsNames(img: string): string[] {
  const r = run('debugfs', ['-R', 'ls -p', img]);
  assert.equal(r.status, 0, r.stderr);
  return lines(r.stdout)
    .map((l) => l.split('/')[5])
    .filter((n) => n !== '.' && n !== '..')
    .sort();
}

/** e2fsck -fn: a clean image exits 0 */
function assertFsckClean(img: string): void {
  const r = run('e2fsck', ['-fn', img]);
  assert.equal(r.status, 0, `e2fsck -fn ${img}: ${r.stdout}${r.stderr}`);
}

/** "sha256  ./relative/path" of every regular file below dir, sorted (the host's view of it) */
function hostChecksums(dir: string, rel = '.'): string[] {
  return fs
    .readdirSync(path.join(dir, rel), { withFileTypes: true })
    .flatMap((d) => {
      const p = `${rel}/${d.name}`;
      if (d.isDirectory()) return hostChecksums(dir, p);
      return d.isFile() ? [`${crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, p))).digest('hex')}  ${p}`] : [];
    })
    .sort();
}
/** the same, computed by sha256sum in a shell (inside the view) */
const checksumScript = `find . -type f -print0 | xargs -0 sha256sum | sort -k2`;
const checksumsOf = (out: string) => lines(out).filter((l) => /^[0-9a-f]{64}  \.\//.test(l));

describe('vufuse: file systems served by unmodified FUSE daemons', function () {
  this.timeout(120_000);
  let images = '';
  /** the tree the images were built from (extracted from the squashfs image with unsquashfs) */
  let tree = '';

  before(function () {
    this.timeout(60_000);
    images = tmpdir();
    const r = run('bash', [path.join(ROOT, 'test-images/build.sh'), images]);
    assert.equal(r.status, 0, r.stderr);
    tree = path.join(tmpdir(), 'tree');
    const x = run('unsquashfs', ['-q', '-n', '-d', tree, path.join(images, 'squashfs.img')]);
    assert.equal(x.status, 0, x.stderr);
  });

  it('the seed example: vumount -t vufuseext2 -o ro IMG /mnt; ls /mnt lists what debugfs lists; vuumount /mnt', () => {
    // /mnt as in the example when it is there and empty (CI, as root); a scratch directory else
    const useMnt = isRoot && fs.existsSync('/mnt') && fs.readdirSync('/mnt').length === 0;
    const mnt = useMnt ? '/mnt' : path.join(tmpdir(), 'mnt');
    fs.mkdirSync(mnt, { recursive: true });
    const img = path.join(images, 'ext2.img');
    const r = umvuBash(`vu_insmod vufuse; vumount -t vufuseext2 -o ro ${img} ${mnt} || exit 9; ls ${mnt}; vuumount ${mnt} && echo unmounted; ls ${mnt}`);
    const names = debugfsNames(img);
    assert.ok(names.includes('etc') && names.includes('lost+found'), names.join(' '));
    assert.equal(quiet(r.stdout), [...names, 'unmounted', ...fs.readdirSync(mnt).sort()].map((n) => `${n}\n`).join(''), r.stderr);
    assert.equal(r.status, 0);
  });

  for (const type of ['ext4', 'ext2']) {
    it(`-o rw+ on a fresh mkfs.${type} image: the workload leaves the tree it leaves in a host directory; e2fsck -fn clean; debugfs reads it`, () => {
      const work = tmpdir();
      const img = path.join(work, `${type}.img`);
      const mk = run(`mkfs.${type}`, ['-q', '-F', img, '64M']);
      assert.equal(mk.status, 0, mk.stderr);
      fs.mkdirSync(path.join(work, 'host'));
      // fuse2fs of Debian 12 reports whole seconds (it is built without st_atim): compare to the second
      // and find, whose fts checks each directory's identity (fstat of the fd) on its way back up
      const list = (d: string) => `python3 ${TREELIST} ${d} s && cd ${d} && find . ! -path './lost+found*' | sort`;
      const native = sh(`bash ${WORKLOAD} ${work}/host && ${list(`${work}/host`)}`);
      assert.equal(native.status, 0, native.stderr);
      const view = umvuBash(
        mount(`vufuse${type}`, img, `${work}/mnt`, 'rw+') +
          `bash ${WORKLOAD} ${work}/mnt || exit 8; (${list(`${work}/mnt`)}) || exit 7; cd /; vuumount ${work}/mnt || exit 6; echo unmounted`,
      );
      assert.match(native.stdout, /^big file 644 \d+:\d+ 1 5488895 recent /m);
      assert.match(native.stdout, /^dir\/sub\/deeper\/mtools\/copyright file /m);
      assert.match(native.stdout, /^\.\/dir\/sub\/deeper\/mtools\/examples\/mtools\.conf$/m);
      assert.equal(quiet(view.stdout), `${native.stdout}unmounted\n`, view.stderr);
      assert.equal(view.status, 0, view.stderr);
      assertFsckClean(img);
      assert.equal(run('debugfs', ['-R', 'cat /renamed', img]).stdout, 'hello\nmore\n');
      assert.equal(run('debugfs', ['-R', 'cat /dir/sub/over', img]).stdout, 'over\n');
      // the nanoseconds of touch -d did reach the image (only fuse2fs' getattr drops them)
      if (type === 'ext4') assert.match(run('debugfs', ['-R', 'stat /renamed', img]).stdout, /mtime: 0x60406abf:1d6f3454 /);
    });
  }

  it('-o rw (no +) is read-only, as with fuse-ext2: changes fail with "Read-only file system"', () => {
    const work = tmpdir();
    const img = path.join(work, 'ro.img');
    fs.copyFileSync(path.join(images, 'ext2.img'), img);
    const before = fs.readFileSync(img);
    const r = umvuBash(
      mount('vufuseext2', img, `${work}/mnt`, 'rw') +
        `export LC_ALL=C; cd ${work}/mnt; cat etc/hostname; echo x >> etc/hostname; mkdir d; rm etc/passwd; touch boot/config; ls etc`,
    );
    assert.equal(quiet(r.stdout), 'vuos-test\nhostname\npasswd\n', r.stderr);
    const rofs = (what: string) => `${what}: Read-only file system\n`;
    assert.ok(
      r.stderr.endsWith(
        'bash: line 1: etc/hostname: Read-only file system\n' +
          rofs("mkdir: cannot create directory 'd'") +
          rofs("rm: cannot remove 'etc/passwd'") +
          rofs("touch: cannot touch 'boot/config'"),
      ),
      r.stderr,
    );
    assert.ok(fs.readFileSync(img).equals(before), 'the image changed');
  });

  it('squashfs: the listing inside is unsquashfs -lls, the contents are those unsquashfs -d extracts', () => {
    const work = tmpdir();
    const img = path.join(images, 'squashfs.img');
    const r = umvuBash(
      mount('vufusesquashfs', img, `${work}/mnt`) +
        `export TZ=UTC; cd ${work}/mnt; find . -mindepth 1 -printf '%y|%M %u/%g %s %TY-%Tm-%Td %TH:%TM squashfs-root/%P|%l\\n'; ${checksumScript}`,
    );
    assert.equal(r.status, 0, r.stderr);
    const inside = lines(r.stdout)
      .filter((l) => l.includes('|'))
      .map((l) => {
        const [type, entry, target] = l.split('|');
        // squashfuse sizes directories 0, unsquashfs by their index: directories without sizes
        const e = type === 'd' ? entry.replace(/ \d+ (\S+ \S+ squashfs-root)/, ' - $1') : entry;
        return type === 'l' ? `${e} -> ${target}` : e;
      });
    const listed = run('unsquashfs', ['-lls', img], { env: { ...process.env, TZ: 'UTC' } });
    assert.equal(listed.status, 0, listed.stderr);
    const expected = lines(listed.stdout)
      .map((l) => /^(\S{10}) (\S+)\s+(\d+) (\S+ \S+) (squashfs-root\/.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => !!m)
      .map(([, mode, owner, size, date, name]) => `${mode} ${owner} ${mode.startsWith('d') ? '-' : size} ${date} ${name}`);
    assert.ok(expected.some((l) => l.endsWith('squashfs-root/usr/share/doc/Read Me First.txt')), expected.join('\n'));
    assert.deepEqual(inside.sort(), expected.sort());
    assert.deepEqual(checksumsOf(r.stdout), hostChecksums(tree));
  });

  it('iso9660: the listing inside is isoinfo -R -l, the names isoinfo -J -f, the contents the source tree', () => {
    const work = tmpdir();
    const img = path.join(images, 'iso9660.iso');
    const r = umvuBash(mount('vufuseiso9660', img, `${work}/mnt`) + `cd ${work}/mnt; find . -mindepth 1 -printf '%M %s /%P|%l\\n'; ${checksumScript}`);
    assert.equal(r.status, 0, r.stderr);
    const inside = lines(r.stdout)
      .filter((l) => l.includes('|'))
      .map((l) => l.replace(/\|$/, '').replace('|', ' -> '));
    // isoinfo -R -l: "Directory listing of /DIR/" then "MODE LINKS UID GID SIZE DATE [EXTENT FLAGS] NAME"
    const listed = run('isoinfo', ['-R', '-l', '-i', img]);
    assert.equal(listed.status, 0, listed.stderr);
    const expected: string[] = [];
    let dir = '/';
    for (const l of listed.stdout.split('\n')) {
      const header = /^Directory listing of (\/.*)$/.exec(l);
      if (header) dir = header[1];
      const m = /^(\S{10})\s+\d+\s+\d+\s+\d+\s+(\d+) \w{3} [ \d]\d \d{4} \[\s*\d+ \d+\]\s+(.*?) ?$/.exec(l);
      if (m && m[3] !== '.' && m[3] !== '..') expected.push(`${m[1]} ${m[2]} ${dir}${m[3]}`);
    }
    assert.ok(expected.some((l) => l.endsWith('/usr/share/doc/Read Me First.txt')), expected.join('\n'));
    assert.deepEqual(inside.sort(), expected.sort());
    const joliet = run('isoinfo', ['-J', '-f', '-i', img]);
    assert.deepEqual(
      inside.map((l) => l.replace(/^\S+ \d+ /, '').replace(/ -> .*$/, '')).sort(),
      lines(joliet.stdout),
    );
    assert.deepEqual(checksumsOf(r.stdout), hostChecksums(tree));
  });

  it('unmodified daemons by hand: vu_insmod fuse; fuse2fs, squashfuse, fuseiso; fusermount -u and umount end them', () => {
    const work = tmpdir();
    const img = path.join(work, 'e.img');
    fs.copyFileSync(path.join(images, 'ext2.img'), img);
    const sq = path.join(images, 'squashfs.img');
    const iso = path.join(images, 'iso9660.iso');
    const daemons = `pgrep -f '^(fuse2fs|squashfuse|fuseiso) .*${work}' | wc -l`;
    const r = umvuBash(
      `cd ${work}; mkdir d1 d2 d3; vu_insmod fuse; stat -c '%F %t,%T %a' /dev/fuse; ` +
        `fuse2fs -o fakeroot ${img} ${work}/d1 || exit 11; squashfuse ${sq} ${work}/d2 || exit 12; fuseiso ${iso} ${work}/d3 >/dev/null 2>&1 || exit 13; ` +
        `echo "running: $(${daemons})"; for d in d1 d2 d3; do echo "== $d"; ls $d; done; ` +
        `awk '$2 ~ "^${work}/" {print $1, $2, $3}' /proc/mounts; ` +
        `echo written > d1/new; fusermount -u d1; echo "fusermount: $?"; umount d2; echo "umount: $?"; umount d3; echo "umount: $?"; ` +
        `echo "left: $(${daemons})"; grep -c " ${work}/" /proc/mounts; ls d1 | wc -l`,
      [],
      { timeout: 60_000 },
    );
    const isoNames = lines(run('isoinfo', ['-J', '-f', '-i', iso]).stdout).filter((p) => p.lastIndexOf('/') === 0).map((p) => p.slice(1));
    const sqNames = fs.readdirSync(tree).sort();
    assert.equal(
      r.stdout,
      [
        'character special file a,e5 666',
        'running: 3',
        '== d1',
        ...debugfsNames(path.join(images, 'ext2.img')),
        '== d2',
        ...sqNames,
        '== d3',
        ...isoNames,
        `${img} ${work}/d1 fuse.ext4`,
        `squashfuse ${work}/d2 fuse.squashfuse`,
        `fuseiso ${work}/d3 fuse.fuseiso`,
        'fusermount: 0',
        'umount: 0',
        'umount: 0',
        'left: 0',
        '0',
        '0',
        '',
      ].join('\n'),
      r.stderr,
    );
    assertFsckClean(img);
    assert.equal(run('debugfs', ['-R', 'cat /new', img]).stdout, 'written\n');
  });

  it('more libfuse programs: fuse-zip writes into a zip archive, archivemount lists a tar as tar tf does', () => {
    const work = tmpdir();
    const zip = path.join(work, 'a.zip');
    const tar = path.join(work, 'a.tar');
    assert.equal(run('python3', ['-c', `import zipfile; z = zipfile.ZipFile('${zip}', 'w')\nfor name, text in (('dir/one', 'first'), ('two', 'second')):\n  i = zipfile.ZipInfo(name, (2020, 1, 2, 3, 4, 6)); i.external_attr = 0o100644 << 16; z.writestr(i, text)\nz.close()`]).status, 0);
    // (a tree without hard links: archivemount 0.8.7 hangs on them, under kernel FUSE too)
    assert.equal(sh(`mkdir -p ${work}/src/d/e; echo a > ${work}/src/d/a; seq 1 5000 > ${work}/src/d/e/n; ln -s d/a ${work}/src/l; tar -C ${work}/src -cf ${tar} .`).status, 0);
    const r = umvuBash(
      `cd ${work}; mkdir z t; vu_insmod fuse; fuse-zip ${zip} z || exit 11; cat z/dir/one z/two; echo; echo added > z/three; fusermount -u z; ` +
        `archivemount -o readonly ${tar} t >/dev/null 2>&1 || exit 12; (cd t; find . -mindepth 1 | sort); umount t`,
      [],
      { timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const listed = run('tar', ['-tf', tar]).stdout.split('\n').filter((l) => l && l !== './').map((l) => l.replace(/\/$/, '')).sort();
    assert.equal(r.stdout, `firstsecond\n${listed.join('\n')}\n`, r.stderr);
    const check = run('python3', ['-c', `import zipfile; z = zipfile.ZipFile('${zip}'); print(sorted(z.namelist()), z.read('three'))`]);
    assert.equal(check.stdout, "['dir/one', 'three', 'two'] b'added\\n'\n", check.stderr);
  });

  it('the view ends with a daemon still mounted: it is unmounted on the way out (image clean, holding what was written)', () => {
    const work = tmpdir();
    const img = path.join(work, 'e.img');
    fs.copyFileSync(path.join(images, 'ext4.img'), img);
    const started = Date.now();
    const r = umvuBash(
      `cd ${work}; mkdir d; vu_insmod fuse; fuse2fs ${img} d || exit 11; echo later > d/late; seq 1 100000 > d/numbers; vu_insmod vufuse; ` +
        `mkdir v; vumount -t vufuseext4 -o rw+ ${path.join(images, 'ext4-empty.img')} v; echo ok`,
      [],
      { timeout: 60_000 },
    );
    assert.equal(quiet(r.stdout), 'ok\n', r.stderr);
    assert.ok(Date.now() - started < 20_000, `the view took ${Date.now() - started} ms to end`);
    assert.equal(sh(`pgrep -f '^fuse2fs .*${work}' | wc -l`).stdout, '0\n');
    assertFsckClean(img);
    assert.equal(run('debugfs', ['-R', 'cat /late', img]).stdout, 'later\n');
    assert.equal(run('debugfs', ['-R', 'cat /numbers', img]).stdout, sh('seq 1 100000').stdout);
  });

  it('damaged images: the mount fails, or reading shows the damage (errors or other contents); umvu goes on serving', () => {
    const work = tmpdir();
    const cases: Array<[string, string]> = [
      ['ext2-truncated.img', 'ext2'],
      ['ext2-superblock.img', 'ext2'],
      ['ext2-inodes.img', 'ext2'],
      ['iso9660-truncated.iso', 'iso9660'],
      ['iso9660-superblock.iso', 'iso9660'],
      ['iso9660-dirs.iso', 'iso9660'],
      ['squashfs-truncated.img', 'squashfs'],
      ['squashfs-superblock.img', 'squashfs'],
      ['squashfs-inodes.img', 'squashfs'],
    ];
    const script =
      `vu_insmod vufuse; mkdir -p ${work}/m; cd ${work}; ` +
      cases
        .map(
          ([img, type]) =>
            `echo "== ${img}"; if vumount -t vufuse${type} -o ro ${images}/${img} m 2>/dev/null; then ` +
            `(cd m && ${checksumScript}) 2>/dev/null; echo "read: \${PIPESTATUS[0]}"; vuumount m; echo "umount: $?"; else echo "mount failed"; fi; `,
        )
        .join('') +
      `cat /etc/hostname`;
    const r = umvuBash(script, [], { timeout: 90_000 });
    assert.equal(r.status, 0, r.stderr);
    const good = hostChecksums(tree);
    const parts = r.stdout.split(/^== /m).slice(1);
    assert.deepEqual(parts.map((p) => p.split('\n')[0]), cases.map(([img]) => img), r.stdout);
    for (const part of parts) {
      const [img, ...rest] = part.split('\n');
      if (rest.includes('mount failed')) continue;
      const sums = checksumsOf(rest.join('\n'));
      const damaged = !rest.includes('read: 0') || JSON.stringify(sums) !== JSON.stringify(good);
      assert.ok(damaged, `${img}: mounted and read back as the good image`);
      assert.ok(rest.includes('umount: 0'), `${img}: ${rest.join('\n')}`);
    }
    // the images without a file system are refused by their daemons
    for (const img of ['ext2-superblock.img', 'iso9660-superblock.iso', 'squashfs-superblock.img']) {
      assert.match(parts.find((p) => p.startsWith(img))!, /mount failed/, img);
    }
    assert.ok(r.stdout.endsWith(fs.readFileSync('/etc/hostname', 'utf8')), r.stdout);
  });

  it('a writer killed with SIGKILL during a big write to an ext4 mount: vuumount, then e2fsck -fn is clean', () => {
    const work = tmpdir();
    const img = path.join(work, 'k.img');
    assert.equal(run('mkfs.ext4', ['-q', '-F', img, '64M']).status, 0);
    // 256 KiB every 20 ms, up to 40 MiB in 3 s or more: still writing when killed
    const writer = `python3 -c "import time, sys; f = open(sys.argv[1], 'wb'); [(f.write(b'x' * 262144), f.flush(), time.sleep(0.02)) for _ in range(160)]" `;
    const r = umvuBash(
      mount('vufuseext4', img, `${work}/mnt`, 'rw+') +
        `${writer} ${work}/mnt/big & p=$!; until [ -s ${work}/mnt/big ]; do sleep 0.05; done; sleep 0.1; kill -9 $p; wait $p; echo "killed: $?"; ` +
        // (a write the kill cuts short may leave a part of its 256 KiB: any size in between)
        `size=$(stat -c %s ${work}/mnt/big); echo "partial: $(( size > 0 && size < 41943040 ))"; ` +
        `echo after > ${work}/mnt/after; vuumount ${work}/mnt; echo "umount: $?"; echo "$size" > ${work}/size`,
      [],
      { timeout: 60_000 },
    );
    assert.equal(quiet(r.stdout), 'killed: 137\npartial: 1\numount: 0\n', r.stderr);
    assertFsckClean(img);
    assert.equal(run('debugfs', ['-R', 'cat /after', img]).stdout, 'after\n');
    const size = fs.readFileSync(path.join(work, 'size'), 'utf8').trim();
    assert.match(run('debugfs', ['-R', 'stat /big', img]).stdout, new RegExp(`Size: ${size}\\b`));
  });
});

describe('vufuse: nothing written is lost when the view ends', function () {
  this.timeout(60_000);
  it('a file a background process still holds open keeps what was written before the command ended', () => {
    const work = tmpdir();
    const img = path.join(work, 'e.img');
    assert.equal(run('mkfs.ext4', ['-q', '-F', img, '16M']).status, 0);
    const r = umvuBash(`cd ${work}; ${mount('vufuseext4', img, 'm', 'rw+')}(exec 3>m/held; echo early >&3; sleep 2) & sleep 0.5; echo done`);
    assert.equal(quiet(r.stdout), 'done\n', r.stderr);
    assertFsckClean(img);
    assert.equal(run('debugfs', ['-R', 'cat /held', img]).stdout, 'early\n');
  });

  it('an image stored in another mounted image: the inner one is flushed into the outer one first', () => {
    const work = tmpdir();
    const outer = path.join(work, 'outer.img');
    const inner = path.join(work, 'inner.img');
    assert.equal(run('mkfs.ext4', ['-q', '-F', outer, '32M']).status, 0);
    assert.equal(run('mkfs.ext4', ['-q', '-F', inner, '8M']).status, 0);
    const r = umvuBash(`cd ${work}; ${mount('vufuseext4', outer, 'o', 'rw+')}cp inner.img o/; mkdir i; vumount -t vufuseext4 -o rw+ o/inner.img i && echo nested > i/hello && echo done`);
    assert.equal(quiet(r.stdout), 'done\n', r.stderr);
    assertFsckClean(outer);
    const copy = path.join(work, 'copy.img');
    assert.equal(run('debugfs', ['-R', `dump /inner.img ${copy}`, outer]).status, 0);
    assertFsckClean(copy);
    assert.equal(run('debugfs', ['-R', 'cat /hello', copy]).stdout, 'nested\n');
  });
});

describe('vufuse: corner cases as in a host directory', function () {
  this.timeout(60_000);
  it('O_TRUNC while held, truncating an empty file, metadata through a directory fd, xattr rules, hard links', () => {
    const work = tmpdir();
    const img = path.join(work, 'e.img');
    assert.equal(run('mkfs.ext4', ['-q', '-F', img, '16M']).status, 0);
    fs.mkdirSync(path.join(work, 'host'));
    const corners = path.join(FIXTURES, 'corners.py');
    const native = run('python3', [corners, path.join(work, 'host')]);
    assert.equal(native.status, 0, native.stderr);
    const r = umvuBash(`cd ${work}; ${mount('vufuseext4', img, 'm', 'rw+')}python3 ${corners} m; vuumount m`);
    assert.equal(quiet(r.stdout), native.stdout, r.stderr);
    assert.equal(r.stderr, '');
    assertFsckClean(img);
  });

  it('a lazy unmount (fusermount -u -z) ends the daemon quietly, at once or when the last open file is closed', () => {
    const work = tmpdir();
    const img = path.join(work, 'e.img');
    assert.equal(run('mkfs.ext4', ['-q', '-F', img, '16M']).status, 0);
    const r = umvuBash(
      `cd ${work}; ${mount('vufuseext4', img, 'm', 'rw+')}echo kept > m/f; fusermount -u -z m; sleep 1; pgrep -f '^fuse2fs .*${work}' | wc -l; ` +
        `vumount -t vufuseext4 -o rw+ ${img} m; exec 3>m/g; echo early >&3; fusermount -u -z m; echo late >&3; exec 3>&-; sleep 1; pgrep -f '^fuse2fs .*${work}' | wc -l`,
    );
    assert.equal(quiet(r.stdout), '0\n0\n', r.stderr);
    assert.equal(r.stderr, '');
    assertFsckClean(img);
    assert.equal(run('debugfs', ['-R', 'cat /f', img]).stdout, 'kept\n');
    assert.equal(run('debugfs', ['-R', 'cat /g', img]).stdout, 'early\nlate\n');
  });
});

describe('vufuse FUSE programs on mount points', function () {
  this.timeout(60_000);
  it('vumount -t vufuseext2 on a directory that is not empty (VUOS mounts over any directory)', () => {
    const work = tmpdir();
    const img = path.join(work, 'e.img');
    assert.equal(run('mkfs.ext2', ['-q', '-F', img, '8M']).status, 0);
    fs.mkdirSync(path.join(work, 'mnt/hidden'), { recursive: true });
    // fuse2fs (libfuse 2) refuses unless told nonempty: "fuse: mountpoint is not empty"
    const r = umvuBash(`vu_insmod vufuse; vumount -t vufuseext2 -o ro ${img} ${work}/mnt || exit 9; ls ${work}/mnt`);
    assert.equal(quiet(r.stdout), 'lost+found\n', r.stderr);
  });
});
