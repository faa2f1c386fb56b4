/**
 * The view paths of directories opened on behalf of processes. A dirfd given to a process is a
 * host directory (the one a mount redirects to), so path calls relative to it (openat,
 * unlinkat..., and fchdir into it) must be mapped back to the directory's path in the view,
 * where `..` and the mounts below it apply.
 *
 * Directory listings served by modules (union mounts: both layers' names, minus whiteouts)
 * must be listable by the kernel itself (getdents64 on any dup of the fd, in any child, at
 * native speed), so such a listing is materialized as a real scratch directory holding one
 * empty entry of the right type per name, and the process gets an fd of that. A listing is
 * made again only when its names change; the scratch tree goes with the view.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native } from '../native.js';
import type { DirEntry } from '../families/path.js';
import { AT_FDCWD, S_IFIFO, S_IFREG, S_IFSOCK } from '../linux.js';

const SYS_mknodat = 259;

export class DirViews {
  private scratch: string | undefined;
  private count = 0;
  /** view path → its newest materialization and the names it holds */
  private latest = new Map<string, { dir: string; key: string }>();
  /** host directory (or materialized listing, or stand-in file) → view path */
  private views = new Map<string, string>();

  /** The scratch directory of the listings (made at first use). */
  get root(): string {
    this.scratch ??= fs.mkdtempSync(path.join(os.tmpdir(), 'umvu-listings-'));
    return this.scratch;
  }

  /** host is the directory that view path stands for (the newest record wins) */
  record(host: string, viewPath: string): void {
    if (host !== viewPath) this.views.set(host, viewPath);
  }

  /** A directory holding entries, standing for viewPath; reused while the names are the same. */
  materialize(viewPath: string, entries: DirEntry[]): string {
    const key = entries.map((e) => `${e.type}:${e.name}`).sort().join('/');
    const known = this.latest.get(viewPath);
    if (known?.key === key && fs.existsSync(known.dir)) return known.dir;
    const dir = path.join(this.root, String(++this.count));
    fs.mkdirSync(dir, { mode: 0o700 });
    for (const e of entries) makeEntry(path.join(dir, e.name), e.type);
    this.latest.set(viewPath, { dir, key });
    this.views.set(dir, viewPath);
    return dir;
  }

  /**
   * An empty host file standing for the virtual file at viewPath: what an O_PATH open of it
   * gets (it never reads the content), recorded so that fstat and /proc/self/fd name the file.
   */
  standIn(viewPath: string): string {
    const file = path.join(this.root, `file-${++this.count}`);
    makeEntry(file, 'file');
    this.views.set(file, viewPath);
    return file;
  }

  /** A host symbolic link to target: what a process opening a virtual link itself (O_PATH) gets. */
  linkCopy(target: string): string {
    const link = path.join(this.root, `link-${++this.count}`);
    fs.symlinkSync(target, link);
    return link;
  }

  /**
   * The view path of a directory opened on behalf of a process in JavaScript, by its host path.
   * Those the listener opens under a pure bind are not recorded: they stay host directories.
   */
  viewPathOf(host: string): string | undefined {
    return this.views.get(host);
  }

  /** Removes the scratch tree (the view is over). */
  dispose(): void {
    if (this.scratch) fs.rmSync(this.scratch, { recursive: true, force: true });
    this.scratch = undefined;
    this.latest.clear();
    this.views.clear();
  }
}

/**
 * An empty stand-in of the given type (devices, which need privileges, become plain files), made
 * with one mknodat: listings of thousands of names are made at every change.
 */
function makeEntry(p: string, type: DirEntry['type']): void {
  if (type === 'dir') return fs.mkdirSync(p);
  if (type === 'symlink') return fs.symlinkSync('.', p);
  const mode = type === 'fifo' ? S_IFIFO : type === 'socket' ? S_IFSOCK : S_IFREG;
  const r = native.syscall(SYS_mknodat, AT_FDCWD, p, mode | 0o600, 0);
  if (r < 0) throw Object.assign(new Error(`mknodat ${p}: ${native.strerror(-r)}`), { errno: -r });
}
