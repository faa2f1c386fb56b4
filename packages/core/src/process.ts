/**
 * Per-process state. The kernel already keeps cwd, umask, credentials and real fds for every
 * process; the hypervisor keeps only what is virtual (local debug tags, module data, and in
 * later layers virtual fds and cwd). A process with virtual state is "tracked": the native fast
 * path sends all its notifications to JavaScript. Untracked processes need no record at all.
 *
 * CONTINUEd calls do not report their results, so a tracked parent's state is snapshotted when
 * its clone/fork/vfork/clone3 is notified, and the child adopts it at its first notification
 * (/proc/TID/status tells Tgid and PPid). While such an adoption is pending, the native fast
 * path sends notifications of untracked threads to JavaScript (the adoption window).
 */
import fs from 'node:fs';
import { native } from './native.js';
import type { Service } from './modules.js';

export const CLONE_VM = 0x100;
export const CLONE_FS = 0x200;
export const CLONE_FILES = 0x400;
export const CLONE_PARENT = 0x8000;
export const CLONE_VFORK = 0x4000;
export const CLONE_THREAD = 0x10000;

export class VuProcess {
  /** debug tags enabled for this process only (inherited by its children) */
  localTags = '';
  readonly moduleData = new Map<Service, unknown>();
  constructor(
    readonly tid: number,
    readonly tgid: number,
  ) {}

  get tracked(): boolean {
    return this.localTags !== '' || this.moduleData.size > 0;
  }
}

interface PendingClone {
  parentTid: number;
  parentTgid: number;
  flags: number;
  child: (tid: number, tgid: number) => VuProcess;
  timer: NodeJS.Timeout;
}

/** An adoption not claimed in this time (the clone failed, or the child only exited) lapses. */
const ADOPTION_TIMEOUT_MS = 2000;

export interface InheritanceHooks {
  clone(service: Service, data: unknown, flags: number): unknown;
  exec(service: Service, data: unknown): unknown;
  terminate(service: Service, data: unknown): void;
}

export class ProcessTable {
  private byTid = new Map<number, VuProcess>();
  private pending: PendingClone[] = [];
  /** tids whose exit is watched through a pidfd */
  private watched = new Set<number>();

  constructor(
    private hooks: InheritanceHooks,
    private reaperPid: () => number,
  ) {}

  get(tid: number): VuProcess | undefined {
    return this.byTid.get(tid);
  }

  get adoptionPending(): boolean {
    return this.pending.length > 0;
  }

  /** The record of tid, created (untracked) if needed. */
  ensure(tid: number): VuProcess {
    let p = this.byTid.get(tid);
    if (!p) {
      p = new VuProcess(tid, readStatus(tid)?.tgid ?? tid);
      this.byTid.set(tid, p);
    }
    return p;
  }

  /** Call after changing a process' virtual state: keeps the native fast path in step. */
  update(p: VuProcess): void {
    if (p.tracked) {
      native.setTracked(p.tid, true);
      if (!this.watched.has(p.tid) && native.watchExit(p.tid, p.tid !== p.tgid) === 0) this.watched.add(p.tid);
    } else {
      // no virtual state left: no record (a stale one would outlive the tid)
      native.setTracked(p.tid, false);
      this.byTid.delete(p.tid);
    }
  }

  /** A tracked process is about to clone: snapshot what the child inherits. */
  cloning(parent: VuProcess, flags: number): void {
    const tags = parent.localTags;
    const data = new Map(
      [...parent.moduleData].map(([service, d]) => [service, this.hooks.clone(service, d, flags)] as const),
    );
    const child = (tid: number, tgid: number) => {
      const p = new VuProcess(tid, tgid);
      p.localTags = tags;
      for (const [s, d] of data) if (d !== undefined) p.moduleData.set(s, d);
      return p;
    };
    const pending: PendingClone = {
      parentTid: parent.tid,
      parentTgid: parent.tgid,
      flags,
      child,
      timer: setTimeout(() => this.dropPending(pending), ADOPTION_TIMEOUT_MS),
    };
    pending.timer.unref();
    this.pending.push(pending);
    native.adjustAdoptWindow(1);
  }

  /**
   * First notification of an untracked thread while adoptions are pending: if it is the child
   * of a pending clone, it adopts the snapshot. Returns the new record or undefined.
   */
  tryAdopt(tid: number): VuProcess | undefined {
    const st = readStatus(tid);
    if (!st) return undefined;
    const isThread = st.tgid !== tid;
    let match = this.pending.find((c) =>
      isThread ? c.flags & CLONE_THREAD && c.parentTgid === st.tgid : !(c.flags & CLONE_THREAD) && c.parentTgid === st.ppid,
    );
    // the parent exited before the child's first notification: the child was reparented
    if (!match && !isThread && (st.ppid === this.reaperPid() || st.ppid === 1)) {
      match = this.pending.find((c) => !(c.flags & CLONE_THREAD) && !fs.existsSync(`/proc/${c.parentTgid}`));
    }
    if (!match) return undefined;
    this.dropPending(match);
    const p = match.child(tid, st.tgid);
    this.byTid.set(tid, p);
    this.update(p);
    return p;
  }

  private dropPending(c: PendingClone): void {
    const i = this.pending.indexOf(c);
    if (i < 0) return;
    clearTimeout(c.timer);
    this.pending.splice(i, 1);
    native.adjustAdoptWindow(-1);
  }

  /** execve succeeded or is about to: modules may transform their data. */
  exec(p: VuProcess): void {
    for (const [service, d] of p.moduleData) {
      const next = this.hooks.exec(service, d);
      if (next === undefined) p.moduleData.delete(service);
      else p.moduleData.set(service, next);
    }
  }

  /** The thread exited (reported by its pidfd). */
  exited(tid: number): void {
    const p = this.byTid.get(tid);
    this.watched.delete(tid);
    if (!p) return;
    this.byTid.delete(tid);
    native.setTracked(tid, false);
    for (const [service, d] of p.moduleData) this.hooks.terminate(service, d);
  }

  all(): VuProcess[] {
    return [...this.byTid.values()];
  }
}

export function readStatus(tid: number): { tgid: number; ppid: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${tid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? -1);
  return { tgid: field('Tgid'), ppid: field('PPid') };
}
