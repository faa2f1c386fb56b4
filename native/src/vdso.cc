// An exec whose program runs without the vDSO. The kernel maps the vDSO into every new program
// and names it in the auxiliary vector (AT_SYSINFO_EHDR); the C library (static or dynamic), Go
// and others read the clocks there, with no system call a view could see. For an exec that the
// supervisor lets the kernel perform, the new program can be made to overlook it:
//   1. PTRACE_SEIZE the thread (it sleeps in the notification, killable only) with
//      PTRACE_O_TRACEEXEC, and PTRACE_INTERRUPT it;
//   2. answer the notification with CONTINUE: the kernel performs the exec;
//   3. a successful exec stops at PTRACE_EVENT_EXEC, before the new program's first instruction,
//      its stack pointer on argc: past argv and envp, the auxiliary vector's AT_SYSINFO_EHDR
//      entry becomes AT_IGNORE. A failed exec stops instead at the interrupt, on its way back to
//      user mode with its errno (the interrupt comes before any signal);
//   4. detach, which drops the interrupt still pending after an exec.
// The vDSO stays mapped and /proc/PID/auxv (the kernel's copy) still names it. Only a process'
// leader is handled: the exec of another thread takes the leader's tid on the way.
#include "common.h"
#include <cerrno>
#include <cstring>
#include <elf.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// execHidingVdso's results (negative: -errno, nothing done and the notification still pending)
enum ExecOutcome { EXEC_DONE = 0, EXEC_FAILED = 1, EXEC_GONE = 2 };
const uint64_t kUserCs64 = 0x33;  // the code segment of 64-bit user mode (__USER_CS)
const uint64_t kMaxWords = 1 << 20;  // argv + envp + auxv pointers read at most

// Words of a stopped tracee's memory, a page read at a time. (A program that an unprivileged
// tracer may not read, an execute-only file, is undumpable: its memory cannot be read at all.)
class StackWords {
 public:
  explicit StackWords(pid_t tid) : tid_(tid) {}
  bool Get(uint64_t addr, uint64_t *out) {
    uint64_t page = addr & ~(kPage - 1);
    if (page != page_) {
      if (ReadTarget(tid_, page, buf_, kPage) != (ssize_t)kPage) return false;
      page_ = page;
    }
    memcpy(out, buf_ + (addr - page), 8);
    return true;
  }

 private:
  pid_t tid_;
  uint64_t page_ = 1;  // (no page starts at 1)
  uint8_t buf_[kPage];
};

// Turns AT_SYSINFO_EHDR into AT_IGNORE in the auxiliary vector of the program the thread
// just exec'd (stopped at PTRACE_EVENT_EXEC, its stack as the kernel built it).
void HideVdso(pid_t tid) {
  struct user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, tid, 0, &regs) < 0 || regs.cs != kUserCs64) return;  // (a 32-bit program)
  StackWords words(tid);
  uint64_t at = regs.rsp, argc, w, n = 0;
  if (!words.Get(at, &argc) || argc >= kMaxWords) return;
  at += 8 * (argc + 2);  // argc, argv[], NULL
  for (;; at += 8) {     // envp[], NULL
    if (!words.Get(at, &w) || ++n > kMaxWords) return;
    if (w == 0) break;
  }
  for (at += 8; words.Get(at, &w) && w != AT_NULL && ++n <= kMaxWords; at += 16) {  // auxv: {type, value}...
    if (w != AT_SYSINFO_EHDR) continue;
    uint64_t ignore = AT_IGNORE;
    WriteTarget(tid, at, &ignore, sizeof ignore);
    return;
  }
}

// Whether tid leads its process: only then is there a thread group tid with a thread tid
// (signal 0 sends nothing).
bool IsLeader(pid_t tid) { return syscall(SYS_tgkill, tid, tid, 0) == 0 || errno != ESRCH; }

class ExecHidingVdso : public Napi::AsyncWorker {
 public:
  ExecHidingVdso(Napi::Env env, uint64_t id, pid_t tid)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), id_(id), tid_(tid) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  // Runs on one pool thread from start to end: ptrace requests must come from the tracer thread.
  void Execute() override {
    if (!IsLeader(tid_)) {
      result_ = -EXDEV;
      return;
    }
    if (ptrace(PTRACE_SEIZE, tid_, 0, PTRACE_O_TRACEEXEC) < 0) {
      result_ = -errno;  // already traced (a debugger in the view), or not ours to trace
      return;
    }
    ptrace(PTRACE_INTERRUPT, tid_, 0, 0);
    struct seccomp_notif_resp resp = {};
    resp.id = id_;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    ioctl(ListenerFd(), SECCOMP_IOCTL_NOTIF_SEND, &resp);  // fails only if the thread was killed
    int status;
    pid_t w;
    // (a thread killed meanwhile: its death is ours to reap, we trace it)
    while ((w = waitpid(tid_, &status, __WALL)) < 0 && errno == EINTR) {
    }
    if (w < 0 || !WIFSTOPPED(status)) {
      result_ = EXEC_GONE;
      return;
    }
    int event = status >> 16;
    if (event == PTRACE_EVENT_EXEC) HideVdso(tid_);
    result_ = event == PTRACE_EVENT_EXEC ? EXEC_DONE : EXEC_FAILED;
    // a signal-delivery stop (not expected before the interrupt's) gets its signal back
    ptrace(PTRACE_DETACH, tid_, 0, event == 0 ? WSTOPSIG(status) : 0);
  }

  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), result_)); }

 private:
  Napi::Promise::Deferred deferred_;
  uint64_t id_;
  pid_t tid_;
  int result_ = 0;
};

// execHidingVdso(id, tid) -> Promise<0 | 1 | 2 | -errno>
Napi::Value ExecHidingVdsoJs(const Napi::CallbackInfo &info) {
  auto *w = new ExecHidingVdso(info.Env(), ToU64(info[0]), info[1].As<Napi::Number>().Int32Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitVdso(Napi::Env env, Napi::Object exports) {
  exports.Set("execHidingVdso", Napi::Function::New(env, ExecHidingVdsoJs));
}
