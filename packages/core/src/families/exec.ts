/**
 * execve/execveat. The kernel runs every program it can find by itself (CONTINUE). A program
 * stored in a mount, or named relative to a virtual cwd, is not where the kernel would look:
 * the caller is made to reissue the call (reissue.ts) on the file's host path.
 * A `#!` script in a mount runs its interpreter (which may be in a mount too) with the argv the
 * kernel builds for scripts. A file that is neither ELF nor script fails with ENOEXEC as
 * natively, and execvp/sh then run it with /bin/sh by its view path. Modules transform their
 * per-process data as the exec happens (clone and fork are not notified: see process.ts).
 */
import fs from 'node:fs';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';
import { resolveText, type ViewPath } from './path.js';
import { isReissued, reissue } from './reissue.js';

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
/** the kernel's limits for `#!` lines and nested interpreters */
const BINPRM_BUF_SIZE = 256;
const MAX_INTERPRETERS = 4;
const MAX_ARGV = 1 << 17;
const SYS_execve = 59;


/** What to run: a host path, and the argv head replacing the caller's argv[0] (scripts). */
interface Plan {
  path: string;
  argvHead?: string[];
}

export async function execSyscall(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  const at = call.name === 'execveat';
  const pathArg = at ? 1 : 0;
  const text = call.args[pathArg] === 0n ? '' : call.readString(pathArg);
  if (isReissued(call, text)) return proceed(hv, call);
  const flags = at ? call.int(4) : 0;
  if (!hv.filesMounted && call.process?.vcwd === undefined) return proceed(hv, call);
  if (at && text === '' && flags & AT_EMPTY_PATH) return proceed(hv, call); // fexecve: the fd is real
  const file = resolveText(hv, call, text, { dirfd: at ? call.int(0) : AT_FDCWD, follow: !(flags & AT_SYMLINK_NOFOLLOW) });
  if (!file.virtual) return proceed(hv, call);
  if ('error' in file) throw file.error;
  const plan = planExec(hv, call, file, text, undefined, 0);
  const argvPointer = call.args[at ? 2 : 1];
  const argv = plan.argvHead ? [...plan.argvHead, ...argvTail(call, argvPointer)] : argvPointer;
  return reissue(hv, call, SYS_execve, [plan.path, argv, call.args[at ? 3 : 2]], plan.path);
}

/** The exec goes ahead as the caller wrote it. */
function proceed(hv: Hypervisor, call: SyscallCall): Answer {
  const p = call.process;
  if (p?.tracked) {
    hv.procs.exec(p);
    hv.procs.update(p);
  }
  return Answer.continue();
}

/**
 * The checks the kernel makes before loading (ENOENT, EACCES), then what to run: the file
 * itself, or for a script its interpreter with argv = interpreter, optional argument, the
 * script's name as given, then the rest.
 */
function planExec(hv: Hypervisor, call: SyscallCall, file: ViewPath, name: string, head: string[] | undefined, depth: number): Plan {
  if (!file.exists) throw new SyscallError('ENOENT');
  let header: Buffer;
  try {
    if (!fs.statSync(file.host).isFile()) throw new SyscallError('EACCES');
    fs.accessSync(file.host, fs.constants.X_OK);
    header = readHeader(file.host);
  } catch (e) {
    throw e instanceof SyscallError ? e : new SyscallError('EACCES');
  }
  const script = parseShebang(header);
  if (!script) return { path: file.host, argvHead: head };
  if (depth >= MAX_INTERPRETERS) throw new SyscallError('ELOOP');
  const argvHead = [script.interpreter, ...(script.arg !== undefined ? [script.arg] : []), name, ...(head?.slice(1) ?? [])];
  const interp = resolveText(hv, call, script.interpreter, { dirfd: AT_FDCWD, follow: true });
  if ('error' in interp) throw interp.error;
  // a real interpreter: the kernel does the rest (nested real scripts included)
  if (!interp.virtual) return { path: interp.path, argvHead };
  return planExec(hv, call, interp, script.interpreter, argvHead, depth + 1);
}

function readHeader(host: string): Buffer {
  const fd = fs.openSync(host, 'r');
  try {
    const buf = Buffer.alloc(BINPRM_BUF_SIZE);
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** `#!interpreter [one argument]` as the kernel parses it (binfmt_script); undefined if not a script. */
export function parseShebang(header: Buffer): { interpreter: string; arg?: string } | undefined {
  if (header[0] !== 0x23 || header[1] !== 0x21) return undefined;
  const nl = header.indexOf(0x0a);
  // a line longer than the buffer must not cut the interpreter's name
  const line = header.subarray(2, nl < 0 ? header.length : nl).toString('latin1').replace(/\0.*$/s, '');
  const m = /^[ \t]*([^ \t]+)(?:[ \t]+(.*?))?[ \t]*$/s.exec(line);
  if (!m || (nl < 0 && m[2] === undefined && header.length === BINPRM_BUF_SIZE)) throw new SyscallError('ENOEXEC');
  return { interpreter: m[1], arg: m[2] === undefined || m[2] === '' ? undefined : m[2] };
}

/** The caller's argv[1..] pointers (strings stay where they are). */
function argvTail(call: SyscallCall, argv: bigint): bigint[] {
  if (argv === 0n) return [];
  const out: bigint[] = [];
  for (let at = argv + 8n; out.length < MAX_ARGV; ) {
    const len = 4096 - Number(at % 4096n); // never past a page: the next one may be unmapped
    const chunk = call.readMem(at, len);
    at += BigInt(len);
    for (let i = 0; i + 8 <= len; i += 8) {
      const p = chunk.readBigUInt64LE(i);
      if (p === 0n) return out;
      out.push(p);
    }
  }
  throw new SyscallError('E2BIG');
}
