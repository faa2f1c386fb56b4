/**
 * vudevpartx's partition table reader (packages/vudev/src/partitions.ts) on tables made by the
 * real tools (sfdisk, sgdisk on sparse files), read back as they are and then damaged byte by
 * byte. The oracle for the good tables is `sfdisk --json`; for the damaged ones, where the tools
 * have a word for it, `sfdisk -V` / `sgdisk -v` agree that the table is damaged that way.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { run, tmpdir } from '../../cli/test/run.js';
import { readTable, SECTOR, type Table } from '../src/partitions.js';

const MiB = 1 << 20;
/** extended partition types, as Linux knows them (msdos.c is_extended_partition) */
const EXTENDED = new Set(['5', 'f', '85']);

let work = '';
let count = 0;

/** a sparse file of `size` bytes partitioned by `tool` (sfdisk reads `script` on stdin; sgdisk gets it as arguments) */
function image(size: number, tool: 'sfdisk' | 'sgdisk', script: string | string[]): string {
  const file = path.join(work, `disk${++count}.img`);
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, size);
  const r = tool === 'sfdisk' ? run('sfdisk', ['-q', file], { input: script as string }) : run('sgdisk', [...(script as string[]), file]);
  assert.equal(r.status, 0, `${tool}: ${r.stdout}${r.stderr}`);
  return file;
}

/** the table as vudevpartx reads it from the file (pread, as disk.ts does) */
function tableOf(file: string): Table {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const readAt = (pos: number, len: number) => {
      const want = Math.max(0, Math.min(len, size - pos));
      const buf = Buffer.alloc(want);
      const n = want ? fs.readSync(fd, buf, 0, want, pos) : 0;
      return buf.subarray(0, n);
    };
    return readTable(readAt, size);
  } finally {
    fs.closeSync(fd);
  }
}

/** "N start size [ro]" lines, in bytes, sorted by N */
function listing(t: Table): string[] {
  return [...t.partitions].sort((a, b) => a[0] - b[0]).map(([n, p]) => `${n} ${p.start} ${p.size}${p.readOnly ? ' ro' : ''}`);
}

/** what sfdisk --json says about the file, in the same form (an extended partition is 2 sectors long, as in Linux) */
function sfdiskView(file: string): string[] {
  const r = run('sfdisk', ['--json', file]);
  assert.equal(r.status, 0, r.stderr);
  const parts = JSON.parse(r.stdout).partitiontable.partitions as Array<{ node: string; start: number; size: number; type: string; attrs?: string }>;
  return parts
    .map((p) => {
      const n = Number(/(\d+)$/.exec(p.node)![1]);
      const sectors = EXTENDED.has(p.type) ? Math.min(p.size, 2) : p.size;
      return [n, `${n} ${p.start * SECTOR} ${sectors * SECTOR}${p.attrs?.split(' ').includes('GUID:60') ? ' ro' : ''}`] as const;
    })
    .sort((a, b) => a[0] - b[0])
    .map(([, l]) => l);
}

function patch(file: string, offset: number, bytes: Buffer | number[]): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from(bytes), 0, bytes.length, offset);
  fs.closeSync(fd);
}
function readBytes(file: string, offset: number, len: number): Buffer {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(len);
  fs.readSync(fd, b, 0, len, offset);
  fs.closeSync(fd);
  return b;
}
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const u64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};

/** MBR partition entry i (0-based) of the sector at byte offset `sector` */
const mbrEntry = (sector: number, i: number) => sector + 446 + 16 * i;

/**
 * Rewrites the CRCs of the GPT header at sector `lba` (its partition array CRC, then its own),
 * as a tool would after editing the entries: the table is then consistent again.
 */
function fixGptCrcs(file: string, lba: number): void {
  const header = readBytes(file, lba * SECTOR, SECTOR);
  const headerSize = header.readUInt32LE(12);
  const arrayLba = Number(header.readBigUInt64LE(72));
  const entries = header.readUInt32LE(80);
  const entrySize = header.readUInt32LE(84);
  header.writeUInt32LE(zlib.crc32(readBytes(file, arrayLba * SECTOR, entries * entrySize)) >>> 0, 88);
  header.writeUInt32LE(0, 16);
  header.writeUInt32LE(zlib.crc32(header.subarray(0, headerSize)) >>> 0, 16);
  patch(file, lba * SECTOR, header);
}
/** byte offset of GPT entry i (0-based) of the array the header at `lba` points to */
function gptEntry(file: string, lba: number, i: number): number {
  const header = readBytes(file, lba * SECTOR, SECTOR);
  return Number(header.readBigUInt64LE(72)) * SECTOR + i * header.readUInt32LE(84);
}
/** what sgdisk -v says (on stdout and stderr) */
function sgdiskVerify(file: string): string {
  const r = run('sgdisk', ['-v', file]);
  return r.stdout + r.stderr;
}
/** the LBA of the backup GPT header (as the primary says) */
const backupLba = (file: string) => Number(readBytes(file, SECTOR, SECTOR).readBigUInt64LE(32));

describe('vudev: partition tables (readTable) on tables made by sfdisk and sgdisk', function () {
  this.timeout(30_000);
  before(() => {
    work = tmpdir('vudev-parts-');
  });

  describe('good tables read as sfdisk reads them', () => {
    it('GPT with a hole in the numbering and the read-only attribute (bit 60): partitions 1, 2 (ro), 4', () => {
      const file = image(8 * MiB, 'sgdisk', ['-n', '1:2048:+1M', '-n', '2:0:+2M', '-n', '4:0:+1M', '-A', '2:set:60']);
      const t = tableOf(file);
      assert.deepEqual(t.problems, []);
      assert.deepEqual(listing(t), sfdiskView(file));
      assert.deepEqual(listing(t), [`1 ${MiB} ${MiB}`, `2 ${2 * MiB} ${2 * MiB} ro`, `4 ${4 * MiB} ${MiB}`]);
    });

    it('MBR with a primary, an extended and three logical partitions (5, 6, 7 in the EBR chain)', () => {
      const file = image(16 * MiB, 'sfdisk', 'label: dos\nstart=2048,size=4096,type=83\nstart=6144,size=2048,type=c\nstart=8192,type=5\nsize=2048\nsize=2048\nsize=2048\n');
      const t = tableOf(file);
      assert.deepEqual(t.problems, [], 'logical partitions inside the extended one are no overlap');
      assert.deepEqual(listing(t), sfdiskView(file));
      assert.deepEqual([...t.partitions.keys()].sort(), [1, 2, 3, 5, 6, 7]);
      assert.equal(t.partitions.get(3)!.size, 2 * SECTOR, 'the extended partition shows as 1 KiB, as in Linux');
    });

    it('an MBR whose first entry is not 0xEE is read as MBR, even with "EFI PART" left at sector 1', () => {
      const gpt = image(8 * MiB, 'sgdisk', ['-n', '1:2048:+1M']);
      const dos = image(8 * MiB, 'sfdisk', 'label: dos\nstart=4096,size=2048,type=83\n');
      // the dos MBR over the GPT disk: sector 1 still says "EFI PART"
      patch(gpt, 0, readBytes(dos, 0, SECTOR));
      assert.equal(readBytes(gpt, SECTOR, 8).toString('latin1'), 'EFI PART');
      const t = tableOf(gpt);
      assert.deepEqual(listing(t), [`1 ${2 * MiB} ${MiB}`]);
      assert.deepEqual(t.problems, []);
    });
  });

  describe('damaged tables', () => {
    it('no table (a zeroed disk): "Bad MBR signature 0 0", no partitions', () => {
      const file = path.join(work, 'zero.img');
      fs.writeFileSync(file, '');
      fs.truncateSync(file, 4 * MiB);
      const t = tableOf(file);
      assert.deepEqual(t.problems, ['Bad MBR signature 0 0']);
      assert.equal(t.partitions.size, 0);
      // the tools agree that there is no table
      assert.match(run('sfdisk', ['-d', file]).stderr, /does not contain a recognized partition table/);
    });

    it('a dos table whose 55 AA signature is zeroed, or changed: "Bad MBR signature 0 0", "Bad MBR signature 12 34"', () => {
      const file = image(8 * MiB, 'sfdisk', 'label: dos\nstart=2048,size=2048,type=83\n');
      assert.equal(tableOf(file).partitions.size, 1);
      patch(file, 510, [0, 0]);
      assert.deepEqual(tableOf(file).problems, ['Bad MBR signature 0 0']);
      assert.equal(tableOf(file).partitions.size, 0);
      patch(file, 510, [0x12, 0x34]);
      assert.deepEqual(tableOf(file).problems, ['Bad MBR signature 12 34']);
      assert.match(run('sfdisk', ['-d', file]).stderr, /does not contain a recognized partition table/);
    });

    it('a protective MBR with a damaged "EFI PART" signature: "Bad GPT signature", no partitions', () => {
      const file = image(8 * MiB, 'sgdisk', ['-n', '1:2048:+1M', '-n', '2:0:+1M']);
      patch(file, SECTOR, Buffer.from('EFI PARX'));
      const t = tableOf(file);
      assert.deepEqual(t.problems, ['Bad GPT signature']);
      assert.equal(t.partitions.size, 0);
      assert.match(sgdiskVerify(file), /Main header: ERROR/);
    });

    it('a GPT header whose CRC is wrong, or whose fields changed under its CRC: "Bad GPT header CRC"', () => {
      const file = image(8 * MiB, 'sgdisk', ['-n', '1:2048:+1M']);
      const copy = path.join(work, 'crc2.img');
      fs.copyFileSync(file, copy);
      const crc = readBytes(file, SECTOR + 16, 4);
      patch(file, SECTOR + 16, [crc[0] ^ 0xff]);
      assert.deepEqual(tableOf(file).problems, ['Bad GPT header CRC']);
      assert.equal(tableOf(file).partitions.size, 0);
      assert.match(sgdiskVerify(file), /Invalid CRC on main header/);
      // the disk GUID (header bytes 56-71) changed, the CRC not
      patch(copy, SECTOR + 60, [0xde, 0xad]);
      assert.deepEqual(tableOf(copy).problems, ['Bad GPT header CRC']);
      assert.equal(tableOf(copy).partitions.size, 0);
    });

    it('a GPT partition array changed under its CRC: "Bad GPT partition array CRC", no partitions', () => {
      const file = image(8 * MiB, 'sgdisk', ['-n', '1:2048:+1M', '-c', '1:data']);
      // the name of entry 1 (UTF-16 at entry bytes 56...)
      patch(file, gptEntry(file, 1, 0) + 56, Buffer.from('X', 'utf16le'));
      const t = tableOf(file);
      assert.deepEqual(t.problems, ['Bad GPT partition array CRC']);
      assert.equal(t.partitions.size, 0);
      assert.match(sgdiskVerify(file), /The CRC for the main partition table is invalid/);
    });

    it('a GPT entry that ends before it starts (CRCs fixed): reported and ignored, the others kept', () => {
      const file = image(8 * MiB, 'sgdisk', ['-n', '1:2048:+1M', '-n', '2:0:+1M']);
      const e = gptEntry(file, 1, 1);
      patch(file, e + 40, u64(4000)); // last LBA 4000 < first LBA 4096
      fixGptCrcs(file, 1);
      const t = tableOf(file);
      assert.deepEqual(t.problems, ['partition 2: ends (sector 4000) before it starts (sector 4096), ignored']);
      assert.deepEqual(listing(t), [`1 ${MiB} ${MiB}`]);
    });

    it('GPT on a disk shorter than its table says (the image truncated): past the end dropped, across it truncated', () => {
      // 16 MiB: 1 at 1-5 MiB, 2 at 5-9 MiB, 3 at 9-13 MiB; then the image is cut to 8 MiB
      const file = image(16 * MiB, 'sgdisk', ['-n', '1:2048:+4M', '-n', '2:0:+4M', '-n', '3:0:+4M']);
      assert.deepEqual(listing(tableOf(file)), sfdiskView(file));
      fs.truncateSync(file, 8 * MiB);
      const t = tableOf(file);
      assert.deepEqual(t.problems.slice().sort(), ['partition 2: extends past the end of the disk, truncated', 'partition 3: starts past the end of the disk, ignored']);
      assert.deepEqual(listing(t), [`1 ${MiB} ${4 * MiB}`, `2 ${5 * MiB} ${3 * MiB}`]);
    });

    it('MBR on a disk shorter than its table says: primary and logical partitions dropped or truncated', () => {
      const file = image(16 * MiB, 'sfdisk', 'label: dos\nstart=2048,size=8192,type=83\nstart=10240,size=4096,type=83\nstart=14336,type=5\nsize=4096\nsize=4096\n');
      assert.deepEqual(listing(tableOf(file)), sfdiskView(file));
      // 6 MiB: partition 1 (1-5 MiB) fits, 2 (5-7 MiB) crosses the end, the extended one and its logicals are past it
      fs.truncateSync(file, 6 * MiB);
      const t = tableOf(file);
      assert.deepEqual(t.problems.slice().sort(), [
        'logical partition 5: bad EBR signature at sector 14336',
        'partition 2: extends past the end of the disk, truncated',
        'partition 3: starts past the end of the disk, ignored',
      ]);
      assert.deepEqual(listing(t), [`1 ${MiB} ${4 * MiB}`, `2 ${5 * MiB} ${MiB}`]);
    });

    it('MBR entries that overlap (partition 2 moved into 1): "partitions 1 and 2 overlap", as sfdisk -V says', () => {
      const file = image(16 * MiB, 'sfdisk', 'label: dos\nstart=2048,size=4096,type=83\nstart=6144,size=2048,type=83\n');
      patch(file, mbrEntry(0, 1) + 8, u32(3000));
      const t = tableOf(file);
      assert.deepEqual(t.problems, ['partitions 1 and 2 overlap']);
      // (both are still served: Linux does so too)
      assert.deepEqual(listing(t), [`1 ${MiB} ${2 * MiB}`, `2 ${3000 * SECTOR} ${MiB}`]);
      const v = run('sfdisk', ['-V', file]);
      assert.match(v.stdout + v.stderr, /Partition 1: overlaps partition 2/);
    });

    it('one partition containing two others: each overlapping pair is reported (1 and 2, 1 and 3)', () => {
      const file = image(16 * MiB, 'sfdisk', 'label: dos\nstart=2048,size=2048,type=83\nstart=4096,size=2048,type=83\nstart=6144,size=2048,type=83\n');
      // partition 1 now covers 1-8 MiB: over 2 (2-3 MiB) and 3 (3-4 MiB)
      patch(file, mbrEntry(0, 0) + 12, u32(14336));
      const v = run('sfdisk', ['-V', file]);
      assert.match(v.stdout + v.stderr, /Partition 1: overlaps partition 2/);
      assert.match(v.stdout + v.stderr, /Partition 1: overlaps partition 3/);
      const t = tableOf(file);
      assert.deepEqual(t.problems.slice().sort(), ['partitions 1 and 2 overlap', 'partitions 1 and 3 overlap']);
    });

    it('GPT entries that overlap (CRCs fixed, backup too): "partitions 1 and 2 overlap", as sgdisk -v says', () => {
      const file = image(8 * MiB, 'sgdisk', ['-n', '1:2048:+1M', '-n', '2:0:+1M']);
      for (const lba of [1, backupLba(file)]) {
        patch(file, gptEntry(file, lba, 1) + 32, u64(3000));
        fixGptCrcs(file, lba);
      }
      const v = sgdiskVerify(file);
      assert.match(v, /partitions (1 and 2|2 and 1) overlap/);
      assert.doesNotMatch(v, /CRC|ERROR|corrupt/);
      const t = tableOf(file);
      assert.deepEqual(t.problems, ['partitions 1 and 2 overlap']);
      assert.deepEqual(listing(t), [`1 ${MiB} ${MiB}`, `2 ${3000 * SECTOR} ${6144 * SECTOR - 3000 * SECTOR}`]);
    });

    describe('EBR chains that loop end, keeping the logical partitions read so far', () => {
      /** primary 1, extended 2 (at 6144), logicals 5, 6, 7: EBRs at 6144, 10240, 14336 */
      const looped = () => image(16 * MiB, 'sfdisk', 'label: dos\nstart=2048,size=4096,type=83\nstart=6144,type=5\nsize=2048\nsize=2048\nsize=2048\n');

      it('the last EBR links back to the first', () => {
        const file = looped();
        const good = tableOf(file);
        assert.deepEqual(listing(good), sfdiskView(file));
        assert.deepEqual([...good.partitions.keys()].sort(), [1, 2, 5, 6, 7]);
        const ebrs = [6144, 10240, 14336];
        assert.equal(readBytes(file, ebrs[2] * SECTOR + 510, 2).toString('hex'), '55aa');
        // EBR 3's second entry: type 5, start 0 (relative to the extended partition), 2048 sectors
        patch(file, mbrEntry(ebrs[2] * SECTOR, 1), [0, 0, 0, 0, 5, 0, 0, 0, ...u32(0), ...u32(2048)]);
        const t = tableOf(file);
        assert.deepEqual(t.problems, ['extended partition: the chain of logical partitions loops at sector 6144']);
        assert.deepEqual(listing(t), listing(good));
      });

      it('the first EBR links to itself', () => {
        const file = looped();
        const good = tableOf(file);
        patch(file, mbrEntry(6144 * SECTOR, 1) + 8, u32(0));
        const t = tableOf(file);
        assert.deepEqual(t.problems, ['extended partition: the chain of logical partitions loops at sector 6144']);
        assert.deepEqual(listing(t), listing(good).filter((l) => !/^[67] /.test(l)));
      });

      it('an EBR whose signature is damaged ends the chain there', () => {
        const file = looped();
        patch(file, 14336 * SECTOR + 510, [0, 0]);
        const t = tableOf(file);
        assert.deepEqual(t.problems, ['logical partition 7: bad EBR signature at sector 14336']);
        assert.deepEqual([...t.partitions.keys()].sort(), [1, 2, 5, 6]);
      });
    });
  });
});
