/**
 * The service registry (VUOS' hashtable): every boundary of responsibility a module declares
 * (its own name, mount points, socket families, device numbers, syscall numbers, ioctl
 * requests) is an Entry here, stamped with an epoch. Lookups follow VUOS:
 * - only entries strictly older than the caller's epoch are eligible (nested virtualization:
 *   a module works at its mount's epoch and sees only older layers);
 * - among eligible candidates the most recent wins, not the longest prefix;
 * - entries with a confirm function are exceptions: the newest confirming candidate wins.
 */
import type { Service } from './modules.js';
import { SyscallError } from './syscall.js';
import type { VirtualFs } from './vfs/types.js';
import type { PathService } from './families/path.js';

export type EntryType = 'module' | 'path' | 'socket' | 'chrdev' | 'blkdev' | 'sc' | 'ioctl' | 'binfmt';
export type EntryKey = string | number;

export interface MountInfo {
  source: string;
  target: string;
  fstype: string;
  options: string;
  flags: number;
}

export interface EntryOptions<T = unknown> {
  /** path entries: also match `key` followed by any characters in the last component */
  prefix?: boolean;
  permanent?: boolean;
  confirm?: (tail: string | EntryKey) => boolean;
  data?: T;
  mount?: MountInfo;
  /** a mount's file service: the path calls it serves (families/path.ts) */
  files?: PathService | VirtualFs;
}

export class Entry<T = unknown> {
  /** references held by the registration itself: 1, or 2 for a permanent entry */
  readonly baseRefs: number;
  /** baseRefs while registered, +1 per operation in flight */
  refs: number;
  unhashed = false;
  /**
   * set by a module that goes on ending a mount after its release (a FUSE daemon flushing):
   * meanwhile an umount2 of its target succeeds (the daemon's own, on its way out)
   */
  ending?: Promise<void>;
  constructor(
    readonly type: EntryType,
    readonly key: EntryKey,
    readonly epoch: number,
    readonly service: Service,
    readonly options: EntryOptions<T>,
  ) {
    this.baseRefs = options.permanent ? 2 : 1;
    this.refs = this.baseRefs;
  }
  get data(): T | undefined {
    return this.options.data;
  }
  set data(v: T | undefined) {
    this.options.data = v;
  }
}

export const MNT_FORCE = 1;
export const MNT_DETACH = 2;


export class Registry {
  private epochCounter = 2;
  private entries: Entry[] = [];
  /** called when entries are added or removed (the hypervisor recomputes its fast path) */
  onChange: () => void = () => {};

  /** The current epoch: a lookup made "now" sees every entry. */
  now(): number {
    return this.epochCounter;
  }

  add<T>(type: EntryType, key: EntryKey, service: Service, options: EntryOptions<T> = {}): Entry<T> {
    const entry = new Entry<T>(type, normalizeKey(type, key), this.epochCounter++, service, options);
    this.entries.push(entry as Entry);
    service.entries.add(entry as Entry);
    this.onChange();
    return entry;
  }

  /**
   * Removes an entry: EBUSY while it is in use or permanent, unless MNT_FORCE or MNT_DETACH
   * (lazy: unhashed now, cleaned up when its last user is done).
   */
  del(entry: Entry, flags = 0): void {
    if (entry.unhashed) return;
    this.checkRemovable(entry, flags);
    this.unhash(entry);
    entry.refs -= entry.baseRefs - 1;
    this.release(entry);
  }

  /** Throws EBUSY if del(entry, flags) would refuse. */
  checkRemovable(entry: Entry, flags = 0): void {
    const forced = (flags & (MNT_FORCE | MNT_DETACH)) !== 0;
    if ((entry.options.permanent || entry.refs > entry.baseRefs) && !forced) throw new SyscallError('EBUSY');
  }

  private unhash(entry: Entry): void {
    if (entry.unhashed) return;
    entry.unhashed = true;
    this.entries = this.entries.filter((e) => e !== entry);
    this.onChange();
  }

  /** Takes a use of the entry for the duration of one operation. */
  acquire(entry: Entry): void {
    entry.refs++;
  }

  /** Ends one use (or, from del, the registration itself); the last one cleans the entry up. */
  release(entry: Entry): void {
    if (--entry.refs > 0) return;
    entry.service.entries.delete(entry);
    entry.service.onEntryReleased(entry);
  }

  all(type?: EntryType): Entry[] {
    return type ? this.entries.filter((e) => e.type === type) : [...this.entries];
  }

  /** The newest eligible entry of `type` for `key` at `epoch`. */
  lookup(type: EntryType, key: EntryKey, epoch = Infinity): Entry | undefined {
    const candidates = this.entries
      .filter((e) => e.type === type && e.epoch < epoch)
      .map((e) => ({ e, tail: matchTail(e, key) }))
      .filter((c) => c.tail !== null)
      .sort((a, b) => b.e.epoch - a.e.epoch);
    for (const { e, tail } of candidates) {
      if (!e.options.confirm || e.options.confirm(tail as string | EntryKey)) return e;
    }
    return undefined;
  }

  /** mount(2) choice: the newest loaded module with a mount method whose name prefixes fstype. */
  lookupFsType(fstype: string): Entry | undefined {
    return this.entries
      .filter((e) => e.type === 'module' && fstype.startsWith(String(e.key)) && e.service.definition.mount)
      .sort((a, b) => b.epoch - a.epoch)[0];
  }

  /** The mount whose canonical target is exactly `target` (umount2). */
  lookupMountTarget(target: string): Entry | undefined {
    return this.entries
      .filter((e) => e.type === 'path' && e.options.mount?.target === target)
      .sort((a, b) => b.epoch - a.epoch)[0];
  }
}

function normalizeKey(type: EntryType, key: EntryKey): EntryKey {
  // a root mount "/" is stored as the empty path so that every absolute path extends it
  if (type === 'path' && key === '/') return '';
  return key;
}

/** For path entries the tail of `key` after the entry's prefix (or null); else exact match. */
function matchTail(e: Entry, key: EntryKey): string | EntryKey | null {
  if (e.type !== 'path' && e.type !== 'binfmt') return e.key === key ? key : null;
  const prefix = String(e.key);
  const path = String(key);
  if (!path.startsWith(prefix)) return null;
  const tail = path.slice(prefix.length);
  if (e.options.prefix) return tail.includes('/') ? null : tail;
  return tail === '' || tail.startsWith('/') || prefix === '' ? tail : null;
}
