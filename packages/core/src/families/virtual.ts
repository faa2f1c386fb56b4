/**
 * The VUOS virtual syscalls (negative numbers): insmod, rmmod, lsmod, vuctl, msocket.
 * Outside umvu the kernel answers them with ENOSYS, which is how the commands detect a view.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import { VirtualSyscall, VuCtl, VU_INFO_SIZE } from '../vulib.js';
import type { Hypervisor } from '../hypervisor.js';
import { expandTags } from '../log.js';

const NAME_MAX = 64;

export async function virtualSyscall(hv: Hypervisor, call: SyscallCall): Promise<Answer> {
  switch (call.nr) {
    case VirtualSyscall.insmod: {
      const name = call.readString(0);
      const cwd = fs.readlinkSync(`/proc/${call.tid}/cwd`);
      await hv.modules.insmod(name, call.int(1) !== 0, cwd);
      return Answer.value(0);
    }
    case VirtualSyscall.rmmod:
      await hv.modules.rmmod(call.readString(0));
      return Answer.value(0);
    case VirtualSyscall.lsmod: {
      const text = hv.modules
        .list()
        .map((s) => `${s.name}: ${s.definition.description}\n`)
        .join('');
      return Answer.value(writeCString(call, call.args[0], call.long(1), text));
    }
    case VirtualSyscall.vuctl:
      return vuctl(hv, call);
    default:
      // (msocket too, unless a networking module, vunet, claims it)
      return Answer.error('ENOSYS');
  }
}

function vuctl(hv: Hypervisor, call: SyscallCall): Answer {
  const local = (i: number) => call.int(i) !== 0;
  switch (call.int(0)) {
    case VuCtl.GETINFO: {
      if (call.args[1] === 0n) return Answer.value(0);
      const fields = [os.type(), os.hostname(), os.release(), os.version(), os.machine(), domainName()];
      const buf = Buffer.alloc(VU_INFO_SIZE);
      fields.forEach((f, i) => buf.write(f.slice(0, 64), i * 65));
      buf.write(String(hv.serverId), 6 * 65);
      buf.write(hv.viewName.slice(0, NAME_MAX), 7 * 65);
      call.writeMem(call.args[1], buf);
      return Answer.value(0);
    }
    case VuCtl.SETNAME: {
      const name = call.readString(1, NAME_MAX + 1);
      if (name.length > NAME_MAX) throw new SyscallError('EINVAL');
      hv.viewName = name;
      return Answer.value(0);
    }
    case VuCtl.GET_DEBUGTAGS: {
      const tags = local(3) ? (hv.procs.get(call.tid)?.localTags ?? '') : hv.logger.globalTagString();
      return Answer.value(writeCString(call, call.args[1], call.long(2), tags) - 1);
    }
    case VuCtl.ADD_DEBUGTAGS:
    case VuCtl.DEL_DEBUGTAGS: {
      const tags = call.readString(1, 256);
      const add = call.int(0) === VuCtl.ADD_DEBUGTAGS;
      if (local(2)) hv.changeLocalTags(call.tid, tags, add);
      else if (add) hv.logger.addGlobalTags(tags);
      else hv.logger.delGlobalTags(tags);
      return Answer.value(0);
    }
    case VuCtl.GET_DEBUGTAGNAME: {
      const tag = String.fromCharCode(call.int(1));
      const name = expandTags(tag) === tag ? (hv.logger.tagName(tag) ?? '') : '';
      return Answer.value(writeCString(call, call.args[2], call.long(3), name) - 1);
    }
    case VuCtl.SET_DEBUGCOLOR:
      if (!hv.logger.setColors(call.readString(1, 1024))) throw new SyscallError('EINVAL');
      return Answer.value(0);
    default:
      return Answer.error('EINVAL');
  }
}

/**
 * Copies text + NUL to the caller's buffer (truncated to len, still NUL-terminated) and
 * returns the size the whole text needs, NUL included. A NULL buffer only asks the size.
 */
function writeCString(call: SyscallCall, addr: bigint, len: number, text: string): number {
  const bytes = Buffer.from(text + '\0');
  if (addr !== 0n && len > 0) {
    const out = Buffer.from(bytes.subarray(0, Math.min(len, bytes.length)));
    out[out.length - 1] = 0;
    call.writeMem(addr, out);
  }
  return bytes.length;
}

function domainName(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/domainname', 'utf8').trim();
  } catch {
    return '(none)';
  }
}
