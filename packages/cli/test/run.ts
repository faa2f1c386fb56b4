/** Runs umvu and the vu_* commands from this checkout, as a user would from a shell. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const UMVU = path.join(ROOT, 'packages/cli/bin/umvu');
export const BIN = path.join(ROOT, 'packages/cli/bin');
export const EXAMPLE_MODULE = path.join(ROOT, 'packages/core/examples/vuhostname.js');

export interface Result {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** Environment with the commands in PATH and no rc files of the machine's user. */
export function testEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${BIN}:${process.env.PATH}`, ...extra };
}

export function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): Result {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: testEnv(), timeout: 60000, ...opts });
  if (r.error) throw r.error;
  return { stdout: String(r.stdout), stderr: String(r.stderr), status: r.status };
}

/** umvu -N (no rc files) running a bash script. */
export function umvuBash(script: string, umvuArgs: string[] = [], opts: SpawnSyncOptions = {}): Result {
  return run(UMVU, ['-N', ...umvuArgs, 'bash', '-c', script], opts);
}

const created: string[] = [];
process.on('exit', () => created.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A scratch directory, removed when the test run ends. */
export function tmpdir(prefix = 'umvu-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(d);
  return d;
}

/** the sections of a view's stdout that the script starts with `echo "== NAME"` */
export function sections(out: string): Record<string, string> {
  const parts: Record<string, string> = {};
  for (const part of out.split(/^== /m).slice(1)) {
    const nl = part.indexOf('\n');
    parts[part.slice(0, nl)] = part.slice(nl + 1);
  }
  return parts;
}
