/**
 * A virtual block device: the bytes of a host file (an image, a RAM disk's memfd), subdevice 0
 * the whole disk and, when it is partitioned, subdevice N its partition N. Each open is a
 * DeviceFile whose reads and writes the core clips to the subdevice's range; the ioctls of
 * Linux block devices are answered here.
 */
import { linux, native, SyscallError, type DeviceFile, type HostRange, type IoctlArg } from '@vuos/core';
import { readTable, SECTOR, type Partition } from './partitions.js';

const { O_ACCMODE, O_RDONLY } = linux;
const SYS_fallocate = 285;
const SYS_fdatasync = 75;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;

// <linux/fs.h> and <linux/hdreg.h>: the numbers as the C library passes them
const BLKROSET = 0x125d;
const BLKROGET = 0x125e;
const BLKRRPART = 0x125f;
const BLKGETSIZE = 0x1260;
const BLKFLSBUF = 0x1261;
const BLKRASET = 0x1262;
const BLKRAGET = 0x1263;
const BLKFRASET = 0x1264;
const BLKFRAGET = 0x1265;
const BLKSSZGET = 0x1268;
const BLKDISCARD = 0x1277;
const BLKIOMIN = 0x1278;
const BLKIOOPT = 0x1279;
const BLKALIGNOFF = 0x127a;
const BLKPBSZGET = 0x127b;
const BLKDISCARDZEROES = 0x127c;
const BLKSECDISCARD = 0x127d;
const BLKROTATIONAL = 0x127e;
const BLKZEROOUT = 0x127f;
const BLKBSZGET = 0x80081270;
const BLKBSZSET = 0x40081271;
const BLKGETSIZE64 = 0x80081272;
/** read-ahead, in sectors (Linux's default 128 KiB) */
const READ_AHEAD = 256;
const HDIO_GETGEO = 0x0301;
/** the geometry Linux makes up for disks without one */
const HEADS = 255;
const SECTORS_PER_TRACK = 63;

const int32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};
const u64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};

export interface DiskOptions {
  /** its partitions are served (vudevpartx; vudevramdisk with `mbr`) */
  partitioned: boolean;
  readOnly: boolean;
  /** prints a line on the console (a damaged partition table) */
  report: (line: string) => void;
}

export class Disk {
  private partitions = new Map<number, Partition>();
  /** subdevices set read-only with BLKROSET */
  private readOnlySet = new Set<number>();

  constructor(
    private image: HostRange,
    private options: DiskOptions,
  ) {
    if (options.partitioned) this.rereadPartitions();
  }

  get size(): number {
    return this.image.size;
  }

  /** the subdevices there are: 0 (the disk) and its partitions */
  has(subdev: number): boolean {
    return subdev === 0 || this.partitions.has(subdev);
  }

  open(subdev: number, flags: number): DeviceFile {
    const part = subdev === 0 ? { start: 0, size: this.image.size, readOnly: false } : this.partitions.get(subdev);
    if (!part) throw new SyscallError('ENXIO'); // removed by a re-read since the lookup
    const roFs = this.options.readOnly || part.readOnly;
    if (roFs && (flags & O_ACCMODE) !== O_RDONLY) throw new SyscallError('EROFS');
    const disk = this;
    return {
      fd: this.image.fd,
      offset: this.image.offset + part.start,
      size: part.size,
      get readOnly() {
        return roFs || disk.readOnlySet.has(subdev);
      },
      ioctl: (request, arg) => this.ioctl(subdev, part, request, arg),
    };
  }

  private rereadPartitions(): void {
    const readAt = (pos: number, len: number) => {
      const want = Math.max(0, Math.min(len, this.image.size - pos));
      const buf = Buffer.alloc(want);
      const n = want && native.syscall(17 /* pread64 */, this.image.fd, buf, want, this.image.offset + pos);
      return buf.subarray(0, Math.max(0, n));
    };
    const table = readTable(readAt, this.image.size);
    for (const line of table.problems) this.options.report(line);
    this.partitions = table.partitions;
  }

  private ioctl(subdev: number, part: Partition, request: number, arg: IoctlArg): number {
    switch (request) {
      case BLKGETSIZE64:
        arg.write(u64(part.size));
        return 0;
      case BLKGETSIZE:
        arg.write(u64(Math.floor(part.size / SECTOR)));
        return 0;
      case BLKSSZGET:
      case BLKPBSZGET:
      case BLKIOMIN:
        arg.write(int32(SECTOR));
        return 0;
      case BLKIOOPT:
      case BLKALIGNOFF:
      case BLKDISCARDZEROES:
        arg.write(int32(0));
        return 0;
      case BLKRAGET:
      case BLKFRAGET:
        arg.write(u64(READ_AHEAD));
        return 0;
      case BLKRASET:
      case BLKFRASET:
      case BLKBSZSET:
        return 0; // (kept by nobody: the image's I/O is the page cache's)
      case BLKBSZGET:
        // the block size Linux starts a device with: the page size when it divides the size
        arg.write(int32(part.size % 4096 === 0 ? 4096 : SECTOR));
        return 0;
      case BLKROTATIONAL:
        arg.write(Buffer.alloc(2)); // unsigned short: not rotational
        return 0;
      case BLKROGET:
        arg.write(int32(this.options.readOnly || part.readOnly || this.readOnlySet.has(subdev) ? 1 : 0));
        return 0;
      case BLKROSET:
        if (arg.read(4).readInt32LE(0)) this.readOnlySet.add(subdev);
        else this.readOnlySet.delete(subdev);
        return 0;
      case BLKRRPART:
        if (subdev !== 0 || !this.options.partitioned) throw new SyscallError('EINVAL');
        this.rereadPartitions();
        return 0;
      case BLKFLSBUF:
        native.syscall(SYS_fdatasync, this.image.fd);
        return 0;
      case HDIO_GETGEO: {
        // struct hd_geometry: heads, sectors (bytes), cylinders (short), start in sectors (long)
        const geo = Buffer.alloc(16);
        geo.writeUInt8(HEADS, 0);
        geo.writeUInt8(SECTORS_PER_TRACK, 1);
        geo.writeUInt16LE(Math.min(0xffff, Math.ceil(part.size / SECTOR / (HEADS * SECTORS_PER_TRACK))), 2);
        geo.writeBigUInt64LE(BigInt(part.start / SECTOR), 8);
        arg.write(geo);
        return 0;
      }
      case BLKDISCARD:
      case BLKSECDISCARD:
      case BLKZEROOUT:
        return this.discard(subdev, part, arg.read(16), request !== BLKZEROOUT);
      default:
        throw new SyscallError('ENOTTY');
    }
  }

  /**
   * BLKDISCARD and BLKZEROOUT of {start, length} (bytes, sector-aligned, inside the device):
   * a hole punched in the image, which then reads as zeros.
   */
  private discard(subdev: number, part: Partition, range: Buffer, discard: boolean): number {
    const start = Number(range.readBigUInt64LE(0));
    const length = Number(range.readBigUInt64LE(8));
    if (start % SECTOR || length % SECTOR || start + length > part.size) throw new SyscallError('EINVAL');
    if (this.options.readOnly || part.readOnly || this.readOnlySet.has(subdev)) throw new SyscallError('EPERM');
    if (length === 0) return 0;
    const r = native.syscall(SYS_fallocate, this.image.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, this.image.offset + part.start + start, length);
    if (r < 0) throw new SyscallError(discard ? 'EOPNOTSUPP' : -r);
    return 0;
  }
}
