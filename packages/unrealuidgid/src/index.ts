/**
 * unrealuidgid: virtual user and group ids. A process keeps its real ids until it changes one
 * (setuid, setresuid, setgroups...); from then on it has virtual ones: real, effective, saved
 * and file-system uid and gid, and supplementary groups, which the getuid family answers, which
 * its children inherit (shared until one changes them) and keep across exec. As in VUOS there
 * are no permission checks: any process may become root (`vusu`), in the view only. The view's
 * own permission checks, the owners of files made in virtual file systems (vufuse images) and
 * the ids of FUSE requests follow the virtual ids; host files are still the kernel's (a chown
 * there is what the real user may do).
 */
import { Answer, defineModule, linux, readProcStatus, SyscallError, type Credentials, type ModuleApi, type SyscallCall } from '@vuos/core';

let api: ModuleApi;

/** A process' virtual ids (never changed in place: a change makes a new one). */
type Ids = Readonly<Credentials>;

/** the kernel's limit on supplementary groups (NGROUPS_MAX) */
const NGROUPS_MAX = 65536;
const { S_ISUID, S_ISGID, S_IXGRP } = linux;
/** -1 as an id argument: "unchanged" */
const KEEP = 0xffffffff;

const idsOf = (tid: number) => api.getProcessData(tid) as Ids | undefined;

/** The ids of tid: its virtual ones, or the kernel's (ESRCH when it is gone). */
function current(tid: number): Ids {
  const v = idsOf(tid);
  if (v) return v;
  const ids = kernelIds(tid);
  if (!ids) throw new SyscallError('ESRCH');
  return ids;
}

/** What the kernel says of tid's ids (the ids only: not the rest of /proc's status, the umask say). */
function kernelIds(tid: number): Ids | undefined {
  const st = readProcStatus(tid);
  if (!st) return undefined;
  const { uid, euid, suid, fsuid, gid, egid, sgid, fsgid, groups } = st;
  return { uid, euid, suid, fsuid, gid, egid, sgid, fsgid, groups };
}

/** An id argument: undefined for -1 (keep) */
const idArg = (call: SyscallCall, i: number) => (Number(call.args[i] & 0xffffffffn) === KEEP ? undefined : Number(call.args[i] & 0xffffffffn));

function change(call: SyscallCall, next: Ids): Answer {
  api.setProcessData(call.tid, next);
  return Answer.value(0);
}

/** setuid(2) and friends, with POSIX semantics and no permission check; the fs id follows the effective one. */
function setIds(call: SyscallCall): Answer {
  const ids = current(call.tid);
  const a = idArg(call, 0);
  const b = idArg(call, 1);
  const c = idArg(call, 2);
  switch (call.name) {
    case 'setuid':
      // root sets all three; others the effective one
      if (a === undefined) return Answer.error('EINVAL');
      return change(call, ids.euid === 0 ? { ...ids, uid: a, euid: a, suid: a, fsuid: a } : { ...ids, euid: a, fsuid: a });
    case 'setgid':
      if (a === undefined) return Answer.error('EINVAL');
      return change(call, ids.euid === 0 ? { ...ids, gid: a, egid: a, sgid: a, fsgid: a } : { ...ids, egid: a, fsgid: a });
    case 'setreuid': {
      const euid = b ?? ids.euid;
      // the saved id follows the effective one when the real one is set or the effective one differs from the old real one
      const suid = a !== undefined || (b !== undefined && b !== ids.uid) ? euid : ids.suid;
      return change(call, { ...ids, uid: a ?? ids.uid, euid, suid, fsuid: euid });
    }
    case 'setregid': {
      const egid = b ?? ids.egid;
      const sgid = a !== undefined || (b !== undefined && b !== ids.gid) ? egid : ids.sgid;
      return change(call, { ...ids, gid: a ?? ids.gid, egid, sgid, fsgid: egid });
    }
    case 'setresuid': {
      const euid = b ?? ids.euid;
      return change(call, { ...ids, uid: a ?? ids.uid, euid, suid: c ?? ids.suid, fsuid: euid });
    }
    case 'setresgid': {
      const egid = b ?? ids.egid;
      return change(call, { ...ids, gid: a ?? ids.gid, egid, sgid: c ?? ids.sgid, fsgid: egid });
    }
    case 'setfsuid':
    case 'setfsgid': {
      // answers the old value, changed or not
      const old = call.name === 'setfsuid' ? ids.fsuid : ids.fsgid;
      if (a !== undefined) api.setProcessData(call.tid, call.name === 'setfsuid' ? { ...ids, fsuid: a } : { ...ids, fsgid: a });
      return Answer.value(old);
    }
    default: {
      // setgroups(size, list)
      const size = call.int(0);
      if (size < 0 || size > NGROUPS_MAX) return Answer.error('EINVAL');
      const list = size ? call.readMem(call.args[1], 4 * size) : Buffer.alloc(0);
      const groups = Array.from({ length: size }, (_, i) => list.readUInt32LE(4 * i));
      if (groups.includes(KEEP)) return Answer.error('EINVAL');
      // (the kernel keeps them sorted)
      return change(call, { ...ids, groups: groups.sort((x, y) => x - y) });
    }
  }
}

/** getuid(2) and friends: from the virtual ids of a process that has them, else the kernel's. */
function getIds(call: SyscallCall): Answer {
  const ids = idsOf(call.tid);
  if (!ids) return Answer.continue();
  switch (call.name) {
    case 'getuid':
      return Answer.value(ids.uid);
    case 'geteuid':
      return Answer.value(ids.euid);
    case 'getgid':
      return Answer.value(ids.gid);
    case 'getegid':
      return Answer.value(ids.egid);
    case 'getresuid':
    case 'getresgid': {
      const three = call.name === 'getresuid' ? [ids.uid, ids.euid, ids.suid] : [ids.gid, ids.egid, ids.sgid];
      three.forEach((id, i) => {
        const b = Buffer.alloc(4);
        b.writeUInt32LE(id);
        call.writeMem(call.args[i], b);
      });
      return Answer.value(0);
    }
    default: {
      // getgroups(size, list): size 0 asks how many
      const size = call.int(0);
      if (size === 0) return Answer.value(ids.groups.length);
      if (size < ids.groups.length) return Answer.error('EINVAL');
      const b = Buffer.alloc(4 * ids.groups.length);
      ids.groups.forEach((g, i) => b.writeUInt32LE(g, 4 * i));
      if (b.length) call.writeMem(call.args[1], b);
      return Answer.value(ids.groups.length);
    }
  }
}

const SETTERS = ['setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setfsuid', 'setfsgid', 'setgroups'];
const GETTERS = ['getuid', 'geteuid', 'getgid', 'getegid', 'getresuid', 'getresgid', 'getgroups'];

export default defineModule({
  name: 'unrealuidgid',
  description: 'virtual user and group ids (vusu)',
  init(moduleApi) {
    api = moduleApi;
    for (const name of SETTERS) api.claimSyscall(name, setIds);
    for (const name of GETTERS) api.claimSyscall(name, getIds);
    api.setCredentialSource((tid) => idsOf(tid));
  },
  fini() {
    api.setCredentialSource(undefined);
  },
  inherit: {
    // a child shares its parent's ids (a change makes new ones)
    clone: (data) => data,
    // exec keeps them; a set-user-ID (set-group-ID) program gives its owner as the effective
    // id; the saved and fs ids become the effective ones (as the kernel does). A process with
    // the kernel's ids comes here for such a program only (setIdPrograms) and gets virtual ones.
    exec: (data, image, tid) => {
      const before = (data as Ids | undefined) ?? kernelIds(tid);
      if (!before) return undefined;
      let ids = before;
      if (image && image.mode & S_ISUID) ids = { ...ids, euid: image.uid, fsuid: image.uid };
      // (set-group-ID without group execute marks mandatory locking, not a program)
      if (image && image.mode & S_ISGID && image.mode & S_IXGRP) ids = { ...ids, egid: image.gid, fsgid: image.gid };
      if (data === undefined && ids === before) return undefined;
      return { ...ids, suid: ids.euid, fsuid: ids.euid, sgid: ids.egid, fsgid: ids.egid };
    },
    setIdPrograms: true,
  },
});
