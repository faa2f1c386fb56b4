/**
 * Classic BPF seccomp filter generated from the syscall table.
 *
 * Layout: foreign architectures are refused; negative numbers -1..-5 (VUOS virtual syscalls)
 * are notified; other numbers with the x32 bit are refused; the rest is a binary search over
 * runs of syscall numbers that share a rule. `fd` rules test the low 32 bits of an argument
 * (the kernel truncates fds to int) against the reserved virtual-fd range (and 0-2).
 */
import { SYSCALLS, MAX_KNOWN_NR, type FilterRule } from './syscalls/x86_64.js';
import { VIRTUAL_FD_RANGE } from './vfd.js';

const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGT_K = 0x25;
const BPF_JMP_JGE_K = 0x35;
const BPF_JMP_JA = 0x05;
const BPF_RET_K = 0x06;

const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
const SECCOMP_RET_ERRNO = 0x00050000;
const ENOSYS = 38;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const offsetArgLow = (i: number) => 16 + 8 * i;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}
const stmt = (code: number, k: number): Insn => ({ code, jt: 0, jf: 0, k: k >>> 0 });
const jump = (code: number, k: number, jt: number, jf: number): Insn => ({ code, jt, jf, k: k >>> 0 });

interface Segment {
  lo: number;
  rule: FilterRule;
}

const ruleKey = (r: FilterRule) => (r.kind === 'fd' ? `fd:${r.args.join(',')}` : r.kind);

export interface FilterOptions {
  /** notify every syscall the filter would allow (umvu -d s: a complete syscall log) */
  notifyAll?: boolean;
  /**
   * also notify the fd calls on fds 0-2 (umvu --stdio-devices), where dd and shells put the
   * devices they open: every read and write on a standard fd then costs a notification
   */
  stdioDevices?: boolean;
}

function segments(opts: FilterOptions): Segment[] {
  const rules = new Map<number, FilterRule>();
  for (const s of SYSCALLS) rules.set(s.nr, s.filter);
  const out: Segment[] = [];
  for (let nr = 0; nr <= MAX_KNOWN_NR + 1; nr++) {
    let rule: FilterRule = nr > MAX_KNOWN_NR ? { kind: 'notify' } : (rules.get(nr) ?? { kind: 'allow' });
    if (opts.notifyAll && rule.kind !== 'enosys') rule = { kind: 'notify' };
    const last = out[out.length - 1];
    if (!last || ruleKey(last.rule) !== ruleKey(rule)) out.push({ lo: nr, rule });
  }
  return out;
}

function leaf(rule: FilterRule, opts: FilterOptions): Insn[] {
  switch (rule.kind) {
    case 'allow':
      return [stmt(BPF_RET_K, SECCOMP_RET_ALLOW)];
    case 'notify':
      return [stmt(BPF_RET_K, SECCOMP_RET_USER_NOTIF)];
    case 'enosys':
      return [stmt(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS)];
    case 'fd': {
      const out: Insn[] = [];
      for (const arg of rule.args) {
        out.push(stmt(BPF_LD_W_ABS, offsetArgLow(arg)));
        // (0, 1 and 2 jump straight to the notify below)
        if (opts.stdioDevices) out.push(jump(BPF_JMP_JGT_K, 2, 0, 2));
        out.push(jump(BPF_JMP_JGE_K, VIRTUAL_FD_RANGE.low, 0, 2));
        out.push(jump(BPF_JMP_JGT_K, VIRTUAL_FD_RANGE.high, 1, 0));
        out.push(stmt(BPF_RET_K, SECCOMP_RET_USER_NOTIF));
      }
      out.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
      return out;
    }
  }
}

// Binary search: "nr >= pivot ? right : left", with an unconditional jump (32-bit offset) to
// reach the right subtree so that no conditional jump exceeds BPF's 8-bit offsets.
function tree(segs: Segment[], opts: FilterOptions): Insn[] {
  if (segs.length === 1) return leaf(segs[0].rule, opts);
  const mid = segs.length >> 1;
  const left = tree(segs.slice(0, mid), opts);
  const right = tree(segs.slice(mid), opts);
  return [jump(BPF_JMP_JGE_K, segs[mid].lo, 0, 1), stmt(BPF_JMP_JA, left.length), ...left, ...right];
}

/**
 * read(2) and write(2) (numbers 0 and 1) are by far the most frequent calls, and the kernel
 * cannot cache a rule that tests an argument: test them before the search.
 */
function hotPath(opts: FilterOptions): Insn[] {
  if (opts.notifyAll) return [];
  const fdCheck = leaf(SYSCALLS[0].filter, opts); // (read's rule is write's)
  return [jump(BPF_JMP_JGT_K, 1, 0, 1), stmt(BPF_JMP_JA, fdCheck.length), ...fdCheck];
}

export function generateFilter(opts: FilterOptions = {}): Insn[] {
  const body = tree(segments(opts), opts);
  const notKnown: Insn[] = [
    // nr >= 0x40000000 (unsigned): -1..-5 are VUOS virtual syscalls, anything else (x32) refused
    jump(BPF_JMP_JGE_K, 0xfffffffb, 0, 1),
    stmt(BPF_RET_K, SECCOMP_RET_USER_NOTIF),
    stmt(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS),
  ];
  return [
    stmt(BPF_LD_W_ABS, OFFSET_ARCH),
    jump(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
    stmt(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS),
    stmt(BPF_LD_W_ABS, OFFSET_NR),
    ...hotPath(opts),
    jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, notKnown.length),
    ...notKnown,
    ...body,
  ];
}

/** The filter as struct sock_filter[] bytes, ready for seccomp(SECCOMP_SET_MODE_FILTER). */
export function filterBytes(insns: Insn[]): Buffer {
  if (insns.length > 4096) throw new Error(`seccomp filter too long (${insns.length} instructions)`);
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((ins, i) => {
    buf.writeUInt16LE(ins.code, i * 8);
    buf.writeUInt8(ins.jt, i * 8 + 2);
    buf.writeUInt8(ins.jf, i * 8 + 3);
    buf.writeUInt32LE(ins.k, i * 8 + 4);
  });
  return buf;
}

/** Evaluates the program as the kernel would (used by the tests). */
export function runFilter(insns: Insn[], data: { nr: number; arch?: number; args?: number[] }): number {
  let a = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const ins = insns[pc];
    switch (ins.code) {
      case BPF_LD_W_ABS:
        if (ins.k === OFFSET_NR) a = data.nr >>> 0;
        else if (ins.k === OFFSET_ARCH) a = (data.arch ?? AUDIT_ARCH_X86_64) >>> 0;
        else a = (data.args?.[(ins.k - 16) / 8] ?? 0) >>> 0;
        break;
      case BPF_JMP_JEQ_K:
        pc += a === ins.k ? ins.jt : ins.jf;
        break;
      case BPF_JMP_JGT_K:
        pc += a > ins.k ? ins.jt : ins.jf;
        break;
      case BPF_JMP_JGE_K:
        pc += a >= ins.k ? ins.jt : ins.jf;
        break;
      case BPF_JMP_JA:
        pc += ins.k;
        break;
      case BPF_RET_K:
        return ins.k;
      default:
        throw new Error(`unknown BPF instruction ${ins.code}`);
    }
  }
  throw new Error('BPF program fell off its end');
}

export const FilterResult = {
  allow: SECCOMP_RET_ALLOW,
  notify: SECCOMP_RET_USER_NOTIF,
  enosys: SECCOMP_RET_ERRNO | ENOSYS,
} as const;
