/**
 * vudev as users meet it: disk images as /dev/hda and /dev/hdaN (vudevpartx), RAM disks, the
 * null device. Real programs are the oracle: what gdisk, sgdisk, sfdisk, blkid, blockdev, dd,
 * mkfs and the vufuse/fuse daemons do on the view's devices is checked against what the same
 * tools (sgdisk, sfdisk, blkid, e2fsck, debugfs, fsck.vfat, mtools) say natively about the image
 * file afterwards, at the partitions' byte ranges.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, sections, tmpdir, umvuBash, type Result } from '../../cli/test/run.js';

const MiB = 1 << 20;
const SECTOR = 512;
const isRoot = process.getuid?.() === 0;
const USER = os.userInfo().username;
const GROUP = run('id', ['-gn']).stdout.trim();

/** a view running `script` in `cwd` (its stdout, stderr and status) */
const view = (cwd: string, script: string, umvuArgs: string[] = []) => umvuBash(`cd ${cwd} || exit 99; ${script}`, umvuArgs, { timeout: 60_000 });
const show = (r: Result) => `status ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
/** without fuse2fs' own notice (on its stdout, which is the view's: it prints it natively too) */
const quiet = (out: string) => out.replace(/^\S+: Writing to the journal is not supported\.\n/gm, '');
/** the lines of umvu's console (its stderr: the modules' messages) and of the script's stderr */
const stderrLines = (r: Result) => quiet(r.stderr).split('\n').filter(Boolean);

/** a sparse file of `size` bytes */
function sparse(file: string, size: number): string {
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, size);
  return file;
}
/** a sparse image partitioned natively by sgdisk (arguments) or sfdisk (script on stdin) */
function partitioned(file: string, size: number, tool: 'sgdisk' | 'sfdisk', script: string | string[]): string {
  sparse(file, size);
  const r = tool === 'sgdisk' ? run('sgdisk', [...(script as string[]), file]) : run('sfdisk', ['-q', file], { input: script as string });
  assert.equal(r.status, 0, `${tool}: ${r.stdout}${r.stderr}`);
  return file;
}
function readRange(file: string, offset: number, len: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(len);
    assert.equal(fs.readSync(fd, b, 0, len, offset), len);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}
function writeRange(file: string, offset: number, data: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, data, 0, data.length, offset);
  fs.closeSync(fd);
}
const sha256 = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');
/** a partition's bytes copied out to a file of their own */
function extract(image: string, offset: number, len: number, to: string): string {
  fs.writeFileSync(to, readRange(image, offset, len));
  return to;
}
/** "start size" in sectors of each partition, as sfdisk --json reads the image natively */
function sfdiskParts(image: string): Map<number, { start: number; size: number }> {
  const r = run('sfdisk', ['--json', image]);
  assert.equal(r.status, 0, r.stderr);
  const parts = JSON.parse(r.stdout).partitiontable.partitions as Array<{ node: string; start: number; size: number }>;
  return new Map(parts.map((p) => [Number(/(\d+)$/.exec(p.node)![1]), { start: p.start, size: p.size }]));
}
/** e2fsck -fn of the file system at byte `offset` of the image: clean */
function assertExtClean(image: string, offset: number): void {
  const r = run('e2fsck', ['-fn', `${image}?offset=${offset}`]);
  assert.equal(r.status, 0, `e2fsck -fn ${image}?offset=${offset}: ${r.stdout}${r.stderr}`);
}
const debugfsCat = (image: string, offset: number, file: string) => run('debugfs', ['-R', `cat ${file}`, `${image}?offset=${offset}`]).stdout;
const nodeLine = (type: 'b' | 'c', dev: string, minor: number) => new RegExp(`^${type}rw------- 0 ${USER} ${GROUP} 0, ${minor} .+ ${dev}$`, 'm');

describe('vudev: virtual block devices in a view', function () {
  this.timeout(120_000);
  let work = '';
  /** the names the tests give devices: as root, a write to one that is missing would make a host file */
  const names = ['hda', 'hdb', 'ramdisk', 'ram2', 'ram3', 'ram4', 'rd', 'vnull'].flatMap((n) => [n, ...[1, 2, 5, 6].map((i) => `${n}${i}`)]).map((n) => `/dev/${n}`);
  let present: string[] = [];
  before(() => {
    work = tmpdir('vudev-');
    present = names.filter((n) => fs.existsSync(n));
  });
  after(() => {
    const made = names.filter((n) => fs.existsSync(n) && !present.includes(n));
    assert.deepEqual(made, [], `host files made in /dev by a test whose device was missing: ${made.join(' ')}`);
  });

  it('the seed example: an empty 1 GiB file, gdisk makes a GPT, mkfs.ext4 on /dev/hda1, fuse2fs writes hello; sgdisk, e2fsck and debugfs agree natively', () => {
    const dir = path.join(work, 'seed');
    fs.mkdirSync(dir);
    // /mnt as in the example when it is there and empty (CI, as root); a scratch directory else
    // (vumount only changes the view: the host's /mnt is never written, and `|| exit` guards it)
    const useMnt = isRoot && fs.existsSync('/mnt') && fs.readdirSync('/mnt').length === 0;
    const mnt = useMnt ? '/mnt' : path.join(dir, 'mnt');
    fs.mkdirSync(mnt, { recursive: true });
    // gdisk: n, (number 1), (first sector), +200M, (type), n, (2), (first), (last), (type), p, w, Y
    const r = view(
      dir,
      `vu_insmod vudev vufuse || exit 11; truncate -s 1G disk; vumount -t vudevpartx disk /dev/hda || exit 12
echo "== gdisk"; printf 'n\\n\\n\\n+200M\\n\\nn\\n\\n\\n\\n\\np\\nw\\nY\\n' | gdisk /dev/hda; echo "gdisk: $?"
echo "== ls"; ls -l /dev/hda1 /dev/hda2
[ -b /dev/hda1 ] || exit 14
echo "== mkfs"; mkfs.ext4 /dev/hda1 2>&1; echo "mkfs: $?"
vumount -t vufuseext2 -o rw+ /dev/hda1 ${mnt} || exit 13
echo ciao > ${mnt}/hello
echo "== mnt"; ls -l ${mnt}
echo "== end"; vuumount ${mnt}; echo "umount: $?"; vuumount /dev/hda; echo "umount: $?"; ls /dev/hda 2>&1; echo "ls: $?"`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(quiet(r.stdout));
    assert.deepEqual(stderrLines(r), ['Bad MBR signature 0 0'], show(r));
    assert.match(s.gdisk, /^Creating new GPT entries in memory\.$/m);
    assert.match(s.gdisk, /: OK; writing new GUID partition table \(GPT\) to \/dev\/hda\.\nThe operation has completed successfully\.\ngdisk: 0\n$/m);
    assert.match(s.ls, nodeLine('b', '/dev/hda1', 1), s.ls);
    assert.match(s.ls, nodeLine('b', '/dev/hda2', 2), s.ls);
    assert.match(s.mkfs, /^Creating filesystem with 204800 1k blocks and 51200 inodes$/m);
    assert.match(s.mkfs, /^mkfs: 0$/m);
    assert.match(s.mnt, new RegExp(`^-rw-r--r-- 1 ${USER} ${GROUP} +5 .+ hello$`, 'm'), s.mnt);
    assert.match(s.mnt, /^drwx------ 2 root +root +12288 .+ lost\+found$/m, s.mnt);
    assert.equal(s.end, "umount: 0\numount: 0\nls: cannot access '/dev/hda': No such file or directory\nls: 2\n");

    // natively: the table gdisk printed in the view is what sgdisk reads from the file
    const image = path.join(dir, 'disk');
    assert.equal(fs.statSync(image).size, 1 << 30);
    const native = run('sgdisk', ['-p', image]);
    assert.equal(native.status, 0, native.stderr);
    assert.match(native.stdout, /^ +1 +2048 +411647 +200\.0 MiB +8300 +Linux filesystem$/m);
    assert.match(native.stdout, /^ +2 +411648 +\d+ +\d+\.\d MiB +8300 +Linux filesystem$/m);
    // (a file has no physical sector size: gdisk says "logical/physical" only on a device)
    const table = (out: string) =>
      out
        .slice(out.indexOf('Disk '), out.search(/^ +2 .*$/m) + out.slice(out.search(/^ +2 .*$/m)).indexOf('\n'))
        .split('\n')
        .filter((l) => !l.startsWith('Sector size'))
        .join('\n');
    assert.equal(table(s.gdisk).replace(/Command \(\? for help\): /g, ''), table(native.stdout.replace(`Disk ${image}:`, 'Disk /dev/hda:')));
    assertExtClean(image, 2048 * SECTOR);
    assert.equal(debugfsCat(image, 2048 * SECTOR, '/hello'), 'ciao\n');
    assert.match(run('blkid', ['-p', '--offset', String(2048 * SECTOR), image]).stdout, / TYPE="ext4"/);
  });

  it('sfdisk makes an MBR with logical partitions in the view; mkfs.vfat and vufusefat on /dev/hda5; sfdisk --dump, fsck.vfat and mtools agree natively', () => {
    const dir = path.join(work, 'mbr');
    fs.mkdirSync(dir);
    const image = sparse(path.join(dir, 'mbr.img'), 64 * MiB);
    const script = 'label: dos\nlabel-id: 0x5eed1234\nstart=2048, size=16M, type=83\nstart=34816, type=5\nsize=12M, type=c\nsize=8M, type=83\n';
    fs.writeFileSync(path.join(dir, 'table'), script);
    const r = view(
      dir,
      `vu_insmod vudev vufuse || exit 11; mkdir m; vumount -t vudevpartx mbr.img /dev/hda || exit 12
sfdisk -q /dev/hda < table; echo "sfdisk: $?"
echo "== dump"; sfdisk --dump /dev/hda
echo "== ls"; ls -l /dev/hda5 /dev/hda6
[ -b /dev/hda5 ] || exit 15
echo "== files"; mkfs.vfat /dev/hda5 >/dev/null; echo "mkfs: $?"
vumount -t vufusefat /dev/hda5 m || exit 13
echo one > m/ONE.TXT; seq 1 20000 > m/nums.txt; mkdir m/dir; cp /etc/services m/dir/services
vuumount m; echo "umount: $?"
vumount -t vufusefat -o ro /dev/hda5 m || exit 14
(cd m; sha256sum ONE.TXT nums.txt dir/services); vuumount m; vuumount /dev/hda; echo "umount: $?"`,
    );
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(stderrLines(r), ['Bad MBR signature 0 0'], show(r));
    const s = sections(r.stdout);
    assert.match(s.ls, nodeLine('b', '/dev/hda5', 5), s.ls);
    assert.match(s.ls, nodeLine('b', '/dev/hda6', 6), s.ls);
    const expectedSums = ['ONE.TXT', 'nums.txt', 'dir/services'].map(
      (f, i) => `${sha256([Buffer.from('one\n'), Buffer.from(run('seq', ['1', '20000']).stdout), fs.readFileSync('/etc/services')][i])}  ${f}`,
    );
    assert.equal(s.files, `mkfs: 0\numount: 0\n${expectedSums.join('\n')}\numount: 0\n`);

    // natively: the same table, read from the file
    const dump = run('sfdisk', ['--dump', image]);
    assert.equal(dump.status, 0, dump.stderr);
    assert.equal(s.dump, `${dump.stdout.replaceAll(image, '/dev/hda')}`);
    assert.match(s.dump, /^\/dev\/hda5 : start= +36864, size= +24576, type=c$/m);
    const verify = run('sfdisk', ['-V', image]);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const p5 = sfdiskParts(image).get(5)!;
    const offset = p5.start * SECTOR;
    const part = extract(image, offset, p5.size * SECTOR, path.join(dir, 'p5.img'));
    const fsck = run('fsck.vfat', ['-n', part]);
    assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
    const mdir = run('mdir', ['-b', '-/', '-i', `${image}@@${offset}`, '::'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    assert.equal(mdir.status, 0, mdir.stderr);
    assert.deepEqual(mdir.stdout.split('\n').filter(Boolean).sort(), ['::/ONE.TXT', '::/dir/', '::/dir/services', '::/nums.txt']);
    const mtype = run('mtype', ['-i', `${image}@@${offset}`, '::/nums.txt'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    assert.equal(sha256(mtype.stdout), sha256(run('seq', ['1', '20000']).stdout));
  });

  it('blockdev and blkid on /dev/hda1 give its size, 512, rw and what blkid finds natively; BLKROSET, and read-only mounts (-r, -o ro) make writes fail', () => {
    const dir = path.join(work, 'blk');
    fs.mkdirSync(dir);
    // 1: 1-9 MiB, 2: 9-17 MiB
    const image = partitioned(path.join(dir, 'g.img'), 32 * MiB, 'sgdisk', ['-n', '1:2048:+8M', '-n', '2:0:+8M']);
    const write = (dev: string) =>
      `python3 -c "import os, sys, errno\ntry:\n  fd = os.open('${dev}', os.O_WRONLY); print('write', os.write(fd, b'x'))\nexcept OSError as e: print('write', errno.errorcode[e.errno])"`;
    const r = view(
      dir,
      `vu_insmod vudev || exit 11; vumount -t vudevpartx g.img /dev/hda || exit 12; [ -b /dev/hda1 ] && [ -b /dev/hda2 ] || exit 17; mkfs.ext4 -q /dev/hda1 || exit 13
echo "== rw"; blockdev --getsize64 --getss --getro /dev/hda1; blockdev --getsize64 --getsz --getss --getro /dev/hda
echo "== blkid"; blkid -p /dev/hda1; blkid -o value -s TYPE /dev/hda1
echo "== setro"; blockdev --setro /dev/hda2; blockdev --getro /dev/hda2; ${write('/dev/hda2')}; blockdev --setrw /dev/hda2; blockdev --getro /dev/hda2; ${write('/dev/hda2')}
vuumount /dev/hda || exit 14; sha256sum g.img > before
echo "== r"; vumount -r -t vudevpartx g.img /dev/hda || exit 15; blockdev --getro /dev/hda /dev/hda1; ${write('/dev/hda1')}; ${write('/dev/hda')}
mkfs.ext4 -q -F /dev/hda2 2>&1; echo "mkfs: $?"; vuumount /dev/hda
echo "== o ro"; vumount -o ro -t vudevpartx g.img /dev/hda || exit 16; blockdev --getro /dev/hda2; ${write('/dev/hda2')}; vuumount /dev/hda
sha256sum -c before >/dev/null && echo "image unchanged"`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assert.equal(s.rw, `${8 * MiB}\n512\n0\n${32 * MiB}\n${(32 * MiB) / SECTOR}\n512\n0\n`);
    // blkid natively, on the partition's range of the file
    const native = run('blkid', ['-p', '--offset', String(2048 * SECTOR), image]);
    assert.equal(native.status, 0, native.stderr);
    assert.match(native.stdout, / TYPE="ext4"/);
    assert.equal(s.blkid, `${native.stdout.replace(`${image}:`, '/dev/hda1:')}ext4\n`);
    // BLKROSET: writes fail with EPERM, as on Linux, until BLKROSET 0
    assert.equal(s.setro, '1\nwrite EPERM\n0\nwrite 1\n');
    assert.match(s.r, /^1\n1\nwrite EROFS\nwrite EROFS\n/);
    assert.match(s.r, /Read-only file system/);
    assert.match(s.r, /^mkfs: [1-9]\d*$/m);
    assert.equal(s['o ro'], '1\nwrite EROFS\nimage unchanged\n');
    assertExtClean(image, 2048 * SECTOR);
  });

  it('writes past the end of a partition: dd stops with ENOSPC after 1 MiB, pwrite/pread/lseek at the end as on Linux; the next partition is untouched', () => {
    const dir = path.join(work, 'end');
    fs.mkdirSync(dir);
    // 1: 1-9 MiB, 2: 9-17 MiB (random bytes, written natively)
    const image = partitioned(path.join(dir, 'g.img'), 32 * MiB, 'sgdisk', ['-n', '1:2048:+8M', '-n', '2:0:+8M']);
    writeRange(image, 9 * MiB, crypto.randomBytes(8 * MiB));
    const next = sha256(readRange(image, 9 * MiB, 8 * MiB));
    const table = sha256(readRange(image, 0, MiB));
    const py = `import os, errno
fd = os.open('/dev/hda1', os.O_RDWR)
size = os.lseek(fd, 0, os.SEEK_END); print('size', size)
def attempt(what, f):
    try: print(what, repr(f()))
    except OSError as e: print(what, errno.errorcode[e.errno])
attempt('pwrite at end', lambda: os.pwrite(fd, b'x', size))
attempt('pwrite across end', lambda: os.pwrite(fd, b'yz', size - 1))
attempt('pread at end', lambda: os.pread(fd, 10, size))
attempt('pread across end', lambda: os.pread(fd, 10, size - 1))
attempt('lseek to end', lambda: os.lseek(fd, size, os.SEEK_SET))
attempt('lseek past end', lambda: os.lseek(fd, size + 1, os.SEEK_SET))
attempt('lseek SEEK_END+1', lambda: os.lseek(fd, 1, os.SEEK_END))
attempt('write at end', lambda: (os.lseek(fd, size, os.SEEK_SET), os.write(fd, b'w'))[1])
`;
    fs.writeFileSync(path.join(dir, 'end.py'), py);
    // dd puts the device on its fd 1: umvu --stdio-devices (see the vudev README)
    const r = view(
      dir,
      `vu_insmod vudev || exit 11; vumount -t vudevpartx g.img /dev/hda || exit 12
[ -b /dev/hda1 ] || exit 13
echo "== dd"; dd if=/dev/urandom of=/dev/hda1 bs=1M seek=7 count=2 conv=nocreat 2>&1; echo "dd: $?"
echo "== py"; python3 end.py; vuumount /dev/hda; echo "umount: $?"`,
      ['--stdio-devices'],
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assert.match(s.dd, /^dd: error writing '\/dev\/hda1': No space left on device\n2\+0 records in\n1\+0 records out\n1048576 bytes \(1\.0 MB, 1\.0 MiB\) copied, .*\ndd: 1\n$/, s.dd);
    assert.equal(
      s.py,
      [
        `size ${8 * MiB}`,
        'pwrite at end ENOSPC',
        'pwrite across end 1',
        "pread at end b''",
        "pread across end b'y'",
        `lseek to end ${8 * MiB}`,
        'lseek past end EINVAL',
        'lseek SEEK_END+1 EINVAL',
        'write at end ENOSPC',
        'umount: 0',
        '',
      ].join('\n'),
    );
    // natively: the next partition and the table are as they were; the last MiB of 1 was written
    assert.equal(sha256(readRange(image, 9 * MiB, 8 * MiB)), next, 'partition 2 changed');
    assert.equal(sha256(readRange(image, 0, MiB)), table, 'the partition table changed');
    assert.ok(readRange(image, MiB, 7 * MiB).equals(Buffer.alloc(7 * MiB)), 'partition 1 changed before the offset dd wrote at');
    const last = readRange(image, 8 * MiB, MiB);
    assert.ok(!last.equals(Buffer.alloc(MiB)), 'dd wrote nothing');
    assert.equal(last.at(-1), 'y'.charCodeAt(0));
    assert.match(run('sgdisk', ['-v', image]).stdout, /No problems found/);
  });

  it('BLKRRPART: sgdisk -d 2 in the view makes /dev/hda2 disappear without remounting, sgdisk -n 2 makes it appear again', () => {
    const dir = path.join(work, 'rrpart');
    fs.mkdirSync(dir);
    const image = partitioned(path.join(dir, 'g.img'), 32 * MiB, 'sgdisk', ['-n', '1:2048:+8M', '-n', '2:0:+8M']);
    const r = view(
      dir,
      `vu_insmod vudev || exit 11; vumount -t vudevpartx g.img /dev/hda || exit 12
echo "== before"; ls -l /dev/hda2; blockdev --getsize64 /dev/hda2
echo "== delete"; sgdisk -d 2 /dev/hda; echo "sgdisk: $?"; ls -l /dev/hda2 2>&1; echo "ls: $?"; ls -l /dev/hda1 >/dev/null; echo "ls 1: $?"
echo "== create"; sgdisk -n 2:0:+4M /dev/hda; echo "sgdisk: $?"; ls -l /dev/hda2; blockdev --getsize64 /dev/hda2
echo "== reread"; blockdev --rereadpt /dev/hda; echo "disk: $?"; blockdev --rereadpt /dev/hda1 2>&1; echo "partition: $?"
vuumount /dev/hda`,
    );
    assert.equal(r.status, 0, show(r));
    // sgdisk warns when BLKRRPART fails ("the kernel is still using the old partition table")
    assert.equal(r.stderr, '', show(r));
    const s = sections(r.stdout);
    assert.match(s.before, nodeLine('b', '/dev/hda2', 2));
    assert.match(s.before, new RegExp(`^${8 * MiB}$`, 'm'));
    assert.equal(s.delete, "The operation has completed successfully.\nsgdisk: 0\nls: cannot access '/dev/hda2': No such file or directory\nls: 2\nls 1: 0\n");
    assert.match(s.create, /^The operation has completed successfully\.\nsgdisk: 0\n/);
    assert.match(s.create, nodeLine('b', '/dev/hda2', 2));
    assert.match(s.create, new RegExp(`^${4 * MiB}$`, 'm'));
    assert.equal(s.reread, 'disk: 0\nblockdev: ioctl error on BLKRRPART: Invalid argument\npartition: 1\n');
    // natively: partition 2 is the new one
    const parts = sfdiskParts(image);
    assert.deepEqual([...parts.keys()], [1, 2]);
    assert.deepEqual(parts.get(2), { start: 18432, size: (4 * MiB) / SECTOR });
  });

  it('damaged tables: "Bad GPT header CRC" (and "Bad GPT signature") on the console, /dev/hda works, /dev/hda1 does not exist; the view goes on', () => {
    const dir = path.join(work, 'corrupt');
    fs.mkdirSync(dir);
    const crc = partitioned(path.join(dir, 'crc.img'), 16 * MiB, 'sgdisk', ['-n', '1:2048:+4M', '-n', '2:0:+4M']);
    const sig = path.join(dir, 'sig.img');
    fs.copyFileSync(crc, sig);
    // the header's CRC (bytes 16-19 of sector 1) and its signature "EFI PART"
    const old = readRange(crc, SECTOR + 16, 1)[0];
    writeRange(crc, SECTOR + 16, Buffer.from([old ^ 0x5a]));
    writeRange(sig, SECTOR, Buffer.from('EFI PARX'));
    assert.match(run('sgdisk', ['-v', crc]).stderr, /Invalid CRC on main header/);
    const r = view(
      dir,
      `vu_insmod vudev || exit 11
echo "== crc"; vumount -t vudevpartx crc.img /dev/hda; echo "mount: $?"; blockdev --getsize64 /dev/hda; ls -l /dev/hda1 2>&1; echo "ls: $?"
head -c 512 /dev/hda | od -An -tx1 -j510; cat /etc/hostname; vuumount /dev/hda; echo "umount: $?"
echo "== sig"; vumount -t vudevpartx sig.img /dev/hdb; echo "mount: $?"; ls /dev/hdb1 2>&1; blockdev --getsize64 /dev/hdb; echo done`,
    );
    assert.equal(r.status, 0, show(r));
    // (the modules' lines are on umvu's console, its stderr: one line each)
    assert.deepEqual(stderrLines(r), ['Bad GPT header CRC', 'Bad GPT signature'], show(r));
    const s = sections(r.stdout);
    assert.equal(
      s.crc,
      `mount: 0\n${16 * MiB}\nls: cannot access '/dev/hda1': No such file or directory\nls: 2\n 55 aa\n${fs.readFileSync('/etc/hostname', 'utf8')}umount: 0\n`,
    );
    assert.equal(s.sig, `mount: 0\nls: cannot access '/dev/hdb1': No such file or directory\n${16 * MiB}\ndone\n`);
  });

  it('vudevramdisk: -o size=10M is a 10 MiB block device of zeros that keeps what dd writes; sizes round up to 128 KiB; mbr partitions it', () => {
    const dir = path.join(work, 'ramdisk');
    fs.mkdirSync(dir);
    const pattern = crypto.randomBytes(300_000);
    fs.writeFileSync(path.join(dir, 'pattern'), pattern);
    const r = view(
      dir,
      `vu_insmod vudev || exit 11; vumount -t vudevramdisk -o size=10M none /dev/ramdisk || exit 12
echo "== node"; ls -l /dev/ramdisk; blockdev --getsize64 --getss /dev/ramdisk; od -x /dev/ramdisk
[ -b /dev/ramdisk ] || exit 13
echo "== dd"; dd if=pattern of=/dev/ramdisk bs=4096 seek=5 conv=notrunc,nocreat status=none; echo "dd: $?"
cmp -n 300000 -i 0:20480 pattern /dev/ramdisk && echo "same at 20480"; cmp -n 20480 /dev/zero /dev/ramdisk && echo "zeros before"
dd if=/dev/ramdisk bs=4096 skip=5 count=74 status=none | head -c 300000 | cmp - pattern && echo "dd reads it back"
echo "== sizes"; vumount -t vudevramdisk -o size=1000k none /dev/ram2 && blockdev --getsize64 /dev/ram2
vumount -t vudevramdisk -o size=100 none /dev/ram3 && blockdev --getsize64 /dev/ram3; vumount -t vudevramdisk none /dev/ram4 && blockdev --getsize64 /dev/ram4
echo "== mbr"; vumount -t vudevramdisk -o size=8M,mbr none /dev/rd; printf 'label: dos\\nstart=2048, size=4M, type=83\\n' | sfdisk -q /dev/rd; echo "sfdisk: $?"
ls -l /dev/rd1; blockdev --getsize64 /dev/rd1
vuumount /dev/ramdisk; echo "umount: $?"`,
      ['--stdio-devices'],
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assert.match(s.node, nodeLine('b', '/dev/ramdisk', 0));
    // od -x of 10 MiB of zeros: one line, then * and the size in octal
    assert.equal(s.node.split('\n').slice(1).join('\n'), `10485760\n512\n0000000 0000 0000 0000 0000 0000 0000 0000 0000\n*\n${(10 * MiB).toString(8)}\n`);
    assert.equal(s.dd, 'dd: 0\nsame at 20480\nzeros before\ndd reads it back\n');
    // 1000 KiB -> 8 x 128 KiB; 100 sectors -> 128 KiB; the default is 32 MiB
    assert.equal(s.sizes, `${MiB}\n${128 * 1024}\n${32 * MiB}\n`);
    assert.deepEqual(stderrLines(r), ['Bad MBR signature 0 0'], show(r));
    assert.match(s.mbr, /^sfdisk: 0\n/);
    assert.match(s.mbr, nodeLine('b', '/dev/rd1', 1));
    assert.match(s.mbr, new RegExp(`^${4 * MiB}\numount: 0\n$`, 'm'));
  });

  it('vudevnull: a char device, cat prints nothing, echo x > /dev/vnull succeeds', () => {
    const r = view(
      work,
      `vu_insmod vudev || exit 11; vumount -t vudevnull none /dev/vnull || exit 12; [ -c /dev/vnull ] || exit 13
ls -l /dev/vnull; cat /dev/vnull; echo "cat: $?"; echo x > /dev/vnull; echo "echo: $?"; seq 1 100000 > /dev/vnull; echo "seq: $?"
head -c 10 /dev/vnull | wc -c; stat -c '%F' /dev/vnull; vuumount /dev/vnull; echo "umount: $?"`,
    );
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stderr, '');
    assert.match(r.stdout, nodeLine('c', '/dev/vnull', 0));
    assert.equal(r.stdout.split('\n').slice(1).join('\n'), 'cat: 0\necho: 0\nseq: 0\n0\ncharacter special file\numount: 0\n');
  });

  it('open devices as fds: placeholders in the reserved range, a position shared by dup and fork, fstat, mmap, EBUSY while open, inherited across exec', () => {
    const dir = path.join(work, 'fds');
    fs.mkdirSync(dir);
    const image = partitioned(path.join(dir, 'g.img'), 16 * MiB, 'sgdisk', ['-n', '1:2048:+4M']);
    const py = `import os, stat, mmap, errno, subprocess
fd = os.open('/dev/hda1', os.O_RDWR)
print('in range', 896 <= fd <= 1023)
os.write(fd, b'abcdefgh')
d = os.dup(fd)
print('dup in range', 896 <= d <= 1023, 'shared position', os.lseek(d, 0, os.SEEK_CUR))
os.lseek(d, 2, os.SEEK_SET)
pid = os.fork()
if pid == 0:
    os.read(fd, 3)
    os._exit(0)
os.waitpid(pid, 0)
print('after the child read 3', os.lseek(fd, 0, os.SEEK_CUR), os.read(d, 3))
st = os.fstat(fd)
print('fstat', stat.S_ISBLK(st.st_mode), oct(st.st_mode & 0o777), os.major(st.st_rdev), os.minor(st.st_rdev), st.st_size)
try: mmap.mmap(fd, 4096)
except OSError as e: print('mmap', errno.errorcode[e.errno])
r = subprocess.run(['vuumount', '/dev/hda'], capture_output=True, text=True); print('umount while open', r.returncode, r.stderr.strip())
os.lseek(fd, 0, os.SEEK_SET)
os.set_inheritable(fd, True)
out = subprocess.run(['python3', '-c', f'import os; print(os.read({fd}, 8))'], close_fds=False, capture_output=True, text=True).stdout.strip()
print('read by an exec\\'d child', out)
os.close(fd); os.close(d)
`;
    fs.writeFileSync(path.join(dir, 'fds.py'), py);
    const r = view(
      dir,
      `vu_insmod vudev || exit 11; vumount -t vudevpartx g.img /dev/hda || exit 12
python3 fds.py; vuumount /dev/hda; echo "umount after close: $?"
vumount -t vudevpartx g.img /dev/hda; echo "== redirect"; echo x > /dev/hda1; echo "status $?"`,
    );
    assert.equal(r.status, 0, show(r));
    assert.equal(
      r.stdout,
      [
        'in range True',
        'dup in range True shared position 8',
        "after the child read 3 5 b'fgh'",
        `fstat True 0o600 0 1 0`,
        'mmap ENODEV',
        'umount while open 1 vuumount: Device or resource busy',
        "read by an exec'd child b'abcdefgh'",
        'umount after close: 0',
        '== redirect',
        'status 1',
        '',
      ].join('\n'),
    );
    // a device cannot become fd 1 without --stdio-devices: one line says why
    assert.ok(stderrLines(r).some((l) => /a device cannot become fd 1 .*--stdio-devices/.test(l)), show(r));
    assert.equal(readRange(image, MiB, 8).toString(), 'abcdefgh');
  });

  it('with --stdio-devices, shell redirections and dd put devices on fds 0-2: cat > /dev/hda1, < /dev/hda1, dd if= | cmp', () => {
    const dir = path.join(work, 'stdio');
    fs.mkdirSync(dir);
    const image = partitioned(path.join(dir, 'g.img'), 16 * MiB, 'sgdisk', ['-n', '1:2048:+4M']);
    fs.writeFileSync(path.join(dir, 'data'), crypto.randomBytes(3 * MiB + 123));
    const r = view(
      dir,
      `vu_insmod vudev || exit 11; vumount -t vudevpartx g.img /dev/hda || exit 12
[ -b /dev/hda1 ] || exit 13
cat data > /dev/hda1 && echo written
head -c $(stat -c %s data) < /dev/hda1 | cmp - data && echo "read back with <"
dd if=/dev/hda1 bs=64k count=10 status=none | cmp - <(head -c 655360 data) && echo "read back by dd"`,
      ['--stdio-devices'],
    );
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, 'written\nread back with <\nread back by dd\n');
    assert.ok(readRange(image, MiB, 3 * MiB + 123).equals(fs.readFileSync(path.join(dir, 'data'))), 'the image holds the data');
  });

  describe('nesting: modules reach the view\'s devices', () => {
    it('fuse2fs run by hand (fuse module) on /dev/hda2: files written reach the image (debugfs, e2fsck natively)', () => {
      const dir = path.join(work, 'fuse');
      fs.mkdirSync(dir);
      const image = partitioned(path.join(dir, 'g.img'), 32 * MiB, 'sgdisk', ['-n', '1:2048:+8M', '-n', '2:0:+8M']);
      const r = view(
        dir,
        `vu_insmod vudev fuse || exit 11; vumount -t vudevpartx g.img /dev/hda || exit 12; [ -b /dev/hda2 ] || exit 15; mkfs.ext4 -q /dev/hda2 || exit 13
mkdir m2; fuse2fs -o fakeroot /dev/hda2 m2 || exit 14; echo nested > m2/n; seq 1 50000 > m2/numbers; ls m2
awk '$2 ~ "/m2$" {print $1, $3}' /proc/mounts; fusermount -u m2; echo "fusermount: $?"; vuumount /dev/hda; echo "umount: $?"`,
      );
      assert.equal(r.status, 0, show(r));
      assert.equal(r.stdout, 'lost+found\nn\nnumbers\n/dev/hda2 fuse.ext4\nfusermount: 0\numount: 0\n', show(r));
      const offset = 18432 * SECTOR;
      assertExtClean(image, offset);
      assert.equal(debugfsCat(image, offset, '/n'), 'nested\n');
      assert.equal(debugfsCat(image, offset, '/numbers'), run('seq', ['1', '50000']).stdout);
      // partition 1 was never touched
      assert.ok(readRange(image, 2048 * SECTOR, 8 * MiB).equals(Buffer.alloc(8 * MiB)));
    });

    it('vufusefat on /dev/hda5 works; with umvu -x (no nesting) it fails with one clear line and a non-zero exit', () => {
      const dir = path.join(work, 'nonesting');
      fs.mkdirSync(dir);
      const image = partitioned(path.join(dir, 'f.img'), 32 * MiB, 'sfdisk', 'label: dos\nstart=2048,size=8M,type=83\nstart=18432,type=5\nsize=8M,type=c\nsize=4M,type=83\n');
      const p5 = sfdiskParts(image).get(5)!;
      assert.equal(run('mkfs.vfat', ['--offset', String(p5.start), image, String((p5.size * SECTOR) / 1024)]).status, 0);
      fs.writeFileSync(path.join(dir, 'hi.txt'), 'hi\n');
      const mc = run('mcopy', ['-i', `${image}@@${p5.start * SECTOR}`, path.join(dir, 'hi.txt'), '::HI.TXT'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
      assert.equal(mc.status, 0, mc.stderr);
      const script = `vu_insmod vudev vufuse || exit 11; mkdir -p m; vumount -t vudevpartx f.img /dev/hda || exit 12
vumount -t vufusefat /dev/hda5 m || exit 13; cat m/HI.TXT`;
      const nested = view(dir, script);
      assert.equal(nested.status, 0, show(nested));
      assert.equal(nested.stdout, 'hi\n');
      const flat = view(dir, script, ['-x']);
      assert.equal(flat.status, 13, show(flat));
      assert.equal(flat.stdout, '');
      // the module's line names the device and why; vumount's own line the errno
      const lines = stderrLines(flat);
      assert.equal(lines.filter((l) => l.includes('/dev/hda5')).length, 1, show(flat));
      assert.match(lines.find((l) => l.includes('/dev/hda5'))!, /vufusefat.*\/dev\/hda5.*(No such file or directory|ENOENT)/);
      assert.ok(!lines.some((l) => /^\s+at /.test(l)), `a stack trace on the console:\n${flat.stderr}`);
      assert.ok(lines.length <= 2, show(flat));
    });
  });
});
