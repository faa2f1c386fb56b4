/**
 * The view's virtual clock (a module's: vumisctime), family `clock`: clock_gettime of the clocks
 * it lists, gettimeofday and time read (real - base) * frequency + base + offset. The native
 * listener answers these calls itself from the same clock (native/src/clock.cc); what comes here
 * is what it leaves to JavaScript: the calls of tracked processes, every call with umvu -S, a
 * bad address (EFAULT, as from the kernel). Without a clock, for another clock, or for a process
 * whose memory umvu may not write (an undumpable one), the kernel answers.
 *
 * Programs read the clocks in the vDSO, without a system call: while the view has a clock, the
 * programs exec'd run without it (families/vdso.ts).
 */
import { native } from '../native.js';
import { Answer, SyscallError, type SyscallCall } from '../syscall.js';
import { errnoOf } from '../errno.js';
import type { Hypervisor } from '../hypervisor.js';
import { CLOCK_REALTIME, CLOCK_REALTIME_COARSE } from '../linux.js';

const NS = 1_000_000_000n;
const SYS_gettimeofday = 96;
const EFAULT = errnoOf('EFAULT');

/** A virtual clock; times in ns since the epoch. */
export interface VirtualClock {
  /** the clock ids it serves (below 32); gettimeofday and time follow CLOCK_REALTIME */
  readonly clocks: readonly number[];
  readonly base: bigint;
  readonly frequency: number;
  readonly offset: bigint;
}

/** The time of clock now (ns since the epoch): clockId read now and transformed, as the listener does. */
export function clockTime(clock: VirtualClock, clockId = CLOCK_REALTIME): bigint {
  return native.clockTime(clockId, clock.base, clock.frequency, clock.offset);
}

/** What clock says when the real clock says real (ns since the epoch). */
export function clockAt(clock: VirtualClock, real: bigint): bigint {
  return native.clockTime(CLOCK_REALTIME, clock.base, clock.frequency, clock.offset, real);
}

/** seconds (rounded down, also before 1970) and the ns within them */
function split(ns: bigint): [bigint, bigint] {
  const frac = ((ns % NS) + NS) % NS;
  return [(ns - frac) / NS, frac];
}

const int64s = (...values: bigint[]) => {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => b.writeBigInt64LE(v, 8 * i));
  return b;
};

/** Writes the caller's result: false when umvu may not write there (then the kernel answers); EFAULT for a bad address. */
function put(call: SyscallCall, addr: bigint, data: Buffer): boolean {
  const err = native.writeMem(call.tid, addr, data);
  if (err === EFAULT) throw new SyscallError('EFAULT');
  return err === 0;
}

export function clockSyscall(hv: Hypervisor, call: SyscallCall): Answer {
  const clock = hv.clock;
  const id = call.name === 'clock_gettime' ? call.int(0) : CLOCK_REALTIME;
  if (!clock?.clocks.includes(id)) return Answer.continue();
  switch (call.name) {
    case 'clock_gettime':
      return put(call, call.args[1], int64s(...split(clockTime(clock, id)))) ? Answer.value(0) : Answer.continue();
    case 'gettimeofday': {
      if (call.args[0] === 0n) return Answer.continue(); // the time zone only
      const [sec, ns] = split(clockTime(clock));
      if (!put(call, call.args[0], int64s(sec, ns / 1000n))) return Answer.continue();
      if (call.args[1] !== 0n) {
        const tz = Buffer.alloc(8);
        native.syscall(SYS_gettimeofday, null, tz); // the kernel's time zone, as it gives it
        put(call, call.args[1], tz);
      }
      return Answer.value(0);
    }
    default: {
      // time(2): the second of the kernel's tick
      const [sec] = split(clockTime(clock, CLOCK_REALTIME_COARSE));
      return call.args[0] === 0n || put(call, call.args[0], int64s(sec)) ? Answer.value(sec) : Answer.continue();
    }
  }
}
