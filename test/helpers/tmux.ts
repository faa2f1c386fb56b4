/**
 * A terminal for interactive tests: a private tmux server (its own socket, no config file)
 * with one session whose pane runs the given command. Screen contents are polled; nothing
 * waits a fixed time.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { sleep } from './procs.js';

export class Terminal {
  readonly socket: string;
  private socketPath = '';
  constructor(
    name: string,
    readonly session = 'main',
  ) {
    this.socket = `vuos-e2e-${name}-${process.pid}`;
  }

  tmux(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', TERM: 'xterm', HOME: process.env.HOME ?? '/' } });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Starts the session running `command` (a shell command line) in a 160x40 pane. */
  start(command: string): void {
    const r = this.tmux('new-session', '-d', '-s', this.session, '-x', '160', '-y', '40', command);
    if (r.status !== 0) throw new Error(`tmux new-session failed: ${r.stderr}`);
    this.socketPath = this.tmux('display-message', '-p', '#{socket_path}').stdout.trim();
  }

  /** Types text literally (no Enter). */
  type(text: string): void {
    this.tmux('send-keys', '-t', this.session, '-l', text);
  }

  /** Sends key names: Enter, C-c, C-z ... */
  keys(...names: string[]): void {
    this.tmux('send-keys', '-t', this.session, ...names);
  }

  /** Types a line and presses Enter. */
  line(text: string): void {
    this.type(text);
    this.keys('Enter');
  }

  screen(): string {
    return this.tmux('capture-pane', '-p', '-J', '-t', this.session, '-S', '-500').stdout;
  }

  alive(): boolean {
    return this.tmux('has-session', '-t', this.session).status === 0;
  }

  /** The pid of the process the pane runs (the command given to start()). */
  panePid(): number {
    return Number(this.tmux('display-message', '-p', '-t', this.session, '#{pane_pid}').stdout.trim());
  }

  /** Polls the screen until `test` accepts it; throws with the screen contents on timeout. */
  async waitFor(what: string, test: (screen: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    let s = '';
    for (;;) {
      s = this.screen();
      if (test(s)) return s;
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; screen:\n${s}`);
      await sleep(50);
    }
  }

  /** Ends the server (and with it the session) and removes its socket file. */
  kill(): void {
    this.tmux('kill-server');
    if (this.socketPath.includes('vuos-e2e-')) fs.rmSync(this.socketPath, { force: true });
  }
}

export { sleep, until, findProcesses, processState } from './procs.js';
