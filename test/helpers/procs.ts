/** Polling and /proc helpers shared by the end-to-end tests. */
import fs from 'node:fs';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `test` until it returns true. */
export async function until(what: string, test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Pids whose command line is exactly argv. */
export function findProcesses(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/cmdline`, 'latin1') === want) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The state letter of a process (R, S, T, Z...), or undefined once it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}
