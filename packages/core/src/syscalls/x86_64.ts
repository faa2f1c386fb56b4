/**
 * The x86_64 system call table: the one source for the seccomp filter (which calls may leave
 * the kernel) and for dispatch (which family of handlers serves them).
 *
 * Columns: number, name, filter rule, family.
 * - filter rule: `allow` never notified (can never touch a virtual object); `notify` always
 *   notified; `fd:I[,J]` notified only when argument I (or J) is an fd in the reserved
 *   virtual-fd range, or, with umvu --stdio-devices, 0, 1 or 2 (where a shell or dd puts a
 *   device it opened); `enosys` refused in the filter (io_uring would bypass the view).
 * - family: which file under families/ serves it; `none` means never notified.
 * Numbers past the end of the table (newer kernels) are notified and, unless claimed, continued.
 */
export type FilterRule = { kind: 'allow' } | { kind: 'notify' } | { kind: 'enosys' } | { kind: 'fd'; args: number[] };
export type Family = 'path' | 'exec' | 'cred' | 'sc' | 'clock' | 'net' | 'fd' | 'mount' | 'none';
export interface SyscallInfo {
  nr: number;
  name: string;
  filter: FilterRule;
  family: Family;
}

const TABLE = `
  0 read                     fd:0      fd
  1 write                    fd:0      fd
  2 open                     notify    path
  3 close                    fd:0      fd
  4 stat                     notify    path
  5 fstat                    fd:0      fd
  6 lstat                    notify    path
  7 poll                     allow     none
  8 lseek                    fd:0      fd
  9 mmap                     fd:4      fd
 10 mprotect                 allow     none
 11 munmap                   allow     none
 12 brk                      allow     none
 13 rt_sigaction             allow     none
 14 rt_sigprocmask           allow     none
 15 rt_sigreturn             allow     none
 16 ioctl                    fd:0      fd
 17 pread64                  fd:0      fd
 18 pwrite64                 fd:0      fd
 19 readv                    fd:0      fd
 20 writev                   fd:0      fd
 21 access                   notify    path
 22 pipe                     allow     none
 23 select                   allow     none
 24 sched_yield              allow     none
 25 mremap                   allow     none
 26 msync                    allow     none
 27 mincore                  allow     none
 28 madvise                  allow     none
 29 shmget                   allow     none
 30 shmat                    allow     none
 31 shmctl                   allow     none
 32 dup                      fd:0      fd
 33 dup2                     fd:0,1    fd
 34 pause                    allow     none
 35 nanosleep                allow     none
 36 getitimer                allow     none
 37 alarm                    allow     none
 38 setitimer                allow     none
 39 getpid                   allow     none
 40 sendfile                 fd:0,1    fd
 41 socket                   notify    net
 42 connect                  notify    path
 43 accept                   fd:0      fd
 44 sendto                   fd:0      fd
 45 recvfrom                 fd:0      fd
 46 sendmsg                  fd:0      fd
 47 recvmsg                  fd:0      fd
 48 shutdown                 fd:0      fd
 49 bind                     notify    path
 50 listen                   fd:0      fd
 51 getsockname              fd:0      fd
 52 getpeername              fd:0      fd
 53 socketpair               allow     none
 54 setsockopt               fd:0      fd
 55 getsockopt               fd:0      fd
 56 clone                    allow     none
 57 fork                     allow     none
 58 vfork                    allow     none
 59 execve                   notify    exec
 60 exit                     allow     none
 61 wait4                    allow     none
 62 kill                     allow     none
 63 uname                    notify    sc
 64 semget                   allow     none
 65 semop                    allow     none
 66 semctl                   allow     none
 67 shmdt                    allow     none
 68 msgget                   allow     none
 69 msgsnd                   allow     none
 70 msgrcv                   allow     none
 71 msgctl                   allow     none
 72 fcntl                    fd:0      fd
 73 flock                    fd:0      fd
 74 fsync                    fd:0      fd
 75 fdatasync                fd:0      fd
 76 truncate                 notify    path
 77 ftruncate                fd:0      fd
 78 getdents                 fd:0      fd
 79 getcwd                   notify    path
 80 chdir                    notify    path
 81 fchdir                   notify    path
 82 rename                   notify    path
 83 mkdir                    notify    path
 84 rmdir                    notify    path
 85 creat                    notify    path
 86 link                     notify    path
 87 unlink                   notify    path
 88 symlink                  notify    path
 89 readlink                 notify    path
 90 chmod                    notify    path
 91 fchmod                   notify    path
 92 chown                    notify    path
 93 fchown                   notify    path
 94 lchown                   notify    path
 95 umask                    allow     none
 96 gettimeofday             notify    clock
 97 getrlimit                allow     none
 98 getrusage                allow     none
 99 sysinfo                  allow     none
100 times                    allow     none
101 ptrace                   allow     none
102 getuid                   notify    cred
103 syslog                   allow     none
104 getgid                   notify    cred
105 setuid                   notify    cred
106 setgid                   notify    cred
107 geteuid                  notify    cred
108 getegid                  notify    cred
109 setpgid                  allow     none
110 getppid                  allow     none
111 getpgrp                  allow     none
112 setsid                   allow     none
113 setreuid                 notify    cred
114 setregid                 notify    cred
115 getgroups                notify    cred
116 setgroups                notify    cred
117 setresuid                notify    cred
118 getresuid                notify    cred
119 setresgid                notify    cred
120 getresgid                notify    cred
121 getpgid                  allow     none
122 setfsuid                 notify    cred
123 setfsgid                 notify    cred
124 getsid                   allow     none
125 capget                   notify    cred
126 capset                   notify    cred
127 rt_sigpending            allow     none
128 rt_sigtimedwait          allow     none
129 rt_sigqueueinfo          allow     none
130 rt_sigsuspend            allow     none
131 sigaltstack              allow     none
132 utime                    notify    path
133 mknod                    notify    path
134 uselib                   notify    path
135 personality              allow     none
136 ustat                    allow     none
137 statfs                   notify    path
138 fstatfs                  fd:0      fd
139 sysfs                    allow     none
140 getpriority              allow     none
141 setpriority              allow     none
142 sched_setparam           allow     none
143 sched_getparam           allow     none
144 sched_setscheduler       allow     none
145 sched_getscheduler       allow     none
146 sched_get_priority_max   allow     none
147 sched_get_priority_min   allow     none
148 sched_rr_get_interval    allow     none
149 mlock                    allow     none
150 munlock                  allow     none
151 mlockall                 allow     none
152 munlockall               allow     none
153 vhangup                  allow     none
154 modify_ldt               allow     none
155 pivot_root               notify    path
156 _sysctl                  allow     none
157 prctl                    allow     none
158 arch_prctl               allow     none
159 adjtimex                 allow     none
160 setrlimit                allow     none
161 chroot                   notify    path
162 sync                     allow     none
163 acct                     notify    path
164 settimeofday             notify    sc
165 mount                    notify    mount
166 umount2                  notify    mount
167 swapon                   notify    path
168 swapoff                  notify    path
169 reboot                   allow     none
170 sethostname              notify    sc
171 setdomainname            notify    sc
172 iopl                     allow     none
173 ioperm                   allow     none
174 create_module            allow     none
175 init_module              allow     none
176 delete_module            allow     none
177 get_kernel_syms          allow     none
178 query_module             allow     none
179 quotactl                 notify    path
180 nfsservctl               allow     none
181 getpmsg                  allow     none
182 putpmsg                  allow     none
183 afs_syscall              allow     none
184 tuxcall                  allow     none
185 security                 allow     none
186 gettid                   allow     none
187 readahead                fd:0      fd
188 setxattr                 notify    path
189 lsetxattr                notify    path
190 fsetxattr                notify    path
191 getxattr                 notify    path
192 lgetxattr                notify    path
193 fgetxattr                notify    path
194 listxattr                notify    path
195 llistxattr               notify    path
196 flistxattr               notify    path
197 removexattr              notify    path
198 lremovexattr             notify    path
199 fremovexattr             notify    path
200 tkill                    allow     none
201 time                     notify    clock
202 futex                    allow     none
203 sched_setaffinity        allow     none
204 sched_getaffinity        allow     none
205 set_thread_area          allow     none
206 io_setup                 allow     none
207 io_destroy               allow     none
208 io_getevents             allow     none
209 io_submit                allow     none
210 io_cancel                allow     none
211 get_thread_area          allow     none
212 lookup_dcookie           allow     none
213 epoll_create             allow     none
214 epoll_ctl_old            allow     none
215 epoll_wait_old           allow     none
216 remap_file_pages         allow     none
217 getdents64               fd:0      fd
218 set_tid_address          allow     none
219 restart_syscall          allow     none
220 semtimedop               allow     none
221 fadvise64                fd:0      fd
222 timer_create             allow     none
223 timer_settime            allow     none
224 timer_gettime            allow     none
225 timer_getoverrun         allow     none
226 timer_delete             allow     none
227 clock_settime            notify    sc
228 clock_gettime            notify    clock
229 clock_getres             notify    sc
230 clock_nanosleep          allow     none
231 exit_group               allow     none
232 epoll_wait               allow     none
233 epoll_ctl                allow     none
234 tgkill                   allow     none
235 utimes                   notify    path
236 vserver                  allow     none
237 mbind                    allow     none
238 set_mempolicy            allow     none
239 get_mempolicy            allow     none
240 mq_open                  allow     none
241 mq_unlink                allow     none
242 mq_timedsend             allow     none
243 mq_timedreceive          allow     none
244 mq_notify                allow     none
245 mq_getsetattr            allow     none
246 kexec_load               allow     none
247 waitid                   allow     none
248 add_key                  allow     none
249 request_key              allow     none
250 keyctl                   allow     none
251 ioprio_set               allow     none
252 ioprio_get               allow     none
253 inotify_init             allow     none
254 inotify_add_watch        notify    path
255 inotify_rm_watch         allow     none
256 migrate_pages            allow     none
257 openat                   notify    path
258 mkdirat                  notify    path
259 mknodat                  notify    path
260 fchownat                 notify    path
261 futimesat                notify    path
262 newfstatat               notify    path
263 unlinkat                 notify    path
264 renameat                 notify    path
265 linkat                   notify    path
266 symlinkat                notify    path
267 readlinkat               notify    path
268 fchmodat                 notify    path
269 faccessat                notify    path
270 pselect6                 allow     none
271 ppoll                    allow     none
272 unshare                  allow     none
273 set_robust_list          allow     none
274 get_robust_list          allow     none
275 splice                   fd:0,2    fd
276 tee                      fd:0,1    fd
277 sync_file_range          fd:0      fd
278 vmsplice                 fd:0      fd
279 move_pages               allow     none
280 utimensat                notify    path
281 epoll_pwait              allow     none
282 signalfd                 allow     none
283 timerfd_create           allow     none
284 eventfd                  allow     none
285 fallocate                fd:0      fd
286 timerfd_settime          allow     none
287 timerfd_gettime          allow     none
288 accept4                  fd:0      fd
289 signalfd4                allow     none
290 eventfd2                 allow     none
291 epoll_create1            allow     none
292 dup3                     fd:0,1    fd
293 pipe2                    allow     none
294 inotify_init1            allow     none
295 preadv                   fd:0      fd
296 pwritev                  fd:0      fd
297 rt_tgsigqueueinfo        allow     none
298 perf_event_open          allow     none
299 recvmmsg                 fd:0      fd
300 fanotify_init            allow     none
301 fanotify_mark            notify    path
302 prlimit64                allow     none
303 name_to_handle_at        notify    path
304 open_by_handle_at        fd:0      fd
305 clock_adjtime            allow     none
306 syncfs                   fd:0      fd
307 sendmmsg                 fd:0      fd
308 setns                    allow     none
309 getcpu                   allow     none
310 process_vm_readv         allow     none
311 process_vm_writev        allow     none
312 kcmp                     allow     none
313 finit_module             allow     none
314 sched_setattr            allow     none
315 sched_getattr            allow     none
316 renameat2                notify    path
317 seccomp                  allow     none
318 getrandom                allow     none
319 memfd_create             allow     none
320 kexec_file_load          allow     none
321 bpf                      allow     none
322 execveat                 notify    exec
323 userfaultfd              allow     none
324 membarrier               allow     none
325 mlock2                   allow     none
326 copy_file_range          fd:0,2    fd
327 preadv2                  fd:0      fd
328 pwritev2                 fd:0      fd
329 pkey_mprotect            allow     none
330 pkey_alloc               allow     none
331 pkey_free                allow     none
332 statx                    notify    path
333 io_pgetevents            allow     none
334 rseq                     allow     none
424 pidfd_send_signal        allow     none
425 io_uring_setup           enosys    none
426 io_uring_enter           allow     none
427 io_uring_register        allow     none
428 open_tree                notify    path
429 move_mount               notify    path
430 fsopen                   notify    path
431 fsconfig                 notify    path
432 fsmount                  notify    path
433 fspick                   notify    path
434 pidfd_open               allow     none
435 clone3                   allow     none
436 close_range              notify    fd
437 openat2                  notify    path
438 pidfd_getfd              allow     none
439 faccessat2               notify    path
440 process_madvise          allow     none
441 epoll_pwait2             allow     none
442 mount_setattr            notify    path
443 quotactl_fd              allow     none
444 landlock_create_ruleset  allow     none
445 landlock_add_rule        allow     none
446 landlock_restrict_self   allow     none
447 memfd_secret             allow     none
448 process_mrelease         allow     none
449 futex_waitv              allow     none
450 set_mempolicy_home_node  allow     none
451 cachestat                allow     none
452 fchmodat2                notify    path
453 map_shadow_stack         allow     none
454 futex_wake               allow     none
455 futex_wait               allow     none
456 futex_requeue            allow     none
457 statmount                allow     none
458 listmount                allow     none
459 lsm_get_self_attr        allow     none
460 lsm_set_self_attr        allow     none
461 lsm_list_modules         allow     none
462 mseal                    allow     none
463 setxattrat               notify    path
464 getxattrat               notify    path
465 listxattrat              notify    path
466 removexattrat            notify    path
467 open_tree_attr           notify    path
468 file_getattr             notify    path
469 file_setattr             notify    path
`;

function parseRule(text: string): FilterRule {
  if (text.startsWith('fd:')) return { kind: 'fd', args: text.slice(3).split(',').map(Number) };
  return { kind: text as 'allow' | 'notify' | 'enosys' };
}

export const SYSCALLS: readonly SyscallInfo[] = TABLE.trim()
  .split('\n')
  .map((line) => {
    const [nr, name, rule, family] = line.trim().split(/\s+/);
    return { nr: Number(nr), name, filter: parseRule(rule), family: family as Family };
  });

const byNumber = new Map(SYSCALLS.map((s) => [s.nr, s]));
const byName = new Map(SYSCALLS.map((s) => [s.name, s]));

/** Highest syscall number the table knows; larger numbers are notified. */
export const MAX_KNOWN_NR = Math.max(...SYSCALLS.map((s) => s.nr));

export function syscallInfo(nr: number): SyscallInfo | undefined {
  return byNumber.get(nr);
}

export function syscallNumber(name: string): number {
  const s = byName.get(name);
  if (!s) throw new Error(`unknown syscall ${name}`);
  return s.nr;
}

export function syscallName(nr: number): string {
  return byNumber.get(nr)?.name ?? VIRTUAL_SYSCALL_NAMES.get(nr) ?? `syscall_${nr}`;
}

import { VirtualSyscall } from '../vulib.js';

const VIRTUAL_SYSCALL_NAMES = new Map<number, string>(Object.entries(VirtualSyscall).map(([k, v]) => [v, k]));
