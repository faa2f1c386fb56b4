export { Hypervisor, VIEW_LOST, type ViewOptions } from './hypervisor.js';
export { defineModule, resolveModule, type ModuleDefinition, type ModuleApi, type MountRequest, type SyscallHandler } from './modules.js';
export type { Helper, HelperOptions } from './helpers.js';
export { Answer, SyscallError, SyscallCall } from './syscall.js';
export { Entry, MNT_DETACH, MNT_FORCE, type EntryType, type EntryOptions, type MountInfo } from './registry.js';
export { LogLevel, parseColorSpec, TAG_CHARS } from './log.js';
export { syscallNumber, syscallName } from './syscalls/x86_64.js';
export * as vulib from './vulib.js';
export { generateFilter, filterBytes, runFilter, FilterResult } from './filter.js';
export { VIRTUAL_FD_RANGE } from './vfd.js';
export { errnoOf, errnoName } from './errno.js';
export { direntTypeOf, type PathService, type Access, type DirEntry } from './families/path.js';
/** Linux constants (open flags, file types, mount flags...) as modules need them */
export * as linux from './linux.js';
export type { VirtualFs, VStat, VStatFs, DeviceFile, IoctlArg, SourceFile, HostRange } from './vfs/types.js';
export { native } from './native.js';
export type { Caller } from './caller.js';
export type { ProcStatus, Credentials, ExecImage } from './process.js';
export { readProcStatus } from './process.js';
