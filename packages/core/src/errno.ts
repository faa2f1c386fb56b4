import os from 'node:os';

const codes = os.constants.errno as Record<string, number>;
const names = new Map(Object.entries(codes).map(([k, v]) => [v, k]));

/** errno number of a code such as 'ENOENT'. */
export function errnoOf(code: string): number {
  const n = codes[code];
  if (n === undefined) throw new Error(`unknown errno code ${code}`);
  return n;
}

export function errnoName(n: number): string {
  return names.get(n) ?? `E${n}`;
}
