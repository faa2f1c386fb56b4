/**
 * Helper processes of modules (FUSE daemons...), started by the view's spawner process
 * (native/src/spawn.cc): they run under the view's filter, as children of its reaper, of no
 * command of the view.
 */
import net from 'node:net';
import { SyscallError } from './syscall.js';

export interface HelperOptions {
  /** default: the environment the view's command started with */
  env?: Record<string, string | undefined>;
  /** working directory, a path of the view; default: umvu's */
  cwd?: string;
}

export interface Helper {
  pid: number;
  /** resolves with the wait status when the helper ends */
  exited: Promise<number>;
}

const RECORD = 12;
const HEAD = 12;
const STARTED = 1;
const EXITED = 2;
/** helpers still running this long after their SIGTERM get a SIGKILL */
const KILL_AFTER_MS = 5000;

/** Signals the process group of a helper (the spawner made it its leader). */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // it has just ended
  }
}

export class Spawner {
  private readonly sock: net.Socket;
  /** requests in the order they were sent: the spawner answers them in that order */
  private readonly waiting: Array<{ resolve: (h: Helper) => void; reject: (e: Error) => void }> = [];
  private readonly running = new Map<number, { exited: Promise<number>; done: (status: number) => void }>();
  private buffered = Buffer.alloc(0);
  private ended = false;

  constructor(
    fd: number,
    private readonly defaultEnv: Array<string | Buffer>,
  ) {
    this.sock = new net.Socket({ fd, readable: true, writable: true });
    this.sock.on('data', (chunk: Buffer) => this.received(chunk));
    this.sock.on('error', () => this.sock.destroy());
    this.sock.on('close', () => {
      this.ended = true;
      for (const w of this.waiting.splice(0)) w.reject(new SyscallError('ESRCH'));
    });
  }

  /** Starts argv in the view; rejects with the errno when it cannot run (ENOENT...). */
  spawn(argv: string[], opts: HelperOptions = {}): Promise<Helper> {
    if (this.ended) return Promise.reject(new SyscallError('ESRCH'));
    const env = opts.env ? Object.entries(opts.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])) : this.defaultEnv;
    const strings = [opts.cwd ?? process.cwd(), ...argv, ...env].map((s) => Buffer.from(s));
    if (!argv.length || strings.some((s) => s.includes(0))) return Promise.reject(new SyscallError('EINVAL'));
    const body = Buffer.concat(strings.flatMap((s) => [s, Buffer.alloc(1)]));
    const head = Buffer.alloc(HEAD);
    head.writeInt32LE(body.length, 0);
    head.writeInt32LE(argv.length, 4);
    head.writeInt32LE(env.length, 8);
    this.sock.write(Buffer.concat([head, body]));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private received(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    for (; this.buffered.length >= RECORD; this.buffered = this.buffered.subarray(RECORD)) {
      const type = this.buffered.readInt32LE(0);
      const a = this.buffered.readInt32LE(4);
      if (type === STARTED) {
        const w = this.waiting.shift();
        if (a < 0) {
          w?.reject(new SyscallError(-a));
          continue;
        }
        let done!: (status: number) => void;
        const exited = new Promise<number>((resolve) => (done = resolve));
        this.running.set(a, { exited, done });
        w?.resolve({ pid: a, exited });
      } else if (type === EXITED) {
        this.running.get(a)?.done(this.buffered.readInt32LE(8));
        this.running.delete(a);
      }
    }
  }

  /** The view ends: SIGTERM to the helpers (their groups), SIGKILL 5 s later; then the spawner leaves. */
  async end(): Promise<void> {
    this.ended = true;
    const exits = Promise.all([...this.running.values()].map((h) => h.exited));
    for (const pid of this.running.keys()) signal(pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exits, new Promise((resolve) => (timer = setTimeout(resolve, KILL_AFTER_MS)))]);
    clearTimeout(timer);
    for (const pid of this.running.keys()) signal(pid, 'SIGKILL');
    // EOF: the spawner exits (a helper that still runs is left to the reaper)
    this.sock.destroy();
  }
}
