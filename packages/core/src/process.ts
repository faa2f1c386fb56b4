/**
 * Per-process state. The kernel already keeps cwd, umask, credentials and real fds for every
 * process; the hypervisor keeps only what is virtual (local debug tags, module data, and in
 * later layers virtual fds and cwd). A process with virtual state is "tracked": the native fast
 * path sends all its notifications to JavaScript. Untracked processes need no record at all.
 *
 * clone/fork/vfork are not notified: a notified call can fail with EINTR if a signal arrives
 * before the hypervisor receives it, and fork must never fail so (shells die of it). Instead,
 * while some process is tracked, the first notification of every other thread goes to
 * JavaScript, which reads /proc/TID/status: a thread or child of a tracked process adopts a
 * copy of its state (as it is then, not as it was at the clone); any other thread is marked
 * checked and its notifications stay in the fast path.
 */
import fs from 'node:fs';
import { native } from './native.js';
import type { Service } from './modules.js';
import { S_ISGID, S_ISUID } from './linux.js';

export const CLONE_VM = 0x100;
export const CLONE_FS = 0x200;
export const CLONE_FILES = 0x400;
export const CLONE_THREAD = 0x10000;
const SIGCHLD = 17;

export class VuProcess {
  /** debug tags enabled for this process only (inherited by its children) */
  localTags = '';
  /**
   * The cwd in the view, once the process has entered a mount: its kernel cwd is then stale
   * (nobody can change another process' cwd), so its relative paths are resolved from here.
   */
  vcwd: string | undefined;
  /** after chroot: the view path of the process' root directory (chroot is always virtual) */
  root: string | undefined;
  /** it may have other credentials than umvu (families/cred.ts): its path calls come to JS */
  ownCredentials = false;
  readonly moduleData = new Map<Service, unknown>();
  /**
   * an exec it made, whose outcome is not known yet (the kernel does it and tells nothing):
   * the program's auxiliary vector before it, and the program run. At its next notification
   * a new auxiliary vector means the exec succeeded: then the modules' exec hooks run.
   */
  pendingExec: { auxv: Buffer; image: ExecImage | undefined; data?: Map<Service, unknown> } | undefined;
  constructor(
    readonly tid: number,
    readonly tgid: number,
  ) {}

  get tracked(): boolean {
    return this.localTags !== '' || this.moduleData.size > 0 || this.vcwd !== undefined || this.root !== undefined || this.ownCredentials || this.pendingExec !== undefined;
  }
}

/** The program an exec runs, as the view shows it (set-user-ID and set-group-ID emulation). */
export interface ExecImage {
  mode: number;
  uid: number;
  gid: number;
}

/** the bits that make a program set-user-ID or set-group-ID */
export const SET_ID_BITS = S_ISUID | S_ISGID;

export interface InheritanceHooks {
  clone(service: Service, data: unknown, flags: number): unknown;
  exec(service: Service, data: unknown, image: ExecImage | undefined, tid: number): unknown;
  /** the modules whose exec hook also runs for processes without data (set-user-ID programs) */
  setIdServices(): Service[];
  terminate(service: Service, data: unknown): void;
}

export class ProcessTable {
  private byTid = new Map<number, VuProcess>();
  /** tids whose exit is watched through a pidfd */
  private watched = new Set<number>();
  /** untracked tids met while some process was tracked: nothing to adopt (native: gChecked) */
  private checked = new Set<number>();

  constructor(private hooks: InheritanceHooks) {}

  get(tid: number): VuProcess | undefined {
    return this.byTid.get(tid);
  }

  setIdServices(): Service[] {
    return this.hooks.setIdServices();
  }

  /** Whether some process is tracked (then new threads must be checked for adoption). */
  get anyTracked(): boolean {
    return this.byTid.size > 0;
  }

  /** Whether some process has its virtual cwd or root at or under dir. */
  someWithin(dir: string): boolean {
    const within = (p: string | undefined) => p !== undefined && (p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`));
    for (const p of this.byTid.values()) if (within(p.vcwd) || within(p.root)) return true;
    return false;
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
      // a tid that is already gone cannot be watched: forget it now, or it would leak
      if (!this.watchExit(p.tid, p.tid !== p.tgid)) this.exited(p.tid);
    } else {
      // no virtual state left: no record (a stale one would outlive the tid)
      native.setTracked(p.tid, false);
      this.byTid.delete(p.tid);
    }
  }

  /**
   * First notification of an untracked thread while some process is tracked: a thread of a
   * tracked process, or a child of one, adopts a copy of its state; any other is marked checked.
   */
  adoptOrCheck(tid: number): VuProcess | undefined {
    const st = readStatus(tid);
    if (!st) return undefined;
    const isThread = st.tgid !== tid;
    const parent = this.byTid.get(isThread ? st.tgid : st.ppid);
    this.watchExit(tid, isThread);
    if (!parent?.tracked) {
      this.check(tid, isThread);
      return undefined;
    }
    return this.adopt(tid, st.tgid, parent);
  }

  /** tid (a thread of tgid, or a process) takes a copy of parent's state. */
  private adopt(tid: number, tgid: number, parent: VuProcess): VuProcess {
    const flags = tid !== tgid ? CLONE_THREAD | CLONE_VM | CLONE_FS | CLONE_FILES : SIGCHLD;
    const child = new VuProcess(tid, tgid);
    child.localTags = parent.localTags;
    child.vcwd = parent.vcwd;
    child.root = parent.root;
    child.ownCredentials = parent.ownCredentials;
    for (const [service, d] of parent.moduleData) {
      const inherited = this.hooks.clone(service, d, flags);
      if (inherited !== undefined) child.moduleData.set(service, inherited);
    }
    this.byTid.set(tid, child);
    this.update(child);
    return child;
  }

  /**
   * The children (and threads) of p that umvu has not met yet take p's state now, as it is,
   * before p changes it: they were made before the change. Clone is not notified: a child
   * otherwise takes its parent's state as found at its own first notification.
   */
  adoptNewborns(p: VuProcess): void {
    let threads: string[];
    try {
      threads = fs.readdirSync(`/proc/${p.tgid}/task`);
    } catch {
      return; // gone
    }
    const newborn = (tid: number, tgid: number, parent: VuProcess) => {
      if (tid === p.tid || this.byTid.has(tid) || this.checked.has(tid)) return;
      if (!parent.tracked) return this.check(tid, tid !== tgid);
      this.watchExit(tid, tid !== tgid);
      this.adopt(tid, tgid, parent);
    };
    for (const t of threads) {
      newborn(Number(t), p.tgid, this.byTid.get(p.tgid) ?? p);
      let children = '';
      try {
        children = fs.readFileSync(`/proc/${p.tgid}/task/${t}/children`, 'latin1');
      } catch {
        // the thread is gone
      }
      for (const c of children.split(' ').filter(Boolean).map(Number)) newborn(c, c, p);
    }
  }

  /** tid has nothing virtual (and its children will not, unless it gets something). */
  private check(tid: number, isThread: boolean): void {
    if (!this.watchExit(tid, isThread)) return;
    this.checked.add(tid);
    native.setChecked(tid, true);
  }

  /** Watches tid's exit (once); false if tid is already gone. */
  private watchExit(tid: number, isThread: boolean): boolean {
    if (this.watched.has(tid)) return true;
    if (native.watchExit(tid, isThread) !== 0) return false;
    this.watched.add(tid);
    return true;
  }

  /** p is about to exec (image: the program, as the view shows it): see pendingExec. */
  execStarts(p: VuProcess, image: ExecImage | undefined): void {
    const auxv = readAuxv(p.tid);
    if (!auxv) return;
    if (p.tid === p.tgid) {
      p.pendingExec = { auxv, image };
      return;
    }
    // a thread that execs becomes its process' leader (and takes its tid): the leader's record
    // then holds what the thread had
    const leader = this.ensure(p.tgid);
    leader.pendingExec = { auxv, image, data: new Map(p.moduleData) };
    this.update(leader);
  }

  /** At p's next notification: if its exec happened (a new auxiliary vector), the hooks run. */
  execSettles(p: VuProcess): void {
    const pending = p.pendingExec;
    if (!pending) return;
    p.pendingExec = undefined;
    const now = readAuxv(p.tid);
    if (!now || now.equals(pending.auxv)) return; // the exec failed
    if (pending.data) {
      p.moduleData.clear();
      for (const [service, d] of pending.data) p.moduleData.set(service, d);
    }
    this.exec(p, pending.image);
    this.update(p);
  }

  /** execve succeeded: modules may transform their data. */
  exec(p: VuProcess, image?: ExecImage): void {
    for (const [service, d] of p.moduleData) {
      const next = this.hooks.exec(service, d, image, p.tid);
      if (next === undefined) p.moduleData.delete(service);
      else p.moduleData.set(service, next);
    }
    if (!image || !(image.mode & SET_ID_BITS)) return;
    for (const service of this.hooks.setIdServices()) {
      if (p.moduleData.has(service)) continue;
      const next = this.hooks.exec(service, undefined, image, p.tid);
      if (next !== undefined) p.moduleData.set(service, next);
    }
  }

  /** The thread exited (reported by its pidfd). */
  exited(tid: number): void {
    const p = this.byTid.get(tid);
    this.watched.delete(tid);
    this.checked.delete(tid);
    native.setChecked(tid, false);
    if (!p) return;
    this.byTid.delete(tid);
    native.setTracked(tid, false);
    for (const [service, d] of p.moduleData) this.hooks.terminate(service, d);
  }
}

export interface ProcStatus {
  tgid: number;
  ppid: number;
  umask: number;
  /** real, effective, saved and file-system ids (the last decide file access) */
  uid: number;
  euid: number;
  suid: number;
  fsuid: number;
  gid: number;
  egid: number;
  sgid: number;
  fsgid: number;
  groups: number[];
}

/** The auxiliary vector of tid's program (new at every exec: stack addresses, AT_RANDOM...). */
function readAuxv(tid: number): Buffer | undefined {
  try {
    return fs.readFileSync(`/proc/${tid}/auxv`);
  } catch {
    return undefined;
  }
}

/** The ids of a process, as the view shows them. */
export type Credentials = Pick<ProcStatus, 'uid' | 'euid' | 'suid' | 'fsuid' | 'gid' | 'egid' | 'sgid' | 'fsgid' | 'groups'>;

/** virtual credentials (unrealuidgid): they replace what /proc says of a process' ids */
let credentialSource: ((tid: number) => Credentials | undefined) | undefined;

export function setCredentialSource(source: ((tid: number) => Credentials | undefined) | undefined): void {
  credentialSource = source;
}

/** What /proc says of tid, with the virtual credentials it has in the view (undefined once it is gone). */
export function readStatus(tid: number): ProcStatus | undefined {
  const status = readProcStatus(tid);
  const virtual = status && credentialSource?.(tid);
  return virtual ? { ...status, ...virtual } : status;
}

/** What the kernel says of tid's ids (undefined once it is gone). */
export function readProcStatus(tid: number): ProcStatus | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${tid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const fields = (name: string) => (new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(text)?.[1] ?? '').split(/\s+/).filter(Boolean).map(Number);
  const [uid = 0, euid = 0, suid = euid, fsuid = euid] = fields('Uid');
  const [gid = 0, egid = 0, sgid = egid, fsgid = egid] = fields('Gid');
  return {
    tgid: fields('Tgid')[0] ?? -1,
    ppid: fields('PPid')[0] ?? -1,
    umask: parseInt((/^Umask:\s*(\d+)/m.exec(text)?.[1] ?? '022'), 8),
    uid,
    euid,
    suid,
    fsuid,
    gid,
    egid,
    sgid,
    fsgid,
    groups: fields('Groups'),
  };
}
