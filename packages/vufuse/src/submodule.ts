/**
 * Submodules: what serves `vumount -t vufuse<NAME>`. A submodule is an operations table
 * (ops.ts), or a factory that makes one per mount from the source and the options. NAME is
 * looked up, in order, among the bundled submodules, the FUSE daemons vufuse knows how to run,
 * and npm packages (or ~/.vu/modules files) named vufuse<NAME>, found as vu_insmod finds modules.
 */
import { pathToFileURL } from 'node:url';
import { resolveModule, type SourceFile } from '@vuos/core';
import type { FuseOps } from './ops.js';

/** What a submodule is told about its mount. */
export interface MountOptions {
  /** the option words meant for the submodule (VUOS: `rw` when there are none) */
  words: string[];
  /** mounted read-only: the submodule need not be able to write */
  readOnly: boolean;
  /** `fmt=`: the argument template of a FUSE program's main (VUOS' default `%N -o %O %S %T`) */
  fmt?: string;
  fstype: string;
  /** the mount point (canonical, absolute) */
  target: string;
  /**
   * opens the source as the view shows it (read-only when mounted so): a host file, or a
   * device of another module such as a vudev partition; with umvu -x, the host's file
   */
  openSource(): Promise<SourceFile>;
}

export type SubmoduleFactory = (source: string, options: MountOptions) => FuseOps | Promise<FuseOps>;
export type Submodule = FuseOps | SubmoduleFactory;

const BUNDLED: Record<string, () => Promise<{ default: Submodule }>> = {
  fat: () => import('./submodules/fat.js'),
  memfs: () => import('./submodules/memfs.js'),
};

/** The submodule for NAME, undefined when there is none; throws when one is found but does not load. */
export async function findSubmodule(name: string, callerCwd: string): Promise<Submodule | undefined> {
  if (Object.hasOwn(BUNDLED, name)) return (await BUNDLED[name]()).default;
  const file = resolveModule(`vufuse${name}`, callerCwd);
  if (!file) return undefined;
  const exported = (await import(pathToFileURL(file).href)).default;
  if (!exported || !['object', 'function'].includes(typeof exported)) throw new Error(`${file}: the default export is no operations table nor factory`);
  return exported as Submodule;
}
