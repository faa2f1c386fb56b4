/**
 * Shadow files: the content of a virtual file in a memfd, given to processes as real fds so
 * that read, write, lseek, mmap, sendfile and poll run in the kernel at native speed.
 *
 * One shadow per open file of the view: each open injects a new description of the same memfd
 * (with the caller's access mode and flags), so concurrent openers share the content as on a
 * real file. The supervisor keeps its own description and watches the memfd with inotify: each
 * IN_CLOSE_* event is one injected description released for good (every dup, fork and mapping
 * gone). When the last one goes, the content is handed back to the module if it changed.
 * Nothing written is lost at umount or exit: dispose() hands back what is still open.
 */
import fs from 'node:fs';
import { errnoName } from '../errno.js';
import { native } from '../native.js';
import { memfdWith } from './memfd.js';
import { O_ACCMODE, O_APPEND, O_CLOEXEC, O_NONBLOCK, O_TRUNC } from '../linux.js';

const SYS = { inotify_init1: 294, inotify_add_watch: 254, inotify_rm_watch: 255, ftruncate: 77 } as const;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
const IN_CLOSE_WRITE = 0x8;
const IN_CLOSE_NOWRITE = 0x10;
/** flags of the caller's open that its description keeps */
const KEPT_FLAGS = O_ACCMODE | O_APPEND | O_NONBLOCK;

export interface Shadow {
  /** the supervisor's own description of the memfd */
  fd: number;
  /** the memfd's device and inode numbers: how an fd of a process is recognized as this shadow */
  dev: number;
  ino: number;
  /** whose file it is (for the module's metadata) */
  owner: unknown;
  /** what messages call it (its view path) */
  label: string;
  /** descriptions given to processes and not yet released */
  users: number;
  /** its file was unlinked while open: the content goes nowhere */
  detached?: boolean;
  /** some process got it for writing: only then may the content have changed */
  writable?: boolean;
  /** the last of its saves, done or in flight */
  saving?: Promise<void>;
  /** the content as loaded (for a writer to be compared with), read from the memfd when first needed */
  original?: Buffer;
  /** the memfd's mtime as loaded: a different one means a process wrote */
  loadedMtimeNs: bigint;
  /** hands new content to the module (when the last user is gone, or on sync) */
  save(data: Buffer): Promise<void>;
  /** the last user is gone (after the last save) */
  release(): void;
}

/** What a module gives for a new shadow. */
export type ShadowSource = Pick<Shadow, 'owner' | 'label' | 'save' | 'release'> & { content: Buffer | Buffer[]; mode: number; mtimeMs?: number };

export class Shadows {
  private inotify = -1;
  private byKey = new Map<string, Shadow>();
  /** shadows whose content the module is still reading */
  private loading = new Map<string, Promise<Shadow>>();
  /** write-backs the module has not finished (a new open waits for them) */
  private finishing = new Map<string, Promise<void>>();
  private byWd = new Map<number, { key: string; shadow: Shadow }>();

  constructor(private onFailure: (message: string) => void) {}

  /** The open shadow of key (a mount and path), or a new one made by load(). */
  async get(key: string, load: () => Promise<ShadowSource>): Promise<Shadow> {
    // a write-back in flight is waited for; the check and the registration of a new load are
    // made without yielding in between, so concurrent opens share one shadow
    for (;;) {
      const known = this.byKey.get(key) ?? this.loading.get(key);
      if (known) return known;
      const writing = this.finishing.get(key);
      if (!writing) break;
      await writing;
    }
    const pending = load().then((loaded) => this.make(key, loaded));
    this.loading.set(key, pending);
    try {
      return await pending;
    } finally {
      if (this.loading.get(key) === pending) this.loading.delete(key);
    }
  }

  private make(key: string, { content, mode, mtimeMs, owner, label, save, release }: ShadowSource): Shadow {
    const fd = memfdWith(`umvu:${key.slice(key.lastIndexOf('/') + 1)}`, content);
    fs.fchmodSync(fd, mode & 0o7777);
    if (mtimeMs !== undefined) fs.futimesSync(fd, mtimeMs / 1000, mtimeMs / 1000);
    const st = fs.fstatSync(fd, { bigint: true });
    const shadow: Shadow = { fd, dev: Number(st.dev), ino: Number(st.ino), owner, label, users: 0, original: Buffer.isBuffer(content) ? content : undefined, save, release, loadedMtimeNs: st.mtimeNs };
    const wd = native.syscall(SYS.inotify_add_watch, this.inotifyFd(), `/proc/self/fd/${fd}`, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);
    if (wd < 0) {
      fs.closeSync(fd);
      throw Object.assign(new Error('inotify_add_watch failed'), { errno: -wd });
    }
    this.byKey.set(key, shadow);
    this.byWd.set(wd, { key, shadow });
    return shadow;
  }

  /** The shadow an fd of a process refers to (by the file's device and inode), if any. */
  ofFd(tid: number, fd: number): Shadow | undefined {
    if (this.byKey.size === 0) return undefined;
    let st: fs.Stats;
    try {
      st = fs.statSync(`/proc/${tid}/fd/${fd}`);
    } catch {
      return undefined;
    }
    for (const s of this.byKey.values()) if (s.ino === st.ino && s.dev === st.dev) return s;
    return undefined;
  }

  /**
   * The file of key (and, for a directory, those below it) was renamed to newKey: its open
   * shadows follow it. Returns them with their new keys.
   */
  rekey(key: string, newKey: string): Array<{ shadow: Shadow; key: string }> {
    const moved: Array<{ shadow: Shadow; key: string }> = [];
    for (const [k, shadow] of [...this.byKey]) {
      if (k !== key && !k.startsWith(`${key}/`)) continue;
      const to = newKey + k.slice(key.length);
      this.byKey.delete(k);
      this.byKey.set(to, shadow);
      for (const w of this.byWd.values()) if (w.shadow === shadow) w.key = to;
      moved.push({ shadow, key: to });
    }
    return moved;
  }

  /** The shadow's times are the module's again (they were just set there): live() shows them. */
  markUnchanged(shadow: Shadow): void {
    shadow.loadedMtimeNs = fs.fstatSync(shadow.fd, { bigint: true }).mtimeNs;
  }

  /** The file of key was unlinked: its open shadow lives on unnamed, a new open makes another. */
  detach(key: string): void {
    const shadow = this.byKey.get(key);
    if (!shadow) return;
    shadow.detached = true;
    this.byKey.delete(key);
  }

  /** The live size and mtime of key's content while it is open (writes not yet handed back). */
  live(key: string): { size: number; mtimeMs?: number; mtimeNs?: bigint } | undefined {
    const s = this.byKey.get(key);
    if (!s) return undefined;
    const st = fs.fstatSync(s.fd, { bigint: true });
    const written = st.mtimeNs !== s.loadedMtimeNs;
    return { size: Number(st.size), ...(written ? { mtimeMs: Number(st.mtimeMs), mtimeNs: st.mtimeNs } : {}) };
  }

  /**
   * A new description of shadow for a process opening it with flags (O_TRUNC empties it);
   * the caller injects it and closes this fd. Counts as one user until its release is seen.
   */
  open(shadow: Shadow, flags: number): number {
    const writes = (flags & O_ACCMODE) !== 0;
    // before any change (this open's O_TRUNC included): what a change is measured against
    if (writes) shadow.original ??= contentOf(shadow.fd);
    if (flags & O_TRUNC && writes) native.syscall(SYS.ftruncate, shadow.fd, 0);
    const fd = native.syscall(2 /* open */, `/proc/self/fd/${shadow.fd}`, (flags & KEPT_FLAGS) | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    shadow.users++;
    if (writes) shadow.writable = true;
    return fd;
  }

  /** The supervisor's inotify fd became readable: count the released descriptions. */
  readable(fd: number): boolean {
    if (fd !== this.inotify) return false;
    this.countReleases();
    native.watchReadable(fd);
    return true;
  }

  private countReleases(): void {
    const buf = Buffer.alloc(4096);
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.inotify, buf, 0, buf.length, null);
      } catch {
        break; // EAGAIN: all read
      }
      for (let off = 0; off + 16 <= n; off += 16 + buf.readUInt32LE(off + 12)) {
        const w = this.byWd.get(buf.readInt32LE(off));
        if (w && --w.shadow.users <= 0) void this.finish(buf.readInt32LE(off), w.key, w.shadow);
      }
    }
  }

  /**
   * Resolves once every file closed so far whose key starts with prefix (a mount's) has been
   * written back: a call made after a close returned sees the new content, under any name (the
   * release event is queued by then, even if its wake-up has not been handled yet). Only that
   * mount's: its module may be a helper process whose own calls must not wait for itself.
   */
  async caughtUp(prefix = ''): Promise<void> {
    if (this.byWd.size === 0 && this.finishing.size === 0) return;
    if (this.inotify >= 0) this.countReleases();
    await this.settled(prefix);
  }

  /** Resolves when the write-backs in flight now are done (the module has the content). */
  private async settled(prefix: string): Promise<void> {
    const writing = [...this.finishing].filter(([key]) => key.startsWith(prefix));
    await Promise.all(writing.map(([, p]) => p.catch(() => undefined)));
  }

  /** The view is over: every shadow still open is handed back. */
  async dispose(): Promise<void> {
    await Promise.all([...this.byWd].map(([wd, { key, shadow }]) => this.finish(wd, key, shadow)));
    if (this.inotify >= 0) fs.closeSync(this.inotify);
    this.inotify = -1;
  }

  /** Hands the content back; settles once the module has it. */
  private finish(wd: number, key: string, shadow: Shadow): Promise<void> {
    this.byWd.delete(wd);
    if (this.byKey.get(key) === shadow) this.byKey.delete(key);
    native.syscall(SYS.inotify_rm_watch, this.inotify, wd);
    const done = this.writeBack(shadow).finally(() => {
      if (this.finishing.get(key) === done) this.finishing.delete(key);
    });
    this.finishing.set(key, done);
    return done;
  }

  private async writeBack(shadow: Shadow): Promise<void> {
    try {
      await this.saveContent(shadow);
    } finally {
      fs.closeSync(shadow.fd);
      shadow.release();
    }
  }

  /** Hands the shadow's content to the module if a process changed it (the shadow stays open). */
  saveContent(shadow: Shadow): Promise<void> {
    // one save at a time per file: two write-backs interleaved could end with the older size
    shadow.saving = (shadow.saving ?? Promise.resolve()).then(() => this.saveNow(shadow));
    return shadow.saving;
  }

  private async saveNow(shadow: Shadow): Promise<void> {
    if (!shadow.writable || shadow.detached) return;
    try {
      const data = contentOf(shadow.fd);
      if (shadow.original && data.equals(shadow.original)) return;
      await shadow.save(data);
      shadow.original = data;
    } catch (e) {
      const errno = (e as { errno?: unknown }).errno;
      this.onFailure(`umvu: ${shadow.label}: what was written could not be saved: ${typeof errno === 'number' ? errnoName(errno) : (e as Error).message}`);
    }
  }

  /**
   * Hands the module what processes wrote to the files of a mount (keys starting with prefix),
   * those closed and those still open (which stay open): before the mount ends.
   */
  async sync(prefix = ''): Promise<void> {
    await this.caughtUp(prefix);
    await Promise.all([...this.byKey].filter(([key]) => key.startsWith(prefix)).map(([, shadow]) => this.saveContent(shadow)));
  }

  private inotifyFd(): number {
    if (this.inotify < 0) {
      this.inotify = native.syscall(SYS.inotify_init1, IN_NONBLOCK | IN_CLOEXEC);
      if (this.inotify < 0) throw Object.assign(new Error('inotify_init1 failed'), { errno: -this.inotify });
      native.watchReadable(this.inotify);
    }
    return this.inotify;
  }
}

/** The whole content of a memfd. */
function contentOf(fd: number): Buffer {
  const data = Buffer.alloc(fs.fstatSync(fd).size);
  fs.readSync(fd, data, 0, data.length, 0);
  return data;
}
