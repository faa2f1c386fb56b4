/**
 * The hypervisor: starts the view, receives the notifications the native fast path hands
 * over, dispatches them to the syscall families and modules, and answers asynchronously.
 * A slow or failing module only delays (or fails, with EIO) its own syscall.
 */
import net from 'node:net';
import { native } from './native.js';
import { generateFilter, filterBytes } from './filter.js';
import { Logger, TAG_CHARS, expandTags } from './log.js';
import { Registry, type Entry } from './registry.js';
import { ModuleLoader, type Service } from './modules.js';
import { ProcessTable } from './process.js';
import { Answer, NOTIF_SIZE, SyscallCall } from './syscall.js';
import { SYSCALLS, syscallInfo, syscallNumber } from './syscalls/x86_64.js';
import { virtualSyscall } from './families/virtual.js';
import { execSyscall } from './families/exec.js';
import { credSyscall, CREDENTIAL_CHANGES } from './families/cred.js';
import { DirViews } from './path/dirviews.js';
import { Shadows } from './vfs/shadows.js';
import { isVirtualFs } from './vfs/types.js';
import { VIRTUAL_FD_RANGE } from './vfd.js';
import { mountSyscall } from './families/mount.js';
import { openSource, pathArgsOf, pathSyscall } from './families/path.js';
import { NO_PATH_TABLE, nativePathTable } from './path/native-table.js';
import { describeCall } from './describe.js';
import { currentCaller, withCaller } from './caller.js';
import { shadowKey } from './families/vfs.js';
import { OpenDevices, deviceFdSyscall } from './families/devices.js';
import { clockSyscall, type VirtualClock } from './families/clock.js';
import { Spawner, type Helper, type HelperOptions } from './helpers.js';
import { SyscallError } from './syscall.js';

export interface ViewOptions {
  /** absolute path of the program to run */
  path: string;
  /** strings, or Buffers for exact bytes */
  argv: Array<string | Buffer>;
  envp: Array<string | Buffer>;
  rcFiles: string[];
  viewName?: string;
  /** -S: every notified syscall goes to JavaScript (no native fast path) */
  noFastPath?: boolean;
  /** -x: modules' own file access is not virtualized */
  noNesting?: boolean;
  /** a device may become fd 0-2: the filter notifies the I/O calls on those (families/devices.ts) */
  stdioDevices?: boolean;
  /** RLIMIT_NOFILE soft limit the view starts with */
  nofile?: number;
  /** fds the view inherits from umvu's caller */
  keepFds?: number[];
  /** standard fds umvu's caller had closed */
  closeFds?: number[];
  /** signals ignored / blocked by umvu's caller (bit n-1 = signal n) */
  sigIgnored?: bigint;
  sigBlocked?: bigint;
}

const ACT_CONTINUE = 0;
const ACT_JS = 1;
/** decided by the native path fast path (path/native-table.ts) */
const ACT_PATH = 2;
/** JS when an fd argument is a placeholder's number (the reserved range), else continue */
const ACT_FD = 3;
/** answered by the native listener from the virtual clock (families/clock.ts) */
const ACT_CLOCK = 4;
/** per syscall number, a bit per fd argument of its filter rule (for ACT_FD) */
const FD_ARGS = new Uint8Array(1024);
for (const s of SYSCALLS) if (s.filter.kind === 'fd') for (const a of s.filter.args) FD_ARGS[s.nr] |= 1 << a;
const CTL_RECORD = 12;
const CTL_EXEC_FAILED = 3;
const CTL_ROOT_EXIT = 4;
const CTL_ALL_DONE = 5;
/** waitForView's result when the reaper vanished without reporting the end of the view */
export const VIEW_LOST = -1;

function isAnswer(a: unknown): a is Answer {
  const k = (a as Answer | undefined)?.kind;
  return (
    k === 'continue' ||
    k === 'answered' ||
    (k === 'value' && ['number', 'bigint'].includes(typeof (a as { value: unknown }).value)) ||
    (k === 'error' && Number.isInteger((a as { errno: unknown }).errno))
  );
}

export class Hypervisor {
  readonly logger = new Logger();
  readonly registry = new Registry();
  /** the view paths of directories opened on behalf of processes (path/dirviews.ts) */
  readonly dirViews = new DirViews();
  /** contents of open files of virtual file systems (vfs/shadows.ts) */
  /** open devices of modules (placeholder fds) */
  readonly devices = new OpenDevices(this);
  readonly shadows = new Shadows((message) => this.logger.printk(3, message));
  readonly modules: ModuleLoader;
  /** mounts unmounted with MNT_DETACH that are still in use, by target (families/mount.ts) */
  readonly detachedMounts = new Map<string, Entry>();
  readonly procs: ProcessTable;
  viewName = '';
  readonly serverId = process.pid;
  noNesting = false;
  /** umvu --stdio-devices: the filter notifies the I/O calls on fds 0-2 (families/devices.ts) */
  stdioDevices = false;
  private noFastPath = false;
  private controlFd = -1;
  private readableHandlers = new Map<number, () => void>();
  /** processes whose memory umvu may not read (told once on the console) */
  private uninspectable = new Set<number>();
  private spawner?: Spawner;

  constructor() {
    this.procs = new ProcessTable({
      clone: (s, d, flags) => this.hook(s, 'inherit.clone', d, () => (s.definition.inherit?.clone ? s.definition.inherit.clone(d, flags) : d)),
      exec: (s, d, image, tid) => this.hook(s, 'inherit.exec', d, () => (s.definition.inherit?.exec ? s.definition.inherit.exec(d, image, tid) : d)),
      setIdServices: () => this.modules.list().filter((s) => s.definition.inherit?.setIdPrograms),
      terminate: (s, d) => this.hook(s, 'inherit.terminate', undefined, () => s.definition.inherit?.terminate?.(d)),
    });
    this.modules = new ModuleLoader({
      registry: this.registry,
      logger: this.logger,
      isDebugEnabled: (tag, tid) => this.isDebugEnabled(tag, tid),
      processDataFor: (service) => this.processDataFor(service),
      changed: () => this.updateFastPath(),
      watchReadable: (fd, onReadable) => this.watchReadable(fd, onReadable),
      caller: currentCaller,
      syncFiles: (entry) => this.shadows.sync(entry ? shadowKey(entry, '') : ''),
      unwatchReadable: (fd) => this.unwatchReadable(fd),
      spawn: (argv, opts) => this.spawnHelper(argv, opts),
      openSource: (path, writable) => openSource(this, path, writable),
    });
    this.registry.onChange = () => this.updateFastPath();
    this.logger.onTagsChanged = () => this.updateFastPath();
  }

  isDebugEnabled(tag: string, tid: number): boolean {
    return this.logger.isGlobal(tag) || (this.procs.get(tid)?.localTags.includes(tag) ?? false);
  }

  changeLocalTags(tid: number, tags: string, add: boolean): void {
    const p = this.procs.ensure(tid);
    this.procs.adoptNewborns(p);
    const set = new Set(p.localTags);
    for (const c of expandTags(tags)) {
      if (add) set.add(c);
      else set.delete(c);
    }
    p.localTags = [...TAG_CHARS].filter((c) => set.has(c)).join('');
    this.procs.update(p);
  }

  private processDataFor(service: Service) {
    return {
      getProcessData: (tid: number) => this.procs.get(tid)?.moduleData.get(service),
      setProcessData: (tid: number, data: unknown) => {
        const p = this.procs.ensure(tid);
        this.procs.adoptNewborns(p);
        if (data === undefined) p.moduleData.delete(service);
        else p.moduleData.set(service, data);
        this.procs.update(p);
      },
    };
  }

  /** Runs a module operation, keeping the module busy (vu_rmmod: EBUSY) meanwhile. */
  async inModule<T>(service: Service, op: () => T | Promise<T>): Promise<T> {
    service.inFlight++;
    try {
      return await op();
    } finally {
      service.inFlight--;
    }
  }

  /** The module whose virtual clock is the view's: the newest loaded one that set one. */
  private get clockOwner(): Service | undefined {
    return this.modules.list().reverse().find((s) => s.clock);
  }

  /** The view's virtual clock, if a module set one (families/clock.ts). */
  get clock(): VirtualClock | undefined {
    return this.clockOwner?.clock;
  }

  /** Resolves once what processes wrote to the files of the clock's module, and closed, is handed back to it. */
  async clockSettled(): Promise<void> {
    for (const e of this.clockOwner?.entries ?? []) if (e.type === 'path') await this.shadows.caughtUp(shadowKey(e, ''));
  }

  /** Some module's exec hook wants set-user-ID programs run by any process (process.ts). */
  get setIdPrograms(): boolean {
    return this.procs.setIdServices().length > 0;
  }

  /** Some mount serves files (then path calls are resolved over the view). */
  get filesMounted(): boolean {
    return this.registry.all('path').some((e) => e.options.files);
  }

  /** Pushes the decisions the native fast path can take alone (again: something changed). */
  updateFastPath(): void {
    const actions = new Uint8Array(1024);
    for (const e of this.registry.all('sc')) actions[Number(e.key)] = ACT_JS;
    actions[syscallNumber('chroot')] = ACT_JS; // always virtual (families/path.ts)
    // (umount2 too: a mount detached while in use still answers its module's last umount2)
    if (this.modules.list().some((s) => s.definition.mount)) actions[syscallNumber('mount')] = actions[syscallNumber('umount2')] = ACT_JS;
    const entries = this.registry.all('path');
    const files = entries.some((e) => e.options.files);
    const mounts = entries.some((e) => e.options.mount);
    if (mounts) actions[syscallNumber('umount2')] = ACT_JS;
    const clock = this.clock;
    native.setClock(clock ? { ...clock, clocks: clock.clocks.reduce((bits, id) => (bits | (1 << id)) >>> 0, 0) } : null);
    // files mounted: every path call (and exec) is resolved over the view; mounts only: open
    // (/proc/mounts). The native path fast path decides what it can prove; the rest goes to JS.
    const table = files || mounts ? nativePathTable(entries, this.dirViews.root) : NO_PATH_TABLE;
    native.setPathTable(table ?? NO_PATH_TABLE); // (also closes the host directories of old mounts)
    // as root, a process may take other credentials: path calls made for it must use them
    if (files && process.geteuid?.() === 0) for (const name of CREDENTIAL_CHANGES) actions[syscallNumber(name)] = ACT_JS;
    // a virtual file system may open devices, and open ones stay after a lazy umount: the
    // calls on fds of the reserved range (and 0-2 with --stdio-devices) are JS's
    const devices = entries.some((e) => isVirtualFs(e.options.files)) || this.devices.anyOpen;
    for (const s of SYSCALLS) {
      if (actions[s.nr] === ACT_JS) continue;
      // (with a clock, every exec is traced to hide the vDSO: families/vdso.ts; a module may
      // want to see set-user-ID programs run)
      if ((files || clock || this.setIdPrograms) && s.family === 'exec') actions[s.nr] = ACT_JS;
      else if (clock && s.family === 'clock') actions[s.nr] = ACT_CLOCK;
      else if (devices && s.family === 'fd') actions[s.nr] = ACT_FD;
      else if (s.family === 'path' && (files || (mounts && (s.name === 'open' || s.name === 'openat'))))
        // getcwd: only a process with a virtual cwd or root (tracked: all its calls go to JS) differs
        actions[s.nr] = table && pathArgsOf(s.name)?.length ? ACT_PATH : table && s.name === 'getcwd' ? ACT_CONTINUE : ACT_JS;
    }
    native.setActions(actions, FD_ARGS, VIRTUAL_FD_RANGE.low, VIRTUAL_FD_RANGE.high, this.stdioDevices);
    native.setTraceAll(this.noFastPath || this.logger.isGlobal('s'));
  }

  /** Starts the view; resolves with the root process' wait status once every process of the view has exited. */
  async run(opts: ViewOptions): Promise<number> {
    this.viewName = opts.viewName ?? '';
    this.noFastPath = !!opts.noFastPath;
    this.noNesting = !!opts.noNesting;
    this.updateFastPath();
    this.stdioDevices = !!opts.stdioDevices;
    const filter = filterBytes(generateFilter({ notifyAll: this.logger.isGlobal('s'), stdioDevices: this.stdioDevices }));
    const view = native.spawnView({
      path: opts.path,
      argv: opts.argv,
      envp: opts.envp,
      rcFiles: opts.rcFiles,
      filter,
      nofile: opts.nofile,
      keepFds: opts.keepFds ?? [0, 1, 2],
      closeFds: opts.closeFds ?? [],
      sigIgnored: opts.sigIgnored ?? 0n,
      sigBlocked: opts.sigBlocked ?? 0n,
    });
    this.controlFd = view.controlFd;
    this.spawner = new Spawner(view.spawnerFd, opts.envp);
    native.startListener(view.listenerFd, () => this.drain());
    native.forwardSignals(view.rootPid);
    return this.waitForView(String(opts.argv[0]));
  }

  /**
   * Starts a helper process (a FUSE daemon...) inside the view: under its filter, stdin
   * /dev/null, stdout and stderr the view's. Rejects with a SyscallError when it cannot run.
   */
  spawnHelper(argv: string[], opts: HelperOptions = {}): Promise<Helper> {
    return this.spawner ? this.spawner.spawn(argv, opts) : Promise.reject(new SyscallError('ESRCH'));
  }

  /**
   * The root process has exited: the modules' viewEnd hooks run (last loaded first), then the
   * helpers are ended and the spawner leaves, so that the reaper can see every process gone.
   */
  private async endView(): Promise<void> {
    await this.shadows.caughtUp(); // files the command wrote just before it ended reach their modules first
    await this.runHooks('viewEnd');
    await this.spawner?.end();
  }

  /** Runs a view hook of every module, last loaded first; a failure is only logged. */
  private async runHooks(name: 'viewEnd' | 'viewGone'): Promise<void> {
    for (const s of this.modules.list().reverse()) {
      const hook = s.definition[name];
      if (!hook) continue;
      try {
        await this.inModule(s, () => hook.call(s.definition));
      } catch (e) {
        this.logger.printk(3, `umvu: module ${s.name}: ${name} failed: ${(e as Error)?.stack ?? e}`);
      }
    }
  }

  /** Asks the reaper to kill every process of the view (the view must not outlive umvu). */
  killView(): void {
    if (this.controlFd >= 0) native.killView(this.controlFd);
  }

  private waitForView(command: string): Promise<number> {
    return new Promise((resolve) => {
      const sock = new net.Socket({ fd: this.controlFd, readable: true, writable: false });
      let status = 0;
      let ending = Promise.resolve();
      let pending = Buffer.alloc(0);
      sock.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        for (; pending.length >= CTL_RECORD; pending = pending.subarray(CTL_RECORD)) {
          const type = pending.readInt32LE(0);
          const a = pending.readInt32LE(4);
          if (type === CTL_EXEC_FAILED) {
            this.logger.printk(3, `umvu: ${command}: ${native.strerror(a)}`);
          } else if (type === CTL_ROOT_EXIT) {
            status = a;
            ending = this.endView();
          } else if (type === CTL_ALL_DONE) {
            sock.removeAllListeners('close');
            // nothing written is lost: the viewEnd hooks (the spawner may have gone before they
            // ended) and open files of virtual file systems go back first
            void ending
              .then(() => this.runHooks('viewGone'))
              .then(() => this.shadows.dispose())
              .then(() => {
              this.dirViews.dispose();
              resolve(status);
            });
          }
        }
      });
      // the reaper never leaves without CTL_ALL_DONE: if it did, the view is unsupervised
      const lost = () => resolve(VIEW_LOST);
      sock.on('close', lost);
      sock.on('error', lost);
    });
  }

  private drain(): void {
    const { notifs, exited, readable } = native.take();
    for (let off = 0; off + NOTIF_SIZE <= notifs.length; off += NOTIF_SIZE) {
      void this.handle(new SyscallCall(notifs, off));
    }
    for (const tid of exited) this.procs.exited(tid);
    for (const fd of readable) {
      const handler = this.readableHandlers.get(fd);
      this.readableHandlers.delete(fd);
      if (handler) handler();
      else this.shadows.readable(fd);
    }
  }

  /** Forgets a watch (before its fd is closed: the number may be reused). */
  unwatchReadable(fd: number): void {
    this.readableHandlers.delete(fd);
  }

  /** Calls onReadable once, when fd becomes readable (a module's socket to a helper). */
  watchReadable(fd: number, onReadable: () => void): void {
    this.readableHandlers.set(fd, onReadable);
    const r = native.watchReadable(fd);
    if (r < 0) throw Object.assign(new Error(`watchReadable(${fd}): ${native.strerror(-r)}`), { errno: -r });
  }

  /** Runs a module's hook; a failing hook is logged and treated as absent. */
  private hook<T>(service: Service, what: string, fallback: T, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      this.logger.printk(3, `umvu: module ${service.name}: ${what} failed: ${(e as Error)?.stack ?? e}`);
      return fallback;
    }
  }

  private async handle(call: SyscallCall): Promise<void> {
    let answer: Answer;
    try {
      call.process = this.procs.get(call.tid) ?? (this.procs.anyTracked ? this.procs.adoptOrCheck(call.tid) : undefined);
      if (call.process?.pendingExec) this.procs.execSettles(call.process);
      if (this.isDebugEnabled('s', call.tid)) this.logger.debug('s', call.tid, describeCall(call), 1);
      answer = await withCaller(call.tid, () => this.dispatch(call));
      if (!isAnswer(answer)) throw new Error(`invalid answer ${JSON.stringify(answer)}`);
    } catch (e) {
      answer = this.failure(call, e);
    }
    try {
      this.respond(call, answer);
    } catch (e) {
      this.logger.printk(3, `umvu: ${call.name} of ${call.tid}: cannot answer ${JSON.stringify(answer)}: ${e}`);
      this.respond(call, Answer.error('EIO'));
    }
  }

  private async dispatch(call: SyscallCall): Promise<Answer> {
    // (a module's claim comes first: vunet serves the msocket virtual syscall so)
    const claim = this.registry.lookup('sc', call.nr);
    if (claim) {
      const handler = claim.data as (c: SyscallCall) => Answer | Promise<Answer>;
      this.registry.acquire(claim);
      try {
        return await this.inModule(claim.service, () => handler(call));
      } finally {
        this.registry.release(claim);
      }
    }
    if (call.nr < 0) return virtualSyscall(this, call);
    switch (syscallInfo(call.nr)?.family) {
      case 'exec':
        return execSyscall(this, call);
      case 'clock':
        return clockSyscall(this, call);
      case 'cred':
        return credSyscall(this, call);
      case 'mount':
        return mountSyscall(this, call);
      case 'path':
        return pathSyscall(this, call);
      case 'fd':
        return deviceFdSyscall(this, call);
      default:
        return Answer.continue();
    }
  }

  /**
   * A handler failed: the errno it said (a SyscallError, or a Node system error such as a
   * module's fs call failing with ENOENT), else EIO, logged: never the hypervisor.
   * Errors are recognized by shape, not class: a module may import its own copy of the core.
   */
  private failure(call: SyscallCall, e: unknown): Answer {
    const err = e as { errno?: unknown; code?: unknown; stack?: string; uninspectable?: boolean };
    if (err?.uninspectable) {
      // (syscall.ts) said once per process: its calls bypass the view
      const tgid = call.process?.tgid ?? call.tid;
      if (!this.uninspectable.has(tgid)) this.logger.printk(4, `umvu: process ${tgid} runs a program umvu may not read (execute-only): its system calls go to the host as they are`);
      this.uninspectable.add(tgid);
      return Answer.continue();
    }
    if (typeof err?.errno === 'number' && err.errno > 0) return Answer.error(err.errno);
    if (typeof err?.code === 'string' && /^E[A-Z0-9]+$/.test(err.code)) {
      try {
        return Answer.error(err.code);
      } catch {
        // not an errno code
      }
    }
    this.logger.printk(3, `umvu: ${call.name} of ${call.tid} failed: ${err?.stack ?? e}`);
    return Answer.error('EIO');
  }

  private respond(call: SyscallCall, answer: Answer): void {
    if (answer.kind === 'answered') return;
    if (answer.kind === 'continue') native.respond(call.id, 0, 0, true);
    else if (answer.kind === 'value') native.respond(call.id, answer.value, 0, false);
    else native.respond(call.id, 0, -answer.errno, false);
  }
}


