/** What the vu_* commands share: view detection, usage and error reporting. */
import { insideView, VuError } from '@vuos/core/vulib';

export const NOT_IN_VIEW = 'This is a VUOS command. It works only inside a vuos virtual namespace';

/** Exits with usage (status 2) when not running inside umvu. */
export function requireView(usage: string): void {
  if (!insideView()) {
    process.stderr.write(`${NOT_IN_VIEW}\n${usage}`);
    process.exit(2);
  }
}

export function usageExit(usage: string, status: number): never {
  (status === 0 ? process.stdout : process.stderr).write(usage);
  process.exit(status);
}

/** perror(3) style: "name: message". */
export function perror(name: string, e: unknown): void {
  const message = e instanceof VuError ? e.message : (e as Error).message;
  process.stderr.write(`${name}: ${message}\n`);
}

/** Runs op on each name, perror()ing failures; the exit status: 0 if all succeeded, else 1. */
export function forEachName(names: string[], op: (name: string) => void): number {
  let status = 0;
  for (const name of names) {
    try {
      op(name);
    } catch (e) {
      perror(name, e);
      status = 1;
    }
  }
  return status;
}

/** Splits arguments into flags (checked against `known`) and operands; -- ends the flags. */
export function splitArgs(args: string[], known: Record<string, string>, usage: string, cmd: string) {
  const flags = new Set<string>();
  const operands: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      const f = known[a];
      if (!f) fail(cmd, `unrecognized option '${a}'`, usage);
      flags.add(f);
    } else if (a.startsWith('-') && a.length > 1) {
      for (const c of a.slice(1)) {
        const f = known[`-${c}`];
        if (!f) fail(cmd, `invalid option -- '${c}'`, usage);
        flags.add(f);
      }
    } else operands.push(a);
  }
  operands.push(...args.slice(i));
  return { flags, operands };
}

export function fail(cmd: string, message: string, usage: string): never {
  process.stderr.write(`${cmd}: ${message}\n${usage}`);
  process.exit(2);
}
