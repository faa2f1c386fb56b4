/**
 * The numbers of vumisctime's files, as text: what a process writes (a decimal number, an
 * optional exponent, blanks around it) and what a read shows (C's `%lf` / `%Lf`: six decimals).
 * Seconds are kept exactly, as integer ns.
 */
import { SyscallError } from '@vuos/core';

const NUMBER = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/;
/** what a clock holds: ±2^62 ns, about 146 years either side of 1970 */
const MAX_NS = 1n << 62n;
/** the largest frequency taken (the clock saturates long before) */
const MAX_FREQUENCY = 1e9;

/** A written number's sign, digits and the power of ten they are multiplied by; EINVAL if it is none. */
function parse(text: string): { negative: boolean; digits: string; exp: number } {
  const m = NUMBER.exec(text);
  if (!m || (m[2] === '' && !m[3])) throw new SyscallError('EINVAL');
  const frac = m[3] ?? '';
  return { negative: m[1] === '-', digits: (m[2] + frac).replace(/^0+/, ''), exp: Number(m[4] ?? 0) - frac.length };
}

/** Seconds written as text, in ns (rounded to the nearest); EINVAL if it is no number or out of range. */
export function parseSeconds(text: string): bigint {
  const { negative, digits, exp } = parse(text);
  const e = exp + 9;
  let ns: bigint;
  if (digits === '' || -e > digits.length) ns = 0n; // (less than half a ns)
  else if (digits.length + e > 30) throw new SyscallError('EINVAL');
  else if (e >= 0) ns = BigInt(digits) * 10n ** BigInt(e);
  else ns = (BigInt(digits) * 2n + 10n ** BigInt(-e)) / (2n * 10n ** BigInt(-e));
  if (ns > MAX_NS) throw new SyscallError('EINVAL');
  return negative ? -ns : ns;
}

/** A frequency written as text; EINVAL if it is no number or too large. */
export function parseFrequency(text: string): number {
  parse(text);
  const f = Number(text.trim());
  if (!(Math.abs(f) <= MAX_FREQUENCY)) throw new SyscallError('EINVAL');
  return f;
}

/** ns as C's `%Lf` shows seconds: six decimals, rounded. */
export function formatSeconds(ns: bigint): string {
  const abs = ns < 0n ? -ns : ns;
  const us = (abs + 500n) / 1000n;
  return `${ns < 0n ? '-' : ''}${us / 1_000_000n}.${String(us % 1_000_000n).padStart(6, '0')}`;
}

/** A frequency as C's `%lf` shows it. */
export function formatFrequency(f: number): string {
  return f.toFixed(6);
}
