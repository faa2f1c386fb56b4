// The execve assist: a seccomp notification cannot change the arguments of the call it holds,
// yet an exec of a file in a mount must run another path (the file's host path, or the
// interpreter of a script with a rebuilt argv). For that one call, the supervisor briefly
// ptraces the caller:
//   1. PTRACE_SEIZE the thread (it sleeps in the notification, killable only) and
//      PTRACE_INTERRUPT it: the trap waits until the thread returns to user mode;
//   2. answer the notification (any value): the thread leaves the kernel and stops;
//   3. write the new path (and argv) below its stack pointer, point rdi/rsi/rdx at them, set
//      rax to execve and step rip back over the 2-byte `syscall` instruction;
//   4. detach: the thread issues the new execve itself, which is notified again like any other.
// Nothing of the target's memory is overwritten (the scratch lies below the red zone), so a
// vfork parent sharing the memory is unaffected, and a failed exec returns its errno as usual.
#include "common.h"
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

const uint64_t kRedZone = 128;
const uint64_t kSyscallInsnLen = 2;  // 0f 05

// One argv element: a string to place in the scratch, or a pointer kept from the caller's argv.
struct ArgvItem {
  bool isPointer;
  std::string text;
  uint64_t pointer;
};

class ExecAssist : public Napi::AsyncWorker {
 public:
  ExecAssist(Napi::Env env, uint64_t id, pid_t tid, std::string path, bool rebuildArgv, std::vector<ArgvItem> argv,
             uint64_t argvPointer, uint64_t envp)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        id_(id),
        tid_(tid),
        path_(std::move(path)),
        rebuildArgv_(rebuildArgv),
        argv_(std::move(argv)),
        argvPointer_(argvPointer),
        envp_(envp) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  // Runs on one pool thread from start to end: ptrace requests must come from the tracer thread.
  void Execute() override {
    if (ptrace(PTRACE_SEIZE, tid_, 0, 0) < 0) {
      result_ = -errno;  // already traced (a debugger in the view), or not ours to trace
      return;
    }
    ptrace(PTRACE_INTERRUPT, tid_, 0, 0);
    struct seccomp_notif_resp resp = {};
    resp.id = id_;
    resp.error = -ENOSYS;  // replaced below: the thread never sees it
    if (ioctl(ListenerFd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) {
      ptrace(PTRACE_DETACH, tid_, 0, 0);  // the caller went away (killed) meanwhile
      return;
    }
    int status;
    pid_t w;
    while ((w = waitpid(tid_, &status, __WALL)) < 0 && errno == EINTR) {
    }
    if (w < 0 || !WIFSTOPPED(status)) return;  // killed on the way out
    // a signal-delivery-stop arrives before the interrupt's stop if a signal was pending: it is
    // delivered on detach, and its handler returns into the rebuilt call
    int sig = (status >> 16) == 0 && WSTOPSIG(status) != SIGTRAP ? WSTOPSIG(status) : 0;
    Redirect();
    ptrace(PTRACE_DETACH, tid_, 0, sig);
  }

  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), result_)); }

 private:
  void Redirect() {
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid_, 0, &regs) < 0) return;
    // scratch layout, growing down from below the red zone: strings, then the argv array
    std::vector<uint8_t> blob;
    auto place = [&blob](const std::string &s) {
      size_t at = blob.size();
      blob.insert(blob.end(), s.begin(), s.end());
      blob.push_back(0);
      return at;
    };
    size_t pathAt = place(path_);
    std::vector<size_t> textAt;
    for (auto &a : argv_) textAt.push_back(a.isPointer ? 0 : place(a.text));
    while (blob.size() % 8) blob.push_back(0);
    size_t arrayAt = blob.size();
    blob.resize(blob.size() + 8 * (argv_.size() + 1), 0);
    uint64_t base = (regs.rsp - kRedZone - blob.size()) & ~(uint64_t)15;
    for (size_t i = 0; i < argv_.size(); i++) {
      uint64_t p = argv_[i].isPointer ? argv_[i].pointer : base + textAt[i];
      memcpy(&blob[arrayAt + 8 * i], &p, 8);
    }
    std::string mem = "/proc/" + std::to_string(tid_) + "/mem";
    int fd = open(mem.c_str(), O_RDWR | O_CLOEXEC);
    bool written = fd >= 0 && pwrite(fd, blob.data(), blob.size(), (off_t)base) == (ssize_t)blob.size();
    if (fd >= 0) close(fd);
    regs.orig_rax = (uint64_t)-1;  // no syscall restart on the way back to user mode
    if (!written) {
      regs.rax = (uint64_t)-ENOMEM;  // no room below the stack pointer: the exec fails
    } else {
      regs.rax = SYS_execve;
      regs.rdi = base + pathAt;
      regs.rsi = rebuildArgv_ ? base + arrayAt : argvPointer_;
      regs.rdx = envp_;
      regs.rip -= kSyscallInsnLen;
    }
    ptrace(PTRACE_SETREGS, tid_, 0, &regs);
  }

  Napi::Promise::Deferred deferred_;
  uint64_t id_;
  pid_t tid_;
  std::string path_;
  bool rebuildArgv_;
  std::vector<ArgvItem> argv_;
  uint64_t argvPointer_, envp_;
  int result_ = 0;
};

// execAssist(id, tid, path, argv: Array<string|bigint> | bigint, envp: bigint) -> Promise<0 | -errno>
// 0: the notification was answered (the thread runs the new call, or fails it, or was killed);
// -errno: the thread cannot be traced and the notification is still pending.
// argv: the new argv (strings placed in the scratch, bigints kept as pointers), or the
// caller's argv pointer unchanged.
Napi::Value ExecAssistJs(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<ArgvItem> argv;
  bool rebuild = info[3].IsArray();
  uint64_t argvPointer = 0;
  if (rebuild) {
    Napi::Array a = info[3].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (v.IsString()) argv.push_back({false, v.As<Napi::String>().Utf8Value(), 0});
      else argv.push_back({true, "", ToU64(v)});
    }
  } else {
    argvPointer = ToU64(info[3]);
  }
  auto *w = new ExecAssist(env, ToU64(info[0]), info[1].As<Napi::Number>().Int32Value(),
                           info[2].As<Napi::String>().Utf8Value(), rebuild, std::move(argv), argvPointer,
                           ToU64(info[4]));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitPtrace(Napi::Env env, Napi::Object exports) {
  exports.Set("execAssist", Napi::Function::New(env, ExecAssistJs));
}
