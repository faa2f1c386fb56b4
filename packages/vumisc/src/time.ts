/**
 * vumisctime: the view's clock. `vumount -t vumisctime none TARGET` makes TARGET a directory of
 * three files: `frequency`, `offset` and `base` (seconds). CLOCK_REALTIME (and its coarse
 * variant), gettimeofday and time then read
 *
 *     virtual = (real - base) * frequency + base + offset
 *
 * Defaults: frequency 1, offset 0, base 0. A new frequency rebases the clock (base = now, the
 * offset keeps it continuous); settimeofday and clock_settime(CLOCK_REALTIME) move the offset,
 * for any user (VUOS checks no permission). Other clocks (MONOTONIC, BOOTTIME, TAI...) stay real.
 * The newest mount's clock is the view's; unmounting it gives the previous one back, the last
 * one the kernel's clock.
 */
import { Answer, clockAt, clockTime, linux, MNT_DETACH, SyscallError, type Entry, type ModuleApi, type MountRequest, type SyscallCall, type VirtualClock } from '@vuos/core';
import { InfoFs } from './infofs.js';
import { formatFrequency, formatSeconds, parseFrequency, parseSeconds } from './numbers.js';

const { CLOCK_REALTIME, CLOCK_REALTIME_COARSE } = linux;
const NS = 1_000_000_000n;
const MAX_SECONDS = (1n << 62n) / NS;
const REAL: VirtualClock = { clocks: [], base: 0n, frequency: 1, offset: 0n };

interface Clock {
  base: bigint;
  frequency: number;
  offset: bigint;
}

/** the mounts, oldest first (the last is the view's clock) */
const mounts: Array<{ entry: Entry; clock: Clock }> = [];
/** settimeofday and clock_settime, claimed while a clock is mounted */
let claims: Entry[] = [];

/** Tells the core the view's clock (the newest mount's), or that there is none. */
function publish(api: ModuleApi): void {
  const top = mounts.at(-1)?.clock;
  api.setClock(top && { ...top, clocks: [CLOCK_REALTIME, CLOCK_REALTIME_COARSE] });
}

const now = (clock: Clock) => clockTime({ ...REAL, ...clock });

/** The view's clock says t (ns) from now on: its offset moves. */
function setTime(api: ModuleApi, t: bigint): void {
  const clock = mounts.at(-1)!.clock;
  clock.offset += t - now(clock);
  publish(api);
}

/** The time (ns) in a struct timeval (unit: 1000 ns) or timespec (1 ns) of the caller; EINVAL where the kernel says it. */
function readTime(call: SyscallCall, arg: number, unit: bigint): bigint {
  const b = call.readMem(call.args[arg], 16);
  const sec = b.readBigInt64LE(0);
  const frac = b.readBigInt64LE(8);
  // (and what a clock holds: about 146 years past 1970)
  if (sec < 0n || frac < 0n || frac * unit >= NS || sec > MAX_SECONDS) throw new SyscallError('EINVAL');
  return sec * NS + frac * unit;
}

function settimeofday(api: ModuleApi, call: SyscallCall): Answer {
  if (call.args[0] === 0n) return Answer.continue(); // the time zone only: the kernel's (the zone is ignored otherwise)
  setTime(api, readTime(call, 0, 1000n));
  return Answer.value(0);
}

function clockSettime(api: ModuleApi, call: SyscallCall): Answer {
  if (call.int(0) !== CLOCK_REALTIME) return Answer.continue(); // (other clocks: the kernel's errors)
  setTime(api, readTime(call, 1, 1n));
  return Answer.value(0);
}

export function mountTime(api: ModuleApi, req: MountRequest): void {
  const clock: Clock = { base: 0n, frequency: 1, offset: 0n };
  const status = api.caller()?.status();
  const files = new InfoFs(
    [
      {
        name: 'base',
        read: () => `${formatSeconds(clock.base)}\n`,
        write: (text) => {
          clock.base = parseSeconds(text);
          publish(api);
        },
      },
      {
        name: 'frequency',
        read: () => `${formatFrequency(clock.frequency)}\n`,
        write: (text) => {
          const frequency = parseFrequency(text);
          // rebase at now: the clock goes on from where it is, at its new pace
          const real = clockTime(REAL);
          clock.offset = clockAt({ ...REAL, ...clock }, real) - real;
          clock.base = real;
          clock.frequency = frequency;
          publish(api);
        },
      },
      {
        name: 'offset',
        read: () => `${formatSeconds(clock.offset)}\n`,
        write: (text) => {
          clock.offset = parseSeconds(text);
          publish(api);
        },
      },
    ],
    { uid: status?.fsuid ?? 0, gid: status?.fsgid ?? 0 },
  );
  const entry = api.addMount(req.info, files);
  mounts.push({ entry, clock });
  if (claims.length === 0)
    claims = [api.claimSyscall('settimeofday', (call) => settimeofday(api, call)), api.claimSyscall('clock_settime', (call) => clockSettime(api, call))];
  publish(api);
}

/** umount2 of a time mount: the previous clock is the view's again (the kernel's after the last). */
export function umountTime(api: ModuleApi, entry: Entry): void {
  const i = mounts.findIndex((m) => m.entry === entry);
  if (i < 0) return;
  mounts.splice(i, 1);
  if (mounts.length === 0) {
    for (const claim of claims) api.delEntry(claim, MNT_DETACH); // (a call in flight finishes)
    claims = [];
  }
  publish(api);
}
