/**
 * vudev: virtual devices. `vumount -t vudev<NAME> [-o opts] SOURCE /dev/<dev>` makes /dev/<dev>
 * a device of submodule NAME, and /dev/<dev>N its subdevice N when the submodule has one (the
 * partitions of a disk): the mount matches the names that extend its last component with a
 * number, as VUOS' prefix entries do.
 *
 * Submodules: `partx` (SOURCE a disk image: the disk and its MBR or GPT partitions), `ramdisk`
 * (a RAM disk: `size=N[kKmMgG]`, N alone counts 512-byte sectors; `mbr`: partitioned), `null`
 * (reads EOF, writes succeed). vudev's options: `mode=` (octal), `uid=`, `gid=`, `major=`,
 * `minor=` (subdevice N is minor+N), `chrdev|char|chr`, `blkdev|blk`; `ro` (or -r) makes the
 * device read-only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defineModule, linux, native, SpecialFiles, SyscallError, type DeviceFile, type ModuleApi, type MountRequest, type SourceFile, type VStat, type VirtualFs } from '@vuos/core';
import { Disk } from './disk.js';

const { MS_RDONLY, S_IFBLK, S_IFCHR, S_IFMT } = linux;
const SYS_memfd_create = 319;
const SYS_ftruncate = 77;
const MFD_CLOEXEC = 1;
/** a RAM disk's default size: 65536 sectors */
const RAMDISK_SECTORS = 65536;
/** RAM disks are whole cylinders of 16 heads x 16 sectors */
const CYLINDER = 16 * 16 * 512;

let api: ModuleApi;

/** What a submodule serves on one mount. */
interface Device {
  type: number;
  has(subdev: number): boolean;
  open(subdev: number, flags: number): number | DeviceFile;
  /** the mount ends */
  close(): void;
}

interface VudevOptions {
  mode: number;
  uid?: number;
  gid?: number;
  major?: number;
  minor?: number;
  type?: number;
  readOnly: boolean;
  /** the submodule's own words (size=, mbr) */
  words: string[];
}

function parseOptions(req: MountRequest): VudevOptions {
  const o: VudevOptions = { mode: 0o600, readOnly: (req.flags & MS_RDONLY) !== 0, words: [] };
  const number = (word: string, value: string, radix = 10) => {
    const n = parseInt(value, radix);
    if (!/^\d+$/.test(value) || !(n >= 0)) throw fail(`vudev: bad option ${word}`);
    return n;
  };
  for (const word of req.data.split(',').filter(Boolean)) {
    const [key, value = ''] = word.split('=', 2);
    if (key === 'mode') o.mode = number(word, value, 8) & 0o7777;
    else if (key === 'uid' || key === 'gid' || key === 'major' || key === 'minor') o[key] = number(word, value);
    else if (['chrdev', 'char', 'chr'].includes(word)) o.type = S_IFCHR;
    else if (['blkdev', 'blk'].includes(word)) o.type = S_IFBLK;
    else if (word === 'ro') o.readOnly = true;
    else if (word !== 'rw' && word !== 'devid') o.words.push(word);
  }
  return o;
}

/** A failed mount: one line on the console, EINVAL to the caller. */
function fail(message: string, errno: string | number = 'EINVAL'): SyscallError {
  api.printk(3, message);
  return new SyscallError(errno, message);
}

/** size=N[kKmMgG] of a RAM disk (N alone: sectors), rounded up to whole cylinders. */
function ramdiskSize(words: string[]): number {
  const word = words.find((w) => w.startsWith('size='));
  let bytes = RAMDISK_SECTORS * 512;
  if (word) {
    const m = /^size=(\d+)([kKmMgG]?)$/.exec(word);
    if (!m) throw fail(`vudevramdisk: bad size: ${word}`);
    bytes = Number(m[1]) * ({ '': 512, k: 1024, K: 1024, m: 1 << 20, M: 1 << 20, g: 1 << 30, G: 1 << 30 }[m[2]] ?? 512);
    if (bytes === 0) throw fail(`vudevramdisk: bad size: ${word}`);
  }
  return Math.ceil(bytes / CYLINDER) * CYLINDER;
}

async function makeDevice(name: string, req: MountRequest, o: VudevOptions): Promise<Device> {
  const report = (line: string) => api.printk(4, line);
  switch (name) {
    case 'partx': {
      const source = path.resolve(callerCwd(req), req.source);
      let image: SourceFile;
      try {
        image = await api.openSource(source, !o.readOnly);
      } catch (e) {
        const { code, message } = e as NodeJS.ErrnoException;
        throw fail(`vudevpartx: ${source}: ${message}`, code && /^E[A-Z]+$/.test(code) ? code : 'EINVAL');
      }
      const disk = new Disk(image, { partitioned: true, readOnly: o.readOnly, report });
      return { type: S_IFBLK, has: (n) => disk.has(n), open: (n, flags) => disk.open(n, flags), close: () => image.close() };
    }
    case 'ramdisk': {
      const size = ramdiskSize(o.words);
      const fd = native.syscall(SYS_memfd_create, 'vudevramdisk', MFD_CLOEXEC);
      if (fd < 0 || native.syscall(SYS_ftruncate, fd, size) < 0) throw fail(`vudevramdisk: ${native.strerror(fd < 0 ? -fd : 12)}`, 'ENOMEM');
      const disk = new Disk({ fd, offset: 0, size }, { partitioned: o.words.includes('mbr'), readOnly: o.readOnly, report });
      return { type: S_IFBLK, has: (n) => disk.has(n), open: (n, flags) => disk.open(n, flags), close: () => fs.closeSync(fd) };
    }
    case 'null':
      return {
        type: S_IFCHR,
        has: (n) => n === 0,
        // reads EOF, writes succeed: the host's null device does exactly that, in the kernel
        open: (_n, flags) => fs.openSync('/dev/null', flags & linux.O_ACCMODE),
        close: () => {},
      };
    default:
      throw fail(`vudev: unknown device type vudev${name}`, 'ENODEV');
  }
}

function callerCwd(req: MountRequest): string {
  try {
    return fs.readlinkSync(`/proc/${req.call.tid}/cwd`);
  } catch {
    return '/';
  }
}

/** The subdevice a mount-relative path names: '/' is 0, 'N' is N (the name's extension). */
const subdevOf = (mpath: string) => (mpath === '/' ? 0 : /^[1-9]\d*$/.test(mpath) ? Number(mpath) : -1);

/** The device nodes of one mount, as files of a virtual file system. */
class DeviceNodes extends SpecialFiles implements VirtualFs {
  /** chmod and chown, per subdevice: in memory, as in VUOS */
  private changed = new Map<number, { mode?: number; uid?: number; gid?: number }>();
  private readonly timeMs = Date.now();

  constructor(
    private device: Device,
    private o: VudevOptions & { uid: number; gid: number },
    private baseRdev: { major: number; minor: number },
  ) {
    super();
  }

  get readOnly(): boolean {
    return this.o.readOnly;
  }

  lstat(mpath: string): VStat | null {
    const n = subdevOf(mpath);
    if (n < 0 || !this.device.has(n)) return null;
    const c = this.changed.get(n) ?? {};
    const { major } = this.baseRdev;
    const minor = this.baseRdev.minor + n;
    return {
      mode: (this.o.type ?? this.device.type) | (c.mode ?? this.o.mode),
      size: 0,
      nlink: 0,
      uid: c.uid ?? this.o.uid,
      gid: c.gid ?? this.o.gid,
      // (the C library's makedev)
      rdev: (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12),
      ino: n + 1,
      blocks: 0,
      atimeMs: this.timeMs,
      mtimeMs: this.timeMs,
      ctimeMs: this.timeMs,
    };
  }

  openDevice(mpath: string, flags: number): number | DeviceFile {
    const n = subdevOf(mpath);
    if (n < 0 || !this.device.has(n)) throw new SyscallError('ENXIO');
    return this.device.open(n, flags);
  }

  chmod(mpath: string, mode: number): void {
    this.change(mpath, { mode: mode & 0o7777 });
  }
  chown(mpath: string, uid: number, gid: number): void {
    this.change(mpath, { ...(uid !== -1 && { uid }), ...(gid !== -1 && { gid }) });
  }
  utimens(): void {}

  private change(mpath: string, c: { mode?: number; uid?: number; gid?: number }): void {
    const n = subdevOf(mpath);
    this.changed.set(n, { ...this.changed.get(n), ...c });
  }
}

/** rdev of what the target names on the host, if it is a device node (VUOS takes its numbers). */
function hostRdev(target: string): { major: number; minor: number } {
  try {
    const st = fs.statSync(target);
    if ((st.mode & S_IFMT) === S_IFBLK || (st.mode & S_IFMT) === S_IFCHR) return { major: (st.rdev >> 8) & 0xfff, minor: (st.rdev & 0xff) | ((st.rdev >> 12) & ~0xff) };
  } catch {
    // no node there
  }
  return { major: 0, minor: 0 };
}

async function mount(req: MountRequest): Promise<void> {
  const name = req.fstype.slice('vudev'.length);
  const o = parseOptions(req);
  const device = await makeDevice(name, req, o);
  const status = api.caller()?.status();
  const host = hostRdev(req.target);
  const nodes = new DeviceNodes(device, { ...o, uid: o.uid ?? status?.fsuid ?? 0, gid: o.gid ?? status?.fsgid ?? 0 }, { major: o.major ?? host.major, minor: o.minor ?? host.minor });
  api.addMount(req.info, nodes, device, {
    prefix: true,
    // /dev/hda itself, and /dev/hdaN for each subdevice N there is now
    confirm: (tail) => {
      const n = subdevOf(tail === '' ? '/' : String(tail));
      return n >= 0 && device.has(n);
    },
  });
}

export default defineModule({
  name: 'vudev',
  description: 'vu virtual devices',
  init(moduleApi) {
    api = moduleApi;
    api.setDebugTagName('D', 'VUDEV');
  },
  mount,
  cleanup(entry) {
    (entry.data as Device | undefined)?.close();
    native.dropUnusedMappings(); // (the listener maps images for reads: this one's may go)
  },
});
