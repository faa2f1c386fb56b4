/**
 * The union modes of vufs (merge, cow, mincow): SOURCE is the upper ("virtual") layer, TARGET
 * the lower ("real") one, which is what the view showed at TARGET before the mount.
 *
 * - merge: entries of SOURCE win and are read-only (EROFS); everything else happens in TARGET.
 * - cow: TARGET is never modified. A file of TARGET is copied up into SOURCE (parent dirs
 *   included) before its first change; new files go to SOURCE; deleting a file of TARGET
 *   records a whiteout.
 * - mincow: a change is tried on TARGET first; only if it fails with EACCES/EPERM (ENOENT too
 *   for a creation) is it redone in SOURCE as in cow.
 *
 * Whiteouts live in SOURCE/.- (VUOS' layout): an empty file SOURCE/.-/PATH hides PATH of the
 * lower layer, and for a directory its whole lower subtree, even once PATH is made again in
 * SOURCE (the new directory is then "opaque"). `.-` itself is never shown.
 *
 * cow and mincow also keep the owners, modes and device nodes the host refuses (attributes.ts):
 * an unprivileged user's virtual root can unpack and pack a root file system with them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SyscallError, direntTypeOf, native, syscallNumber } from '@vuos/core';
import type { Access, AttributeKeeper, DirEntry } from '@vuos/core';
import { AttributeStore } from './attributes.js';

export type UnionMode = 'merge' | 'cow' | 'mincow';
const BOOKKEEPING = '.-';

type Layer = 'upper' | 'lower' | 'none';

/** Path m of a mount (canonical, '/' = the mount itself: a directory or a file) under base. */
export const under = (base: string, m: string) => (m === '/' ? base : base === '/' ? m : base + m);

const lexists = (p: string) => {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
};

export class Union {
  private readonly store?: AttributeStore;
  private readonly whiteouts = new Set<string>();
  /** the layers as the kernel names their files (/proc/PID/fd) */
  private readonly realUpper: string;
  private readonly realLower: string;

  constructor(
    readonly upper: string,
    readonly lower: string,
    readonly mode: UnionMode,
    /** nochcopy: chown and chmod of a lower file are kept, not made on a copy */
    private readonly keepOnly = false,
  ) {
    if (mode !== 'merge') this.store = new AttributeStore(path.join(upper, BOOKKEEPING));
    this.realUpper = fs.realpathSync(upper);
    this.realLower = lexists(lower) ? fs.realpathSync(lower) : lower;
    this.readWhiteouts();
  }

  /** The core's view of the kept attributes (none in merge mode). */
  get attributes(): AttributeKeeper | undefined {
    const store = this.store;
    if (!store) return undefined;
    return {
      of: (m) => store.of(m),
      keep: (m, host, wanted) => store.keep(m, fs.lstatSync(host), wanted),
      fileOf: (host) => this.fileOf(host),
      keepsOnly: (m) => this.keepOnly && this.mode === 'cow' && this.layerOf(m) === 'lower',
    };
  }

  /** The path in the mount of a host file of either layer; a cow lower file must not change. */
  private fileOf(host: string): { mpath: string; keepOnly: boolean } | undefined {
    const inside = (base: string) => (host === base ? '/' : host.startsWith(base === '/' ? '/' : `${base}/`) ? host.slice(base === '/' ? 0 : base.length) : undefined);
    const up = inside(this.realUpper);
    if (up !== undefined) return this.isBookkeeping(up) ? undefined : { mpath: up, keepOnly: false };
    const low = inside(this.realLower);
    return low === undefined ? undefined : { mpath: low, keepOnly: this.mode === 'cow' };
  }

  private up = (m: string) => under(this.upper, m);
  private low = (m: string) => under(this.lower, m);
  private whiteout = (m: string) => path.join(this.upper, BOOKKEEPING, m);

  /** m, or one of its ancestors, was deleted from the lower layer */
  private masked(m: string): boolean {
    for (let p = m; p !== '/'; p = path.posix.dirname(p)) if (this.whiteouts.has(p)) return true;
    return false;
  }

  /** The whiteouts in SOURCE/.- (every path call asks about each ancestor: they are kept in memory). */
  private readWhiteouts(): void {
    const walk = (dir: string, m: string) => {
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
        const child = path.posix.join(m, d.name);
        if (d.isDirectory()) walk(path.join(dir, d.name), child);
        else if (!(m === '/' && AttributeStore.isOwnFile(d.name))) this.whiteouts.add(child);
      }
    };
    if (lexists(path.join(this.upper, BOOKKEEPING))?.isDirectory()) walk(path.join(this.upper, BOOKKEEPING), '/');
  }

  private isBookkeeping = (m: string) => m === `/${BOOKKEEPING}` || m.startsWith(`/${BOOKKEEPING}/`);

  /** Which layer shows m. */
  private layerOf(m: string): Layer {
    if (this.isBookkeeping(m)) return 'none';
    if (lexists(this.up(m))) return 'upper';
    if (this.masked(m)) return 'none';
    return lexists(this.low(m)) ? 'lower' : 'none';
  }

  redirect(m: string, access: Access = 'read'): string {
    const layer = this.layerOf(m);
    if (access === 'read') return layer === 'lower' ? this.low(m) : this.up(m);
    if (this.mode === 'merge') {
      if (layer === 'upper') throw new SyscallError('EROFS');
      return this.low(m);
    }
    // a directory the lower layer has cannot move as a whole (as overlayfs: mv then copies)
    if (access === 'rename' && !this.masked(m) && lexists(this.low(m))?.isDirectory()) throw new SyscallError('EXDEV');
    if (this.mode === 'mincow' && layer !== 'upper') return this.low(m); // tried on the real layer first
    if (access === 'attributes' && this.keepOnly && layer === 'lower') return this.low(m); // (the host refuses: kept)
    return this.inUpper(m, access, layer);
  }

  /** mincow: the real layer refused (or, for a creation, lacked the parent): redo it in SOURCE */
  retry(m: string, access: Access, errno: string): string | undefined {
    if (this.mode !== 'mincow' || this.layerOf(m) === 'upper' || (access === 'attributes' && this.keepOnly)) return undefined;
    const refused = errno === 'EACCES' || errno === 'EPERM' || (access === 'create' && errno === 'ENOENT');
    return refused ? this.inUpper(m, access, this.layerOf(m)) : undefined;
  }

  /** The upper path of m, after copying it up (a change) or making its parents (a creation). */
  private inUpper(m: string, access: Access, layer: Layer): string {
    if (layer === 'lower') {
      this.copyUp(m);
    } else {
      this.copyUpDirs(path.posix.dirname(m));
    }
    return this.up(m);
  }

  /** Makes the upper copies of directory m and its ancestors (same modes). */
  private copyUpDirs(m: string): void {
    if (m === '/' || lexists(this.up(m))) return;
    this.copyUpDirs(path.posix.dirname(m));
    const st = fs.lstatSync(this.low(m));
    fs.mkdirSync(this.up(m), { mode: st.mode & 0o7777 });
    this.copyAttributes(m, st);
  }

  /** Copies m (a file, symlink or, alone, a directory) from the lower layer into the upper one. */
  private copyUp(m: string): void {
    this.copyUpDirs(path.posix.dirname(m));
    const from = this.low(m);
    const to = this.up(m);
    const st = fs.lstatSync(from);
    if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
    else if (st.isDirectory()) fs.mkdirSync(to, { mode: st.mode & 0o7777 });
    else if (st.isFile()) fs.copyFileSync(from, to);
    else if (st.isFIFO()) native.syscall(syscallNumber('mknod'), to, st.mode, 0); // (any user may make one)
    else fs.writeFileSync(to, ''); // a device or socket: an empty file kept as the node
    this.copyAttributes(m, st);
  }

  /** The copy of m shows what the lower file showed (owner, mode, times), as far as the host allows and then kept. */
  private copyAttributes(m: string, st: fs.Stats): void {
    const to = this.up(m);
    try {
      fs.lchownSync(to, st.uid, st.gid); // only root can keep other owners
    } catch {
      // an unprivileged user's copy is its own
    }
    if (!st.isSymbolicLink()) fs.chmodSync(to, st.mode & 0o7777);
    fs.lutimesSync(to, st.atime, st.mtime);
    this.store?.keep(m, fs.lstatSync(to), { mode: st.mode, uid: st.uid, gid: st.gid, rdev: st.rdev, ...this.store.of(m) });
  }

  /**
   * A rename of m to `to`, once done: what the lower layer still has at m is hidden, and what is
   * kept of m (a directory: of its whole subtree) goes along.
   */
  renamed(m: string, to: string, exchange: boolean): void {
    if (!exchange && this.mode !== 'merge' && !this.masked(m) && lexists(this.low(m))) this.addWhiteout(m);
    this.store?.move(m, to, exchange, [to, exchange ? m : to].some((n) => lexists(this.redirect(n))?.isDirectory()));
  }

  /** unlink/rmdir of m (which exists). */
  remove(m: string, dir: boolean): void {
    const layer = this.layerOf(m);
    if (this.mode === 'merge') {
      if (layer === 'upper') throw new SyscallError('EROFS');
      return this.removeHost(this.low(m), dir);
    }
    if (dir && (this.list(m) ?? fs.readdirSync(layer === 'upper' ? this.up(m) : this.low(m))).length > 0) throw new SyscallError('ENOTEMPTY');
    if (this.mode === 'mincow' && layer === 'lower') {
      try {
        this.removeHost(this.low(m), dir);
        return this.store?.drop(m, dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EACCES' && code !== 'EPERM') throw e;
      }
    }
    if (layer === 'upper') this.removeHost(this.up(m), dir);
    if (!this.masked(m) && lexists(this.low(m))) this.addWhiteout(m);
    this.store?.drop(m, dir);
  }

  private removeHost(p: string, dir: boolean): void {
    if (dir) fs.rmdirSync(p);
    else fs.unlinkSync(p);
  }

  private addWhiteout(m: string): void {
    const w = this.whiteout(m);
    fs.mkdirSync(path.dirname(w), { recursive: true });
    fs.rmSync(w, { recursive: true, force: true }); // whiteouts of its children are covered by it
    for (const k of this.whiteouts) if (k.startsWith(`${m}/`)) this.whiteouts.delete(k);
    this.whiteouts.add(m);
    fs.writeFileSync(w, '');
  }

  /**
   * The entries of directory m when they are not those of a single host directory: both layers
   * have it, or some of its lower entries are whited out, or it is the root (which hides `.-`).
   */
  list(m: string): DirEntry[] | undefined {
    const upper = lexists(this.up(m))?.isDirectory() ? this.up(m) : undefined;
    const lower = !this.masked(m) && lexists(this.low(m))?.isDirectory() ? this.low(m) : undefined;
    const hidesChildren = lexists(this.whiteout(m))?.isDirectory() ?? false;
    const nodes = this.store?.hasNodesIn(m) ?? false;
    if (!(upper && lower) && !hidesChildren && !nodes && m !== '/') return undefined;
    const entries = new Map<string, DirEntry>();
    const add = (dirPath: string | undefined, skip: (name: string) => boolean) => {
      if (!dirPath) return;
      for (const d of fs.readdirSync(dirPath, { withFileTypes: true }))
        if (!entries.has(d.name) && !skip(d.name)) entries.set(d.name, { name: d.name, type: this.typeOf(path.posix.join(m, d.name), d) });
    };
    const bookkeeping = path.join(this.realUpper, BOOKKEEPING);
    add(upper, (name) => m === '/' && name === BOOKKEEPING);
    // (the lower layer may hold the upper one: a cow layer over its own directory)
    add(lower, (name) => under(this.realLower, path.posix.join(m, name)) === bookkeeping || this.whiteouts.has(path.posix.join(m, name)));
    return [...entries.values()];
  }

  /** The listing type of entry m (a node kept over an empty host file shows as the node). */
  private typeOf(m: string, d: fs.Dirent): DirEntry['type'] {
    const mode = this.store?.of(m)?.mode;
    return (mode !== undefined && direntTypeOf(mode)) || direntType(d);
  }
}

function direntType(d: fs.Dirent): DirEntry['type'] {
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isFIFO()) return 'fifo';
  if (d.isSocket()) return 'socket';
  if (d.isCharacterDevice()) return 'char';
  if (d.isBlockDevice()) return 'block';
  return 'file';
}
