/** Typed surface of the umvu native addon (mechanism only; policy lives in @vuos/core). */
export interface SpawnOptions {
  path: string;
  /** strings, or Buffers for exact bytes */
  argv: Array<string | Buffer>;
  envp: Array<string | Buffer>;
  rcFiles: string[];
  /** classic BPF program: 8 bytes per instruction */
  filter: Buffer;
  /** fds the view inherits (node marks all fds close-on-exec, inherited ones included) */
  keepFds?: number[];
  /** standard fds to close (umvu's caller had them closed) */
  closeFds?: number[];
  /** signals ignored / blocked in umvu's caller (bit n-1 = signal n) */
  sigIgnored?: bigint;
  sigBlocked?: bigint;
  /** RLIMIT_NOFILE soft limit for the view (node raises its own) */
  nofile?: number;
}
export interface SpawnedView {
  reaperPid: number;
  rootPid: number;
  listenerFd: number;
  controlFd: number;
  /** the spawner's socket: helper processes of modules are started in the view through it */
  spawnerFd: number;
}
export function spawnView(opts: SpawnOptions): SpawnedView;
export function killView(controlFd: number): boolean;
/** Signals sent to this process by others are forwarded to rootPid. */
export function forwardSignals(rootPid: number): void;
/** Ends this process by sig, without a core dump. */
export function dieBySignal(sig: number): never;
export function startListener(listenerFd: number, onWake: () => void): void;
export function take(): { notifs: Buffer; exited: number[]; readable: number[] };
export function respond(id: bigint, val: number | bigint, error: number, cont: boolean): number;
export function idValid(id: bigint): boolean;
export function addFd(id: bigint, srcFd: number, targetFd: number, opts?: { send?: boolean; cloexec?: boolean }): number;
/**
 * Fast-path action per syscall number (0 continue, 1 JS, 2 path fast path, 3 JS when an fd
 * argument, a bit per argument in fdArgs, is in the reserved range vfdLow..vfdHigh, or 0-2
 * with stdioDevices, 4 the virtual clock: clock_gettime, gettimeofday and time only).
 */
export function setActions(actions: Uint8Array, fdArgs: Uint8Array, vfdLow: number, vfdHigh: number, stdioDevices: boolean): void;
export function setTracked(tid: number, tracked: boolean): void;
export function setTraceAll(on: boolean): void;
/** tid was checked not to descend from a tracked process (its first notification went to JS) */
export function setChecked(tid: number, checked: boolean): void;
export function watchExit(tid: number, isThread: boolean): number;
/** Reports fd once in take().readable when it becomes readable (call again to re-arm); 0 or -errno. */
export function watchReadable(fd: number): number;
export function readMem(pid: number, addr: bigint, len: number): Buffer;
/** A SOCK_SEQPACKET pair (close-on-exec): [supervisor's end (non-blocking), peer's end, largest message either end can send]. */
export function seqpacketPair(): [number, number, number];
/** Every message queued on fd now; eof when the peer closed; error: an errno (0: none). */
export function recvPackets(fd: number): { packets: Buffer[]; eof: boolean; error: number };
/** Sends the buffers as one message without blocking: bytes sent or -errno (-EAGAIN: full). */
export function sendPacket(fd: number, parts: Buffer[]): number;
export function readString(pid: number, addr: bigint, max?: number): string | null;
export function writeMem(pid: number, addr: bigint, data: Buffer): number;
/**
 * The device I/O fast path (devices.cc): read/write/pread64/pwrite64 on a placeholder whose
 * socket has inode ino are served by the listener: `size` bytes of host fd `fd` from `offset`.
 */
export function deviceAdd(ino: number, fd: number, offset: number, size: number, access: number, readOnly: boolean): void;
export function deviceRemove(ino: number): void;
/** The placeholder's file position (set to pos first, if given); -1 if ino is unknown. */
export function devicePos(ino: number, pos?: number): number;
export function deviceReadOnly(ino: number, readOnly: boolean): void;
/**
 * A network namespace for a vunet stack (netstack.cc): a holder process that made it, with
 * `lo` up and `vde0` (a tap, or a veth whose frames `dev` carries); or why it could not.
 */
export function netstackStart(opts: { newUserNs: boolean; forceVeth: boolean }):
  | { pid: number; ctl: number; dev: number; kind: 'tap' | 'veth' }
  | { errno: number; step: string };
/** A socket made in the stack's namespace (close-on-exec), or -errno. */
export function netstackSocket(ctl: number, domain: number, type: number, protocol: number): number;
/** Joins the frames of dev to the VDE network at url (libvdeplug): a pump id; throws when it cannot. */
export function netstackPump(dev: number, url: string): number;
export function netstackPumpStop(id: number): void;
/** Unmaps the image files no open device uses (kept for the next open of the same image). */
export function dropUnusedMappings(): void;
/** pread(fd, len at pos) into pid's memory at addr: bytes copied (fewer at the file's end) or -errno. */
export function fileToMem(pid: number, addr: bigint, len: number, fd: number, pos: number): number;
/** pid's memory at addr (len bytes) pwritten to fd at pos: bytes copied or -errno. */
export function memToFile(pid: number, addr: bigint, len: number, fd: number, pos: number): number;
export function syscall(nr: number, ...args: Array<number | bigint | Buffer | string | null | undefined>): number;
export function strerror(errno: number): string;
/** Replaces the calling process; returns the errno only when execve failed. */
export function execve(path: string, argv: string[], envp: string[], keepFds?: number[]): number;
/**
 * The call redirect (ptrace.cc): answers the pending call `id` (syscall origNr) of `tid` and
 * makes the thread issue syscall `nr` with `args` instead (or restart origNr, if a signal
 * comes first): values, strings (placed below its stack pointer), or
 * NULL-terminated pointer arrays of strings and kept pointers. Resolves 0 once the notification
 * is answered, or -errno when the thread cannot be traced (the notification is still pending).
 */
export function reissue(id: bigint, tid: number, origNr: number, nr: number, args: Array<bigint | number | string | Array<string | bigint>>): Promise<number>;
/**
 * The virtual clock of the fast path (clock.cc), or none (null): clock_gettime of the clock ids
 * in `clocks` (bit n: id n), gettimeofday and time (when CLOCK_REALTIME is one) read
 * (real - base) * frequency + base + offset, in ns since the epoch.
 */
export function setClock(clock: { clocks: number; base: bigint; frequency: number; offset: bigint } | null): void;
/** Clock id read now (or its time `real`) transformed as setClock's clocks are (ns); throws if it cannot be read. */
export function clockTime(clockId: number, base: bigint, frequency: number, offset: bigint, real?: bigint): bigint;
/**
 * Answers the pending exec `id` of `tid` with CONTINUE, and makes the program it starts overlook
 * the vDSO (vdso.cc). Resolves 0 once the exec succeeded (the program runs without the vDSO),
 * 1 once it failed (the caller has its errno), 2 if the thread died; -errno when the thread
 * cannot be handled (EPERM: already traced; EXDEV: not its process' leader): the notification
 * is then still pending.
 */
export function execHidingVdso(id: bigint, tid: number): Promise<number>;
/** One path argument of a syscall (argument indexes; -1: none). */
export interface NativePathArg {
  arg: number;
  /** dirfd argument; -1: relative paths start at the cwd */
  dirfd: number;
  /** flags argument deciding whether the last symlink is followed; -1: `follow` */
  flags: number;
  follow: boolean;
  /** follow unless this bit is set in flags (else: only if followBit is set) */
  nofollow?: number;
  followBit?: number;
  /** flags argument whose AT_EMPTY_PATH allows an empty path; -1: none */
  emptyFlags: number;
}
/** An operation the listener may perform on the host tree of a pure redirect (argument indexes). */
export type NativePathOp =
  | { kind: 'stat'; out: number }
  | { kind: 'statx'; flags: number; mask: number; out: number }
  | { kind: 'access'; mode: number; flags: number }
  | { kind: 'readlink'; out: number; size: number }
  | { kind: 'open'; flags: number }
  | { kind: 'getxattr'; name: number; out: number; size: number };
export interface NativePathTable {
  /** every path entry: view path of its mount point; host: the host directory of a pure prefix redirect */
  mounts: Array<{ path: string; host?: string; namePrefix?: boolean }>;
  /**
   * host directories standing for view directories (what mounts serve, listings): relative
   * paths from a base under one go to JS, but single names when singleNameOk (`..` only below its top)
   */
  hostDirs: Array<{ prefix: string; singleNameOk: boolean }>;
  calls: Array<{ nr: number; paths: NativePathArg[]; op?: NativePathOp }>;
  /** the reserved range of virtual fds */
  vfdLow: number;
  vfdHigh: number;
  /** calls about an fd itself (AT_EMPTY_PATH) go to JS: some fds stand for virtual files */
  fdStatToJs?: boolean;
}
/** The data of the native path fast path (syscalls marked ACT_PATH = 2 in setActions). */
export function setPathTable(table: NativePathTable): void;
