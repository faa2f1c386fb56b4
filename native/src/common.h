// Shared declarations of the umvu native addon: mechanism only; policy lives in @vuos/core.
#pragma once
#include <napi.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <cstdint>
#include <sys/types.h>

// UAPI bits newer than Debian 12's kernel headers (6.1); the running kernel has them.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD 0x80 /* O_EXCL */
#endif

// Messages on the control socket between the reaper process and the supervisor.
enum ControlMessage : int32_t {
  CTL_ROOT_PID = 1,     // a = pid of the root process of the view
  CTL_LISTENER = 2,     // carries the seccomp listener fd (SCM_RIGHTS)
  CTL_EXEC_FAILED = 3,  // a = errno of the root command's execve
  CTL_ROOT_EXIT = 4,    // a = wait status of the root process
  CTL_ALL_DONE = 5,     // every process of the view has exited
  CTL_KILL_VIEW = 6,    // supervisor -> reaper: kill every process of the view
};
// Records the spawner sends on its socket (spawn.cc), same layout.
enum SpawnerMessage : int32_t {
  SPAWNER_STARTED = 1,  // answer to a request: a = pid, or -errno if it could not run
  SPAWNER_EXITED = 2,   // a = pid of a helper that ended, b = its wait status
};
struct ControlRecord {
  int32_t type;
  int32_t a;
  int32_t b;
};

void InitSpawn(Napi::Env env, Napi::Object exports);
void InitListener(Napi::Env env, Napi::Object exports);
void InitMemory(Napi::Env env, Napi::Object exports);
void InitPaths(Napi::Env env, Napi::Object exports);
void InitPtrace(Napi::Env env, Napi::Object exports);
void InitPacket(Napi::Env env, Napi::Object exports);
void InitDevices(Napi::Env env, Napi::Object exports);
void InitNetstack(Napi::Env env, Napi::Object exports);
void InitClock(Napi::Env env, Napi::Object exports);
void InitVdso(Napi::Env env, Napi::Object exports);

// The seccomp listener fd of the view (-1 before it starts).
int ListenerFd();

// Helpers shared by the files of the addon.
uint64_t ToU64(const Napi::Value &v);
Napi::Value ThrowErrno(Napi::Env env, const char *what, int err);

constexpr uint64_t kPage = 4096;
// Target memory (memory.cc): bytes read (-1: none), and 0 or errno.
ssize_t ReadTarget(pid_t pid, uint64_t addr, uint8_t *out, size_t len);
int WriteTarget(pid_t pid, uint64_t addr, const void *data, size_t len);
// Bytes between a host file (at pos) and a target's memory: bytes copied, or -errno. mapped:
// read through a mapping of the file (one copy; the caller retains it: RetainMapping).
ssize_t CopyFileToTarget(pid_t pid, uint64_t addr, size_t len, int fd, off_t pos, bool mapped);
ssize_t CopyTargetToFile(pid_t pid, uint64_t addr, size_t len, int fd, off_t pos);
// A device uses (no longer uses) the file of fd: its mapping stays while one does.
void RetainMapping(int fd);
void ReleaseMapping(int fd);

// The device I/O fast path (devices.cc): true when the call was a device's and is answered.
// stdioToo: fds 0-2 may be devices (a tracked process, umvu --stdio-devices).
bool HandleDeviceCall(int listener, const struct seccomp_notif *n, bool stdioToo, int vfdLow, int vfdHigh);

// The native path fast path (paths.cc), for syscalls TypeScript marked ACT_PATH.
enum PathVerdict { PATH_CONTINUE, PATH_JS, PATH_ANSWERED };
PathVerdict HandlePathCall(int listener, const struct seccomp_notif *n);
// The virtual clock fast path (clock.cc), for syscalls TypeScript marked ACT_CLOCK; the same verdicts.
PathVerdict HandleClockCall(int listener, const struct seccomp_notif *n);
