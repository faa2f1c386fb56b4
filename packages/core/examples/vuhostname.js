// vuhostname: an example umvu module (documented in ../README.md, used by the core's tests).
//
// It serves uname(2) and sethostname(2) for the processes of the view:
// - `vumount -t vuhostname NAME /etc/hostname` gives the whole view the host name NAME (the
//   mount target names the mount; umount restores the real name);
// - sethostname(2) (the `hostname NEWNAME` command) works without privileges and gives the
//   caller, and the processes it starts afterwards, a private host name: per-process data,
//   inherited across fork and exec, shared like a UTS namespace.
import os from 'node:os';
import { defineModule, Answer, SyscallError } from '@vuos/core';

const HOST_NAME_MAX = 64;
const UTS_FIELD = 65; // struct utsname: six char[65] fields
let viewHostname; // set by a mount; undefined: the real host name
let api;

function uname(call) {
  const private_ = api.getProcessData(call.tid);
  const nodename = private_?.hostname ?? viewHostname ?? os.hostname();
  const fields = [os.type(), nodename, os.release(), os.version(), os.machine(), '(none)'];
  const buf = Buffer.alloc(6 * UTS_FIELD);
  fields.forEach((f, i) => buf.write(f.slice(0, UTS_FIELD - 1), i * UTS_FIELD));
  call.writeMem(call.args[0], buf);
  api.debug('H', call.tid, `uname -> ${nodename}`);
  return Answer.value(0);
}

function sethostname(call) {
  const len = call.long(1);
  if (len < 0 || len > HOST_NAME_MAX) throw new SyscallError('EINVAL');
  const name = call.readMem(call.args[0], len).toString();
  const data = api.getProcessData(call.tid);
  if (data) data.hostname = name; // shared with the processes that inherited it
  else api.setProcessData(call.tid, { hostname: name });
  api.debug('H', call.tid, `sethostname ${name}`);
  return Answer.value(0);
}

export default defineModule({
  name: 'vuhostname',
  description: 'per-view host names (example module)',
  init(moduleApi) {
    api = moduleApi;
    api.setDebugTagName('H', 'VUHOSTNAME');
    api.claimSyscall('uname', uname);
    api.claimSyscall('sethostname', sethostname);
  },
  mount(req) {
    if (!req.source || req.source.length > HOST_NAME_MAX) throw new SyscallError('EINVAL');
    api.addMount(req.info);
    viewHostname = req.source;
  },
  umount() {
    viewHostname = undefined;
  },
  inherit: {
    clone: (data) => data, // shared: a later sethostname is seen by parent and child alike
  },
});
