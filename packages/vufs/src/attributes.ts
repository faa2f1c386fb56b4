/**
 * The attributes a cow/mincow layer keeps over its host files (the core's AttributeKeeper):
 * owners, modes and device nodes the host refused, by path in the mount. They apply to a
 * path whichever layer shows it.
 *
 * They live in one append-only file, SOURCE/.-/<DEL>attributes, a JSON line per change
 * (`[path, attributes]`, or `[path, null]` when nothing is kept any more), replayed at mount
 * and rewritten compact when mostly superseded. Each change is written before the call that
 * made it returns: a view entered again shows what the last one left.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { KeptAttributes } from '@vuos/core';

const FIELDS = ['mode', 'uid', 'gid', 'rdev'] as const;
/** what is kept of a path; ino: its host file's, when it has other names */
type Kept = KeptAttributes & { ino?: number };
const S_IFMT = 0o170000;
const FAKE_NODES = new Set([0o020000, 0o060000, 0o140000, 0o010000]); // char, block, socket, FIFO

const LOG = '\x7fattributes';

export class AttributeStore {
  private readonly kept = new Map<string, Kept>();
  /** host inode -> the paths kept with it (the names of one file: hard links) */
  private readonly names = new Map<number, Set<string>>();
  /** directory -> how many of its entries are nodes the host holds as regular files */
  private readonly nodesIn = new Map<string, number>();
  private readonly file: string;

  constructor(bookkeepingDir: string) {
    this.file = path.join(bookkeepingDir, LOG);
    let text = '';
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return; // nothing kept yet
    }
    const lines = text.split('\n').filter(Boolean);
    for (const line of lines) {
      try {
        const [mpath, attrs] = JSON.parse(line) as [string, Kept | null];
        this.set(mpath, attrs ?? undefined);
      } catch {
        // a line cut short by a crash: the changes before it stand
      }
    }
    if (lines.length > 2 * this.kept.size + 64) this.compact();
    else if (!text.endsWith('\n')) fs.appendFileSync(this.file, '\n'); // (what comes next starts a line)
  }

  /** A file of the bookkeeping directory's top that is no whiteout. */
  static isOwnFile(name: string): boolean {
    return name === LOG || name === `${LOG}.new`;
  }

  of(mpath: string): KeptAttributes | undefined {
    return this.kept.get(mpath);
  }

  /**
   * Keeps of `wanted` (over what is kept already) what differs from host file st. A file of
   * several names (hard links) is one file: the names kept with its inode number change with it.
   */
  keep(mpath: string, st: fs.Stats, wanted: KeptAttributes): void {
    const onHost: Required<KeptAttributes> = { mode: st.mode, uid: st.uid, gid: st.gid, rdev: st.rdev };
    const linked = st.nlink > 1 && !st.isDirectory(); // (a directory's links are its entries)
    const apply = (m: string) => {
      const next: Kept = { ...this.kept.get(m), ...wanted };
      for (const k of FIELDS) if (next[k] === onHost[k]) delete next[k];
      delete next.ino;
      if (linked) next.ino = st.ino;
      this.change(m, Object.keys(next).length ? next : undefined);
    };
    apply(mpath);
    if (linked) for (const m of [...(this.names.get(st.ino) ?? [])]) if (m !== mpath) apply(m);
  }

  /** mpath (a directory: and what is below it) is gone. */
  drop(mpath: string, dir: boolean): void {
    for (const k of dir ? this.under(mpath) : [mpath]) this.change(k, undefined);
  }

  /** mpath (a directory: and what is below it) is now `to`, or changed places with it. */
  move(mpath: string, to: string, exchange: boolean, dir: boolean): void {
    const entries = (m: string) => (dir ? this.under(m) : this.kept.has(m) ? [m] : []).map((k) => [k, this.kept.get(k)!] as const);
    const from = entries(mpath);
    const back = entries(to);
    for (const [k] of [...from, ...back]) this.change(k, undefined);
    for (const [k, a] of from) this.change(to + k.slice(mpath.length), a);
    if (exchange) for (const [k, a] of back) this.change(mpath + k.slice(to.length), a);
  }

  /** Directory mpath has entries whose type is not their host file's. */
  hasNodesIn(mpath: string): boolean {
    return this.nodesIn.has(mpath);
  }

  private under(mpath: string): string[] {
    const prefix = mpath === '/' ? '/' : `${mpath}/`;
    return [...this.kept.keys()].filter((k) => k === mpath || k.startsWith(prefix));
  }

  private change(mpath: string, attrs: Kept | undefined): void {
    if (JSON.stringify(attrs) === JSON.stringify(this.kept.get(mpath))) return;
    this.set(mpath, attrs);
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.appendFileSync(this.file, `${JSON.stringify([mpath, attrs ?? null])}\n`);
  }

  private set(mpath: string, attrs: Kept | undefined): void {
    const dir = path.posix.dirname(mpath);
    const old = this.kept.get(mpath);
    const wasNode = isFakeNode(old);
    const names = old?.ino === undefined ? undefined : this.names.get(old.ino);
    names?.delete(mpath);
    if (names?.size === 0) this.names.delete(old!.ino!);
    if (attrs?.ino !== undefined) this.names.set(attrs.ino, (this.names.get(attrs.ino) ?? new Set()).add(mpath));
    if (attrs) this.kept.set(mpath, attrs);
    else this.kept.delete(mpath);
    const count = (this.nodesIn.get(dir) ?? 0) + Number(isFakeNode(attrs)) - Number(wasNode);
    if (count > 0) this.nodesIn.set(dir, count);
    else this.nodesIn.delete(dir);
  }

  private compact(): void {
    const tmp = `${this.file}.new`;
    fs.writeFileSync(tmp, [...this.kept].map((e) => `${JSON.stringify(e)}\n`).join(''));
    fs.renameSync(tmp, this.file);
  }
}

const isFakeNode = (a: KeptAttributes | undefined) => a?.mode !== undefined && FAKE_NODES.has(a.mode & S_IFMT);
