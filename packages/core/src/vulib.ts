/**
 * The user-side library (VUOS' vulib.h): wrappers over the virtual syscalls for the vu_*
 * commands and for programs that want to talk to umvu. Outside a view every call fails with
 * ENOSYS. Kept free of the hypervisor's code so that the commands start fast.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as NativeApi from '@vuos/native';

const native: typeof NativeApi = createRequire(import.meta.url)('@vuos/native');

export const VirtualSyscall = {
  insmod: -1,
  rmmod: -2,
  lsmod: -3,
  vuctl: -4,
  msocket: -5,
} as const;

export const VuCtl = {
  GETINFO: 1,
  SETNAME: 2,
  GET_DEBUGTAGS: 3,
  ADD_DEBUGTAGS: 4,
  DEL_DEBUGTAGS: 5,
  GET_DEBUGTAGNAME: 6,
  SET_DEBUGCOLOR: 7,
} as const;

/** The debug tags: uppercase for modules, lowercase for the core. */
export const TAG_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_01234abcdefghijklmnopqrstuvwxyz56789';

/** sizeof(struct vu_info): struct utsname (6 x 65) + serverid[65] + name[65] */
export const VU_INFO_SIZE = 6 * 65 + 65 + 65;

/** A failed call: errno and the C library's message for it. */
export class VuError extends Error {
  constructor(readonly errno: number) {
    super(native.strerror(errno));
  }
}

function check(r: number): number {
  if (r < 0) throw new VuError(-r);
  return r;
}

export interface VuInfo {
  sysname: string;
  nodename: string;
  release: string;
  version: string;
  machine: string;
  domainname: string;
  serverid: string;
  name: string;
}

/** Whether this process runs inside umvu. */
export function insideView(): boolean {
  return native.syscall(VirtualSyscall.vuctl, VuCtl.GETINFO, 0) === 0;
}

export function getInfo(): VuInfo {
  const buf = Buffer.alloc(VU_INFO_SIZE);
  check(native.syscall(VirtualSyscall.vuctl, VuCtl.GETINFO, buf));
  const field = (i: number) => {
    const f = buf.subarray(i * 65, i * 65 + 65);
    return f.subarray(0, f.indexOf(0) < 0 ? 65 : f.indexOf(0)).toString();
  };
  return {
    sysname: field(0),
    nodename: field(1),
    release: field(2),
    version: field(3),
    machine: field(4),
    domainname: field(5),
    serverid: field(6),
    name: field(7),
  };
}

export function setName(name: string): void {
  check(native.syscall(VirtualSyscall.vuctl, VuCtl.SETNAME, name));
}

export function insmod(name: string, permanent = false): void {
  check(native.syscall(VirtualSyscall.insmod, name, permanent ? 1 : 0));
}

export function rmmod(name: string): void {
  check(native.syscall(VirtualSyscall.rmmod, name));
}

/** "name: description" lines of the loaded modules, in load order. */
export function lsmod(): string {
  const size = check(native.syscall(VirtualSyscall.lsmod, null, 0));
  const buf = Buffer.alloc(size);
  check(native.syscall(VirtualSyscall.lsmod, buf, size));
  return buf.subarray(0, size - 1).toString();
}

export function getDebugTags(local: boolean): string {
  const buf = Buffer.alloc(128);
  const n = check(native.syscall(VirtualSyscall.vuctl, VuCtl.GET_DEBUGTAGS, buf, buf.length, local ? 1 : 0));
  return buf.subarray(0, n).toString();
}

export function addDebugTags(tags: string, local: boolean): void {
  check(native.syscall(VirtualSyscall.vuctl, VuCtl.ADD_DEBUGTAGS, tags, local ? 1 : 0));
}

export function delDebugTags(tags: string, local: boolean): void {
  check(native.syscall(VirtualSyscall.vuctl, VuCtl.DEL_DEBUGTAGS, tags, local ? 1 : 0));
}

export function getDebugTagName(tag: string): string {
  const buf = Buffer.alloc(64);
  const n = check(native.syscall(VirtualSyscall.vuctl, VuCtl.GET_DEBUGTAGNAME, tag.charCodeAt(0), buf, buf.length));
  return buf.subarray(0, n).toString();
}

export function setDebugColor(spec: string): void {
  check(native.syscall(VirtualSyscall.vuctl, VuCtl.SET_DEBUGCOLOR, spec));
}

/** The msocket virtual syscall: type 0 (SOCK_DEFAULT) makes the stack at path the default for domain (0: all). */
export function msocket(path: string | null, domain: number, type: number, protocol: number): number {
  return check(native.syscall(VirtualSyscall.msocket, path, domain, type, protocol));
}

/** mount(2) and umount2(2), as vumount/vuumount call them. */
export function mount(source: string, target: string, fstype: string, flags: number, data: string): void {
  check(native.syscall(165, source, target, fstype, flags, data));
}

export function umount2(target: string, flags: number): void {
  check(native.syscall(166, target, flags));
}

export const strerror = native.strerror;

/** execvp(3): runs file (searched in PATH) in place of this process; returns only on failure. */
export function execvp(file: string, argv: string[], env: NodeJS.ProcessEnv = process.env): VuError {
  const envp = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const dirs = file.includes('/') ? [''] : (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':');
  const keep = inheritedFds();
  let err = 2; // ENOENT
  for (const dir of dirs) {
    const candidate = dir === '' && file.includes('/') ? file : `${dir || '.'}/${file}`;
    const e = native.execve(candidate, argv, envp, keep);
    if (e !== 2 && e !== 20) err = e; // keep a more telling error than "not found" (as execvp)
  }
  return new VuError(err);
}

/**
 * The fds this node process inherited, which node marked close-on-exec at startup: those in
 * `listed` (the umvu wrapper script lists what it saw open), or else every open fd, minus what
 * node opened for itself (event loop objects, self-pipes).
 */
export function inheritedFds(listed?: number[]): number[] {
  const links = new Map<number, string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      links.set(Number(name), fs.readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // the directory's own fd
    }
  }
  const count = (link: string) => [...links.values()].filter((l) => l === link).length;
  const candidates = listed ?? [...links.keys()];
  return [...new Set(candidates)].filter((fd) => {
    const link = links.get(fd);
    if (link === undefined) return false;
    if (/^anon_inode:\[(eventpoll|eventfd|signalfd|io_uring)\]$/.test(link)) return fd <= 2;
    return !(link.startsWith('pipe:') && count(link) > 1 && fd > 2);
  });
}

