// The call redirect ("reissue"): a seccomp notification cannot change the arguments of the call
// it holds, yet some calls must be made by the caller itself with other arguments: an exec of a
// file in a mount must run its host path (or a script's interpreter with a rebuilt argv), and an
// O_PATH open must leave an O_PATH fd in the caller, which ADDFD cannot inject. For such a
// call, the supervisor briefly ptraces the caller:
//   1. PTRACE_SEIZE the thread (it sleeps in the notification, killable only) and
//      PTRACE_INTERRUPT it: the trap waits until the thread returns to user mode;
//   2. answer the notification (any value): the thread leaves the kernel and stops;
//   3. write the new strings (and pointer arrays) below its stack pointer, load the new call's
//      number and arguments into its registers and step rip back over the 2-byte `syscall`;
//   4. detach: the thread makes the new call itself, which is notified again like any other.
// If a signal is pending at the stop, the original call is restarted instead (after the
// handler) and comes back as a new notification. Nothing of the target's memory in use is
// overwritten (the scratch lies below the red zone and a gap for a signal frame; a thread
// running on a small sigaltstack is the exception), so a vfork parent sharing the memory is
// unaffected, and a failed call returns its errno as usual. The argument registers are left
// changed (they are caller-saved in the C ABI).
#include "common.h"
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <functional>
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

// An argument of the new call: a value, a string placed in the scratch, or a NULL-terminated
// array of pointers (to strings placed in the scratch, or kept from the caller's memory).
struct Arg {
  enum Kind { kValue, kString, kArray } kind;
  uint64_t value = 0;
  std::string text;
  std::vector<Arg> items;  // kArray: kValue (a pointer kept) or kString
};

Arg ToArg(const Napi::Value &v) {
  Arg a{Arg::kValue};
  if (v.IsString()) {
    a.kind = Arg::kString;
    a.text = v.As<Napi::String>().Utf8Value();
  } else if (v.IsArray()) {
    a.kind = Arg::kArray;
    Napi::Array arr = v.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) a.items.push_back(ToArg(arr.Get(i)));
  } else {
    a.value = ToU64(v);
  }
  return a;
}

class Reissue : public Napi::AsyncWorker {
 public:
  Reissue(Napi::Env env, uint64_t id, pid_t tid, long origNr, long nr, std::vector<Arg> args)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        id_(id),
        tid_(tid),
        origNr_(origNr),
        nr_(nr),
        args_(std::move(args)) {}

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
    bool sent = ioctl(ListenerFd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0;
    int status;
    pid_t w;
    // not sent: the caller was killed meanwhile; its death is ours to reap (we trace it)
    while ((w = waitpid(tid_, &status, __WALL)) < 0 && errno == EINTR) {
    }
    if (w < 0 || !WIFSTOPPED(status)) return;  // killed on the way out
    if (sent && SignalPending()) Restart();
    else if (sent) LoadCall();
    ptrace(PTRACE_DETACH, tid_, 0, 0);
  }

  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), result_)); }

 private:
  // A signal the thread will take on its way out: its handler's frame would land where the
  // scratch goes. /proc/TID/status: pending for the thread or the process, and not blocked.
  bool SignalPending() {
    std::string path = "/proc/" + std::to_string(tid_) + "/status";
    FILE *f = fopen(path.c_str(), "re");
    if (!f) return false;
    unsigned long long pnd = 0, shd = 0, blk = 0, v;
    char line[256];
    while (fgets(line, sizeof line, f)) {
      if (sscanf(line, "SigPnd: %llx", &v) == 1) pnd = v;
      else if (sscanf(line, "ShdPnd: %llx", &v) == 1) shd = v;
      else if (sscanf(line, "SigBlk: %llx", &v) == 1) blk = v;
    }
    fclose(f);
    return ((pnd | shd) & ~blk) != 0;
  }

  // Lets the signal be handled first, then the original call starts again (and is notified
  // again): the kernel restarts a call that returns -ERESTARTNOINTR once the handler is done.
  void Restart() {
    const long kErestartNoIntr = 513;
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid_, 0, &regs) < 0) return;
    regs.orig_rax = origNr_;
    regs.rax = (uint64_t)-kErestartNoIntr;
    ptrace(PTRACE_SETREGS, tid_, 0, &regs);
  }

  void LoadCall() {
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid_, 0, &regs) < 0) return;
    // the scratch: strings first, then pointer arrays, addressed from its base once known
    std::vector<uint8_t> blob;
    std::vector<std::pair<size_t, const Arg *>> fixups;  // blob offset of a pointer -> what it points to
    std::vector<std::pair<const Arg *, size_t>> placed;  // string or array -> its offset
    auto offsetOf = [&placed](const Arg *a) {
      for (auto &p : placed)
        if (p.first == a) return p.second;
      return (size_t)0;
    };
    std::function<void(const Arg &)> placeStrings = [&](const Arg &a) {
      if (a.kind == Arg::kString) {
        placed.push_back({&a, blob.size()});
        blob.insert(blob.end(), a.text.begin(), a.text.end());
        blob.push_back(0);
      }
      for (auto &item : a.items) placeStrings(item);
    };
    for (auto &a : args_) placeStrings(a);
    for (auto &a : args_) {
      if (a.kind != Arg::kArray) continue;
      while (blob.size() % 8) blob.push_back(0);
      placed.push_back({&a, blob.size()});
      for (auto &item : a.items) {
        fixups.push_back({blob.size(), &item});
        blob.resize(blob.size() + 8, 0);
      }
      blob.resize(blob.size() + 8, 0);  // NULL
    }
    // a gap below the red zone leaves room for a signal frame arriving before the new call is
    // made; a stack mapped less deep than that gets the scratch right below the red zone
    std::string mem = "/proc/" + std::to_string(tid_) + "/mem";
    int fd = open(mem.c_str(), O_RDWR | O_CLOEXEC);
    uint64_t base = 0;
    bool written = blob.empty();
    for (uint64_t gap : {16384, 4096, 0}) {
      if (written || fd < 0) break;
      base = (regs.rsp - kRedZone - gap - blob.size()) & ~(uint64_t)15;
      for (auto &f : fixups) {
        uint64_t p = f.second->kind == Arg::kValue ? f.second->value : base + offsetOf(f.second);
        memcpy(&blob[f.first], &p, 8);
      }
      written = pwrite(fd, blob.data(), blob.size(), (off_t)base) == (ssize_t)blob.size();
    }
    if (fd >= 0) close(fd);
    regs.orig_rax = (uint64_t)-1;  // no syscall restart on the way back to user mode
    if (!written) {
      regs.rax = (uint64_t)-ENOMEM;  // no room below the stack pointer: the call fails
    } else {
      unsigned long long *reg[] = {&regs.rdi, &regs.rsi, &regs.rdx, &regs.r10, &regs.r8, &regs.r9};
      for (size_t i = 0; i < args_.size() && i < 6; i++)
        *reg[i] = args_[i].kind == Arg::kValue ? args_[i].value : base + offsetOf(&args_[i]);
      regs.rax = nr_;
      regs.rip -= kSyscallInsnLen;
    }
    ptrace(PTRACE_SETREGS, tid_, 0, &regs);
  }

  Napi::Promise::Deferred deferred_;
  uint64_t id_;
  pid_t tid_;
  long origNr_;  // the call being replaced (restarted as is if a signal comes first)
  long nr_;
  std::vector<Arg> args_;
  int result_ = 0;
};

// reissue(id, tid, origNr, nr, args) -> Promise<0 | -errno>
// args: up to 6 of bigint/number (a value), string (placed), or array of string/bigint (a
// NULL-terminated pointer array). 0: the notification was answered (the thread makes the new
// call, or was killed); -errno: the thread cannot be traced and the notification is pending.
Napi::Value ReissueJs(const Napi::CallbackInfo &info) {
  std::vector<Arg> args;
  Napi::Array a = info[4].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length() && i < 6; i++) args.push_back(ToArg(a.Get(i)));
  auto *w = new Reissue(info.Env(), ToU64(info[0]), info[1].As<Napi::Number>().Int32Value(),
                        info[2].As<Napi::Number>().Int64Value(), info[3].As<Napi::Number>().Int64Value(), std::move(args));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitPtrace(Napi::Env env, Napi::Object exports) {
  exports.Set("reissue", Napi::Function::New(env, ReissueJs));
}
