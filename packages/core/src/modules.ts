/**
 * Modules: npm packages (or plain JS files) whose default export is a ModuleDefinition. A
 * module declares what it serves by adding entries to the registry through its ModuleApi.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { MNT_DETACH, MNT_FORCE, type Entry, type EntryKey, type EntryOptions, type EntryType, type MountInfo, type Registry } from './registry.js';
import type { Answer, SyscallCall } from './syscall.js';
import { SyscallError } from './syscall.js';
import type { Logger } from './log.js';
import type { PathService } from './families/path.js';
import type { SourceFile, VirtualFs } from './vfs/types.js';
import { syscallNumber } from './syscalls/x86_64.js';
import type { Caller } from './caller.js';
import type { Helper, HelperOptions } from './helpers.js';
import { setCredentialSource, type Credentials, type ExecImage } from './process.js';
import type { VirtualClock } from './families/clock.js';

export type SyscallHandler = (call: SyscallCall) => Answer | Promise<Answer>;

/** What mount(2) passes to the module chosen by the filesystem type. */
export interface MountRequest {
  source: string;
  /** canonical absolute target */
  target: string;
  fstype: string;
  flags: number;
  /** the data string: option words that are not mount flags */
  data: string;
  call: SyscallCall;
  /** the same as the MountInfo that api.addMount() records */
  info: MountInfo;
}

export interface ModuleDefinition {
  /** the module name (vu_lsmod, vu_rmmod, and the prefix of the mount types it serves) */
  name: string;
  description: string;
  init?(api: ModuleApi): void | Promise<void>;
  /** run by vu_rmmod; throwing (e.g. SyscallError('EBUSY')) aborts the removal */
  fini?(): void | Promise<void>;
  /**
   * the view's command has exited: awaited (last loaded module first) before its helpers are
   * ended and anything else of the view's end (unmount, flush...); a failure is only logged
   */
  viewEnd?(): void | Promise<void>;
  /** every process of the view has exited (umvu is about to exit): awaited, last loaded first */
  viewGone?(): void | Promise<void>;
  /** mount(2) of a type prefixed by the module name; usually calls api.addMount() */
  mount?(req: MountRequest): void | Promise<void>;
  /** umount2(2) of one of this module's mounts, before the entry is removed */
  umount?(entry: Entry, flags: number): void | Promise<void>;
  /** an entry of this module was released for good (after umount, lazily when unused) */
  cleanup?(entry: Entry): void;
  /** per-process data inheritance (data was set with api.setProcessData) */
  inherit?: {
    /** returns the child's data (return the same object to share it) */
    clone?(data: unknown, flags: number): unknown;
    /**
     * image: the program's mode and owner, as the view shows them (when they could be read).
     * With setIdPrograms, the hook also runs for a process without data (undefined) that runs a
     * set-user-ID or set-group-ID program: then every exec in the view is looked at.
     */
    exec?(data: unknown, image: ExecImage | undefined, tid: number): unknown;
    setIdPrograms?: boolean;
    terminate?(data: unknown): void;
  };
}

/** Identity helper giving module authors type checking. */
export function defineModule(def: ModuleDefinition): ModuleDefinition {
  return def;
}

/** The per-process view a module gets: its own data slot, inherited across fork/exec. */
export interface ProcessDataAccess {
  getProcessData(tid: number): unknown;
  setProcessData(tid: number, data: unknown): void;
}

export interface ModuleApi extends ProcessDataAccess {
  readonly name: string;
  /** kernel-style log: level 0 (emerg) .. 7 (debug) */
  printk(level: number, message: string): void;
  /** debug line under an uppercase tag, shown when the tag is enabled (globally or for tid) */
  debug(tag: string, tid: number, message: string): void;
  setDebugTagName(tag: string, name: string): void;
  /** serve a system call (by name) for every process: SC entry */
  claimSyscall(name: string, handler: SyscallHandler): Entry<SyscallHandler>;
  addEntry<T>(type: EntryType, key: EntryKey, options?: EntryOptions<T>): Entry<T>;
  /**
   * registers a mount: a path entry on info.target, found by vuumount. With a file service,
   * the path calls under the target are served by it (files.redirect(mpath) -> host path).
   */
  addMount<T>(info: MountInfo, files?: PathService | VirtualFs, data?: T, match?: Pick<EntryOptions, 'prefix' | 'confirm'>): Entry<T>;
  /**
   * opens path (absolute) as the view shows it now, for the module's own I/O (its mount's
   * source): a host file, or another module's device (a file system on a partition); with
   * umvu -x, the host's path. Rejects with a SyscallError (ENOENT, ENOTBLK...).
   */
  openSource(path: string, writable: boolean): Promise<SourceFile>;
  /**
   * makes the view see other ids for processes than the kernel's (unrealuidgid): source(tid)
   * gives a process' virtual credentials, or undefined for its real ones; the core's permission
   * checks, the owners of files made in virtual file systems and FUSE requests use them
   */
  setCredentialSource(source: ((tid: number) => Credentials | undefined) | undefined): void;
  /**
   * gives the view a virtual clock (vumisctime), or takes it back (undefined): clock_gettime of
   * its clocks, gettimeofday and time read it, answered by the native listener; the programs
   * exec'd while it is set run without the vDSO (their clock reads must be system calls). The
   * newest loaded module's clock wins; a removed module's goes
   */
  setClock(clock: VirtualClock | undefined): void;
  delEntry(entry: Entry, flags?: number): void;
  /** calls onReadable once, when fd (non-blocking) becomes readable: call again to re-arm */
  watchReadable(fd: number, onReadable: () => void): void;
  /** forgets a watch (before closing fd: its number may be reused) */
  unwatchReadable(fd: number): void;
  /** the process whose syscall the module serves now (undefined outside a syscall) */
  caller(): Caller | undefined;
  /** loads another module this one builds on, unless it is loaded already */
  needModule(name: string): Promise<void>;
  /**
   * hands the module of entry (every mount's, without one) what processes wrote to its files,
   * closed or still open: before a mount of files that live elsewhere (a daemon's) ends
   */
  syncFiles(entry?: Entry): Promise<void>;
  /**
   * starts a helper process (a FUSE daemon...) inside the view, leader of its own process
   * group: stdin /dev/null, stdout and stderr the view's; rejects with a SyscallError (ENOENT...)
   * when it cannot run. The groups of helpers still running when the view's command has exited
   * and the viewEnd hooks have run get SIGTERM, then SIGKILL 5 s later.
   */
  spawn(argv: string[], opts?: HelperOptions): Promise<Helper>;
}

export class Service {
  readonly entries = new Set<Entry>();
  /** entries registered while init ran: removed by vu_rmmod itself */
  readonly initEntries = new Set<Entry>();
  moduleEntry!: Entry;
  inFlight = 0;
  api!: ModuleApi;
  /** the virtual clock it gives the view (ModuleApi.setClock) */
  clock: VirtualClock | undefined;
  constructor(
    readonly definition: ModuleDefinition,
    readonly source: string,
  ) {}
  get name(): string {
    return this.definition.name;
  }
  onEntryReleased(entry: Entry): void {
    try {
      this.definition.cleanup?.(entry);
    } catch {
      // a module's cleanup failing must not leave the core inconsistent
    }
  }
}

export interface ModuleHost {
  registry: Registry;
  logger: Logger;
  processDataFor(service: Service): ProcessDataAccess;
  isDebugEnabled(tag: string, tid: number): boolean;
  /** the set of loaded modules, or what they give the view (a clock), changed */
  changed(): void;
  watchReadable(fd: number, onReadable: () => void): void;
  caller(): Caller | undefined;
  spawn(argv: string[], opts?: HelperOptions): Promise<Helper>;
  syncFiles(entry?: Entry): Promise<void>;
  unwatchReadable(fd: number): void;
  openSource(path: string, writable: boolean): Promise<SourceFile>;
}

export class ModuleLoader {
  private services: Service[] = [];
  constructor(private host: ModuleHost) {}

  /** Loaded modules in load order. */
  list(): Service[] {
    return [...this.services];
  }

  find(name: string): Service | undefined {
    return this.services.find((s) => s.name === name);
  }

  /** vu_insmod: resolve, import, register, init. Errors: ENOENT, EINVAL, EEXIST. */
  async insmod(spec: string, permanent: boolean, callerCwd: string): Promise<Service> {
    const file = resolveModule(spec, callerCwd);
    if (!file) {
      this.host.logger.printk(3, `loading of module ${spec} failed: not found`);
      throw new SyscallError('ENOENT');
    }
    let exported: unknown;
    try {
      exported = (await import(pathToFileURL(file).href)).default;
    } catch (e) {
      this.host.logger.printk(3, `loading of module ${spec} failed: ${(e as Error).message}`);
      throw new SyscallError('EINVAL');
    }
    const def = exported as ModuleDefinition;
    if (!def || typeof def !== 'object' || typeof def.name !== 'string' || !def.name) {
      this.host.logger.printk(3, `${spec}: not a umvu module (no default export with a name)`);
      throw new SyscallError('EINVAL');
    }
    if (this.find(def.name)) {
      this.host.logger.printk(3, `module ${def.name} already loaded`);
      throw new SyscallError('EEXIST');
    }
    const service = new Service(def, file);
    service.api = this.makeApi(service);
    this.services.push(service);
    service.moduleEntry = this.host.registry.add('module', def.name, service, { permanent });
    try {
      await def.init?.(service.api);
    } catch (e) {
      this.forget(service, true);
      this.host.logger.printk(3, `module ${def.name}: init failed: ${(e as Error).message}`);
      throw e instanceof SyscallError ? e : new SyscallError('EINVAL');
    }
    for (const e of service.entries) if (e !== service.moduleEntry) service.initEntries.add(e);
    return service;
  }

  /** vu_rmmod: ENOENT if not loaded, EBUSY while permanent, mounted or in use; fini may refuse. */
  async rmmod(name: string): Promise<void> {
    const service = this.find(name);
    if (!service) throw new SyscallError('ENOENT');
    // everything is checked before fini runs: a refused rmmod changes nothing
    const { registry } = this.host;
    if (service.inFlight > 0) throw new SyscallError('EBUSY');
    if ([...service.entries].some((e) => e !== service.moduleEntry && !service.initEntries.has(e))) throw new SyscallError('EBUSY');
    for (const e of [service.moduleEntry, ...service.initEntries]) registry.checkRemovable(e);
    await service.definition.fini?.();
    this.forget(service, false);
  }

  /** Unregisters a module; its entries go lazily (an operation may still be finishing). */
  private forget(service: Service, force: boolean): void {
    const { registry } = this.host;
    this.services = this.services.filter((s) => s !== service);
    for (const e of [...service.entries]) if (!e.unhashed) registry.del(e, force ? MNT_FORCE : MNT_DETACH);
    this.host.changed();
  }

  private makeApi(service: Service): ModuleApi {
    const { registry, logger } = this.host;
    const processData = this.host.processDataFor(service);
    return {
      name: service.name,
      printk: (level, message) => logger.printk(level, message),
      debug: (tag, tid, message) => {
        if (this.host.isDebugEnabled(tag, tid)) logger.debug(tag, tid, message);
      },
      setDebugTagName: (tag, name) => logger.setTagName(tag, name),
      claimSyscall: (name, handler) => registry.add('sc', syscallNumber(name), service, { data: handler }),
      addEntry: (type, key, options) => registry.add(type, key, service, options),
      addMount: (info, files, data, match) =>
        registry.add('path', info.target, service, { ...match, mount: info, files, data, permanent: /(^|,)permanent(,|$)/.test(info.options) }),
      openSource: (path, writable) => this.host.openSource(path, writable),
      setCredentialSource: (source) => setCredentialSource(source),
      setClock: (clock) => {
        service.clock = clock;
        this.host.changed();
      },
      delEntry: (entry, flags = 0) => registry.del(entry, flags),
      watchReadable: (fd, onReadable) => this.host.watchReadable(fd, onReadable),
      caller: () => this.host.caller(),
      syncFiles: (entry) => this.host.syncFiles(entry),
      unwatchReadable: (fd) => this.host.unwatchReadable(fd),
      needModule: async (name) => {
        if (!this.find(name)) await this.insmod(name, false, process.cwd());
      },
      spawn: (argv, opts) => this.host.spawn(argv, opts),
      getProcessData: processData.getProcessData,
      setProcessData: processData.setProcessData,
    };
  }
}

/**
 * Where a module name leads, in VUOS' spirit: a path to a JS file (relative to the caller's
 * cwd), ~/.vu/modules/NAME(.js), a bundled short name (vufuse -> @vuos/vufuse), or an npm
 * package name found from the core, from the caller's cwd or in the global node_modules.
 */
export function resolveModule(spec: string, callerCwd: string): string | undefined {
  const isPath = spec.includes('/') && !spec.startsWith('@');
  if (isPath || /\.[cm]?js$/.test(spec)) {
    const file = path.resolve(callerCwd, spec);
    return fs.existsSync(file) && fs.statSync(file).isFile() ? file : undefined;
  }
  const home = os.homedir();
  for (const f of [path.join(home, '.vu/modules', spec), path.join(home, '.vu/modules', `${spec}.js`)]) {
    if (fs.existsSync(f) && fs.statSync(f).isFile()) return f;
  }
  const packages = spec.startsWith('@') || spec.includes('-') ? [spec] : [`@vuos/${spec}`, spec];
  const bases = [
    import.meta.url,
    pathToFileURL(path.join(callerCwd, 'noop.js')).href,
    pathToFileURL(path.join(path.dirname(process.execPath), '../lib/node_modules/noop.js')).href,
  ];
  for (const pkg of packages) {
    for (const base of bases) {
      const found = resolvePackage(pkg, base);
      if (found) return found;
    }
  }
  return undefined;
}

function resolvePackage(pkg: string, base: string): string | undefined {
  const require = createRequire(base);
  try {
    return require.resolve(pkg);
  } catch {
    // ESM-only packages without a "require" condition: read their package.json ourselves
    for (const dir of require.resolve.paths(pkg) ?? []) {
      const manifest = path.join(dir, pkg, 'package.json');
      if (!fs.existsSync(manifest)) continue;
      const json = JSON.parse(fs.readFileSync(manifest, 'utf8'));
      const entry = exportEntry(json.exports) ?? json.module ?? json.main ?? 'index.js';
      return path.join(dir, pkg, entry);
    }
  }
  return undefined;
}

function exportEntry(exp: unknown): string | undefined {
  if (typeof exp === 'string') return exp;
  if (exp && typeof exp === 'object') {
    const root = (exp as Record<string, unknown>)['.'] ?? exp;
    if (typeof root === 'string') return root;
    const r = root as Record<string, unknown>;
    for (const cond of ['import', 'node', 'default']) {
      const v = r[cond];
      if (typeof v === 'string') return v;
      const nested = exportEntry(v);
      if (nested) return nested;
    }
  }
  return undefined;
}
