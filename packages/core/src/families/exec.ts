/**
 * execve/execveat. The kernel runs every program it can find by itself (CONTINUE; while the
 * view has a virtual clock, the program is made to overlook the vDSO: vdso.ts). A program
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
import { native } from '../native.js';
import { errnoName } from '../errno.js';
import { isVirtualFs } from '../vfs/types.js';
import { resolveText, serviceOf, type ViewPath } from './path.js';
import { isReissued, reissue } from './reissue.js';
import { continueExec } from './vdso.js';
import { markOwnCredentials } from './cred.js';
import { memfdWith } from '../vfs/memfd.js';
import { SET_ID_BITS, type ExecImage } from '../process.js';
import { AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, S_IFMT, S_IFREG } from '../linux.js';

/** the kernel's limits for `#!` lines and nested interpreters */
const BINPRM_BUF_SIZE = 256;
const MAX_INTERPRETERS = 4;
const MAX_ARGV = 1 << 17;
const SYS_execve = 59;


/**
 * What to run: a host path, and the argv head that replaces the caller's argv[0] (strings, or
 * pointers kept from the caller's memory); the caller's argv[1..] follow it.
 */
interface Plan {
  path: string;
  argvHead: Array<string | bigint>;
}

/** tid -> the program its reissued exec runs, as the view shows it */
const reissuedImages = new Map<number, ExecImage | undefined>();

export async function execSyscall(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  const at = call.name === 'execveat';
  const pathArg = at ? 1 : 0;
  const text = call.args[pathArg] === 0n ? '' : call.readString(pathArg);
  if (isReissued(call, text)) {
    const image = reissuedImages.get(call.tid);
    reissuedImages.delete(call.tid);
    return proceed(hv, call, image);
  }
  const flags = at ? call.int(4) : 0;
  const dirfd = at ? call.int(0) : AT_FDCWD;
  if (!hv.filesMounted && call.process?.vcwd === undefined && call.process?.root === undefined) return proceed(hv, call, hostImage(hv, call, text, dirfd));
  if (at && text === '' && flags & AT_EMPTY_PATH) return proceed(hv, call, hostImage(hv, call, text, dirfd)); // fexecve: the fd is real
  const file = await resolveText(hv, call, text, { dirfd, follow: !(flags & AT_SYMLINK_NOFOLLOW) });
  if ('error' in file) {
    if (!file.virtual) return proceed(hv, call);
    throw file.error;
  }
  // as root, a setuid or setgid program takes other credentials (families/cred.ts)
  if (process.geteuid?.() === 0 && file.exists && (file.mode ?? 0) & 0o6000) markOwnCredentials(hv, call.tid);
  if (!file.virtual) return proceed(hv, call, hostImage(hv, call, text, dirfd));
  const argv = argvPointers(call, call.args[at ? 2 : 1]);
  const plan = await planExec(hv, call, file, text, argv.slice(0, 1), 0);
  // (a script's set-user-ID bit means nothing: the kernel takes its interpreter's)
  if ((call.process?.tracked || hv.setIdPrograms) && plan.argvHead.length === 1) reissuedImages.set(call.tid, await viewImage(file));
  const answer = await reissue(hv, call, SYS_execve, [plan.path, [...plan.argvHead, ...argv.slice(1)], call.args[at ? 3 : 2]], plan.path);
  if (answer.kind !== 'answered') reissuedImages.delete(call.tid);
  return answer;
}

/**
 * The exec goes ahead as the caller wrote it (vdso.ts); image: the program it runs, as the view
 * shows it. The modules' exec hooks run once it is known to have succeeded
 * (ProcessTable.execSettles).
 */
function proceed(hv: Hypervisor, call: SyscallCall, image?: ExecImage): Promise<Answer> {
  // a set-user-ID program is a module's business even for a process it knows nothing of yet
  const p = call.process?.tracked || (image && image.mode & SET_ID_BITS) ? hv.procs.ensure(call.tid) : undefined;
  if (p) {
    hv.procs.execStarts(p, image);
    hv.procs.update(p);
  }
  return continueExec(hv, call);
}

/**
 * The mode and owner of the program a process execs from the host (for its modules' exec
 * hooks: a tracked process', or any with setIdPrograms): a regular, executable file that is no
 * `#!` script (whose set-user-ID bit the kernel ignores).
 */
function hostImage(hv: Hypervisor, call: SyscallCall, text: string, dirfd: number): ExecImage | undefined {
  if (!call.process?.tracked && !hv.setIdPrograms) return undefined;
  const base = text.startsWith('/') ? '' : dirfd === AT_FDCWD ? `/proc/${call.tid}/cwd/` : `/proc/${call.tid}/fd/${dirfd}${text ? '/' : ''}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(base + text, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    const head = Buffer.alloc(2);
    if (!st.isFile() || !(st.mode & 0o111) || (fs.readSync(fd, head, 0, 2, 0) === 2 && head.toString() === '#!')) return undefined;
    return { mode: st.mode, uid: st.uid, gid: st.gid };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The mode and owner of a program stored in a mount, as the view shows them. */
async function viewImage(file: ViewPath): Promise<ExecImage | undefined> {
  const files = file.entry && serviceOf(file.entry);
  if (!isVirtualFs(files)) {
    try {
      const st = fs.statSync(file.host);
      return { mode: st.mode, uid: st.uid, gid: st.gid };
    } catch {
      return undefined;
    }
  }
  const st = await files.lstat(file.mpath!);
  return st ? { mode: st.mode, uid: st.uid ?? 0, gid: st.gid ?? 0 } : undefined;
}

/**
 * The checks the kernel makes before loading (ENOENT, EACCES), then what to run: the file
 * itself; for a script its interpreter with argv = interpreter, optional argument, the script's
 * name as given, then the rest; after chroot, for a dynamic ELF the dynamic loader of the new
 * root, which loads the program and its libraries through the process' (virtual) root.
 */
async function planExec(hv: Hypervisor, call: SyscallCall, file: ViewPath, name: string, head: Array<string | bigint>, depth: number): Promise<Plan> {
  if (!file.exists) throw new SyscallError('ENOENT');
  const program = await programOf(hv, call, file);
  const header = program.header;
  const script = parseShebang(header);
  const root = call.process?.root;
  if (!script) {
    const loader = root !== undefined ? elfInterpreter(header, program.read) : undefined;
    if (loader === undefined) return { path: program.kernelPath(), argvHead: head };
    const ld = await resolveText(hv, call, loader, { dirfd: AT_FDCWD, follow: true });
    if ('error' in ld) throw ld.error;
    if (!ld.exists) throw new SyscallError('ENOENT');
    const inRoot = file.path.slice(root!.length) || '/';
    return { path: (await programOf(hv, call, ld)).kernelPath(), argvHead: [loader, '--argv0', head[0] ?? name, inRoot, ...head.slice(1)] };
  }
  if (depth >= MAX_INTERPRETERS) throw new SyscallError('ELOOP');
  const argvHead = [script.interpreter, ...(script.arg !== undefined ? [script.arg] : []), name, ...head.slice(1)];
  const interp = await resolveText(hv, call, script.interpreter, { dirfd: AT_FDCWD, follow: true });
  if ('error' in interp) throw interp.error;
  // a real interpreter: the kernel does the rest (nested real scripts included)
  if (!interp.virtual && root === undefined) return { path: interp.path, argvHead };
  return planExec(hv, call, interp, script.interpreter, argvHead, depth + 1);
}

/** An executable as exec needs it: the kernel's checks passed, its header, a path the kernel can load. */
interface Program {
  header: Buffer;
  /** reads len bytes at pos */
  read(pos: number, len: number): Buffer;
  kernelPath(): string;
}

/**
 * A host file is loaded from its host path; a file of a virtual file system is copied into a
 * memfd given to the caller (close-on-exec: the kernel opens it before the exec closes it).
 */
async function programOf(hv: Hypervisor, call: SyscallCall, file: ViewPath): Promise<Program> {
  const vfs = file.entry && serviceOf(file.entry);
  if (isVirtualFs(vfs)) {
    const st = await vfs.lstat(file.mpath!);
    if (!st) throw new SyscallError('ENOENT');
    if ((st.mode & S_IFMT) !== S_IFREG || (st.mode & 0o111) === 0) throw new SyscallError('EACCES');
    const read = await vfs.read(file.mpath!);
    const content = Buffer.isBuffer(read) ? read : Buffer.concat(read);
    return {
      header: content.subarray(0, BINPRM_BUF_SIZE),
      read: (pos, len) => content.subarray(pos, pos + len),
      kernelPath: () => `/proc/self/fd/${injectCopy(call, content)}`,
    };
  }
  try {
    if (!fs.statSync(file.host).isFile()) throw new SyscallError('EACCES');
    fs.accessSync(file.host, fs.constants.X_OK);
    const read = (pos: number, len: number) => {
      const fd = fs.openSync(file.host, 'r');
      try {
        const buf = Buffer.alloc(len);
        return buf.subarray(0, fs.readSync(fd, buf, 0, len, pos));
      } finally {
        fs.closeSync(fd);
      }
    };
    return { header: read(0, BINPRM_BUF_SIZE), read, kernelPath: () => file.host };
  } catch (e) {
    throw e instanceof SyscallError ? e : new SyscallError('EACCES');
  }
}

/** A close-on-exec memfd holding content, added to the caller's fds: its number. */
function injectCopy(call: SyscallCall, content: Buffer): number {
  const fd = memfdWith('umvu-exec', content);
  try {
    const n = native.addFd(call.id, fd, -1, { cloexec: true });
    if (n < 0) throw new SyscallError(errnoName(-n));
    return n;
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

/** The PT_INTERP of a 64-bit little-endian ELF file (its dynamic loader), if any. */
function elfInterpreter(header: Buffer, read: Program['read']): string | undefined {
  const ELFCLASS64 = 2;
  const PT_INTERP = 3;
  if (header.length < 64 || header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== ELFCLASS64 || header[5] !== 1) return undefined;
  const phentsize = header.readUInt16LE(0x36);
  const table = read(Number(header.readBigUInt64LE(0x20)), phentsize * header.readUInt16LE(0x38));
  for (let off = 0; off + phentsize <= table.length; off += phentsize) {
    if (table.readUInt32LE(off) !== PT_INTERP) continue;
    const text = read(Number(table.readBigUInt64LE(off + 8)), Number(table.readBigUInt64LE(off + 32)));
    return text.toString('latin1').replace(/\0.*$/s, '');
  }
  return undefined;
}

/** The caller's argv pointers (the strings stay where they are). */
function argvPointers(call: SyscallCall, argv: bigint): bigint[] {
  if (argv === 0n) return [];
  const out: bigint[] = [];
  for (let at = argv; out.length < MAX_ARGV; ) {
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
