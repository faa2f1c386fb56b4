/**
 * Path calls that act on one of the caller's fds: bind/connect of AF_UNIX sockets named by a
 * path, and inotify_add_watch. Under a mount they are performed on behalf on the caller's own
 * socket or inotify instance, which the supervisor borrows with pidfd_getfd (the same open
 * file, so the effect is the caller's), with the host path in place of the view's.
 */
import fs from 'node:fs';
import { native } from '../native.js';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import type { Hypervisor } from '../hypervisor.js';
import { resolveText } from './path.js';
import { readStatus } from '../process.js';
import { AT_FDCWD, O_NONBLOCK } from '../linux.js';

const AF_UNIX = 1;
const SUN_PATH_MAX = 108;
const IN_DONT_FOLLOW = 0x02000000;
const F_GETFL = 3;
const F_SETFL = 4;
const SYS = { fcntl: 72, pidfd_open: 434, pidfd_getfd: 438, bind: 49, connect: 42, inotify_add_watch: 254 } as const;

export async function fdPathSyscall(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  if (call.name === 'inotify_add_watch') {
    const r = await resolveText(hv, call, call.readString(1), { dirfd: AT_FDCWD, follow: (call.int(2) & IN_DONT_FOLLOW) === 0 });
    if (!r.virtual) return Answer.continue();
    if ('error' in r) throw r.error;
    return withCallersFd(call, call.int(0), (fd) => native.syscall(SYS.inotify_add_watch, fd, r.host, call.int(2)));
  }
  // bind/connect: only AF_UNIX addresses with a path name concern the view
  const len = call.int(2);
  if (call.args[1] === 0n || len <= 2 || len > 2 + SUN_PATH_MAX) return Answer.continue();
  const addr = call.readMem(call.args[1], len);
  if (addr.readUInt16LE(0) !== AF_UNIX || addr[2] === 0) return Answer.continue(); // abstract names are not paths
  const name = addr.subarray(2).toString('latin1').replace(/\0.*$/s, '');
  const bind = call.name === 'bind';
  // bind creates the socket file (a final symlink is not followed); connect follows
  const r = await resolveText(hv, call, name, { dirfd: AT_FDCWD, follow: !bind });
  if (!r.virtual) return Answer.continue();
  if ('error' in r) throw r.error;
  const host = Buffer.from(r.trailingSlash ? `${r.host}/` : r.host, 'latin1');
  if (host.length >= SUN_PATH_MAX) throw new SyscallError('ENAMETOOLONG'); // the host path does not fit in sun_path
  const sockaddr = Buffer.alloc(2 + host.length + 1);
  sockaddr.writeUInt16LE(AF_UNIX, 0);
  host.copy(sockaddr, 2);
  return withCallersFd(call, call.int(0), (fd) => {
    if (bind) return native.syscall(SYS.bind, fd, sockaddr, sockaddr.length);
    // never wait in the supervisor: a full backlog answers EAGAIN instead of blocking
    const flags = native.syscall(SYS.fcntl, fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK)) native.syscall(SYS.fcntl, fd, F_SETFL, flags | O_NONBLOCK);
    try {
      return native.syscall(SYS.connect, fd, sockaddr, sockaddr.length);
    } finally {
      if (flags >= 0 && !(flags & O_NONBLOCK)) native.syscall(SYS.fcntl, fd, F_SETFL, flags);
    }
  });
}

/** Runs op on a copy of the caller's fd (the same open file); its result answers the call. */
function withCallersFd(call: SyscallCall, targetFd: number, op: (fd: number) => number): Answer {
  const tgid = call.process?.tgid ?? readStatus(call.tid)?.tgid ?? call.tid;
  const pidfd = native.syscall(SYS.pidfd_open, tgid, 0);
  if (pidfd < 0) return Answer.error(-pidfd);
  try {
    const fd = native.syscall(SYS.pidfd_getfd, pidfd, targetFd, 0);
    if (fd < 0) return Answer.error(fd === -9 ? 9 : -fd);
    try {
      const r = op(fd);
      return r < 0 ? Answer.error(-r) : Answer.value(r);
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    fs.closeSync(pidfd);
  }
}
