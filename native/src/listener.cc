// The notification listener: one native thread RECVs every notification and answers the ones
// that nothing virtual concerns (CONTINUE) itself, from tables that TypeScript fills. The rest
// are queued for JavaScript, which answers them asynchronously with respond()/addFd().
// A second thread watches pidfds of tracked processes and reports their exit.
#include "common.h"
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

// Fast-path actions per syscall number, chosen by TypeScript. ACT_PATH: decided by the path
// fast path (paths.cc) from the mount table. ACT_FD: JS when one of the call's fd arguments
// (gFdArgs: a bit per argument) is in the reserved range of placeholders, else CONTINUE (the
// filter also notifies fds 0-2, which matter only for tracked processes). ACT_CLOCK: answered
// from the virtual clock (clock.cc).
enum Action : uint8_t { ACT_CONTINUE = 0, ACT_JS = 1, ACT_PATH = 2, ACT_FD = 3, ACT_CLOCK = 4 };
constexpr int kMaxNr = 1024;
std::atomic<uint8_t> gActions[kMaxNr];
std::atomic<uint8_t> gFdArgs[kMaxNr];
std::atomic<int> gVfdLow{0}, gVfdHigh{-1};
std::atomic<bool> gStdioDevices{false};  // umvu --stdio-devices: fds 0-2 may be devices too
// Tracked thread ids (processes with virtual state): every notification of theirs goes to JS.
constexpr uint32_t kMaxTid = 1u << 22;  // PID_MAX_LIMIT on 64-bit
std::atomic<uint64_t> gTracked[kMaxTid / 64];
std::atomic<int> gTrackedCount{0};
// While some thread is tracked, the first notification of any other thread goes to JS, which
// checks whether it descends from a tracked process (and adopts its state) or marks it checked.
std::atomic<uint64_t> gChecked[kMaxTid / 64];
std::atomic<bool> gTraceAll{false};

int gListener = -1;
size_t gNotifSize = sizeof(struct seccomp_notif);
Napi::ThreadSafeFunction gWake;
std::mutex gQueueMu;
std::vector<uint8_t> gQueue;       // raw seccomp_notif records (80 bytes each)
std::vector<int32_t> gExited;      // tids whose pidfd reported an exit
std::vector<int32_t> gReadable;    // fds watched with watchReadable that became readable
const uint32_t kReadableMark = 0xffffffff;  // the "tid" of a watchReadable entry
bool gWakePending = false;
int gEpoll = -1;

bool TestBit(std::atomic<uint64_t> *bits, uint32_t tid) {
  return tid < kMaxTid && (bits[tid / 64].load(std::memory_order_relaxed) >> (tid % 64)) & 1;
}

// Sets or clears a bit; returns whether it changed.
bool SetBit(std::atomic<uint64_t> *bits, uint32_t tid, bool on) {
  if (tid >= kMaxTid) return false;
  uint64_t bit = 1ull << (tid % 64);
  uint64_t old = on ? bits[tid / 64].fetch_or(bit) : bits[tid / 64].fetch_and(~bit);
  return ((old & bit) != 0) != on;
}

void WakeJs() {
  // called with gQueueMu held
  if (!gWakePending) {
    gWakePending = true;
    gWake.NonBlockingCall();
  }
}

Action ActionFor(const struct seccomp_notif *n) {
  if (gTraceAll.load(std::memory_order_relaxed)) return ACT_JS;
  if (TestBit(gTracked, n->pid)) return ACT_JS;
  int nr = n->data.nr;
  if (nr < 0) return ACT_JS;  // VUOS virtual syscalls (-1..-5)
  if (gTrackedCount.load(std::memory_order_relaxed) > 0 && !TestBit(gChecked, n->pid)) return ACT_JS;
  if (nr >= kMaxNr) return ACT_CONTINUE;
  Action act = (Action)gActions[nr].load(std::memory_order_relaxed);
  if (act != ACT_FD) return act;
  uint8_t fdArgs = gFdArgs[nr].load(std::memory_order_relaxed);
  for (int i = 0; i < 6; i++) {
    int fd = (int)(uint32_t)n->data.args[i];
    if (!((fdArgs >> i) & 1)) continue;
    if (fd >= gVfdLow.load(std::memory_order_relaxed) && fd <= gVfdHigh.load(std::memory_order_relaxed)) return ACT_JS;
    if (fd >= 0 && fd <= 2 && gStdioDevices.load(std::memory_order_relaxed)) return ACT_JS;
  }
  return ACT_CONTINUE;
}

void SendContinue(uint64_t id) {
  struct seccomp_notif_resp resp = {};
  resp.id = id;
  resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  ioctl(gListener, SECCOMP_IOCTL_NOTIF_SEND, &resp);  // ENOENT: the target went away
}

void ListenerLoop() {
  std::vector<uint8_t> buf(gNotifSize > 80 ? gNotifSize : 80);
  auto *n = reinterpret_cast<struct seccomp_notif *>(buf.data());
  for (;;) {
    memset(buf.data(), 0, buf.size());
    if (ioctl(gListener, SECCOMP_IOCTL_NOTIF_RECV, n) < 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      if (errno == EBADF) return;
      usleep(1000);
      continue;
    }
    // (a tracked process' calls all go to JS, which logs them)
    if (!gTraceAll.load(std::memory_order_relaxed) && !TestBit(gTracked, n->pid) &&
        HandleDeviceCall(gListener, n, gStdioDevices.load(std::memory_order_relaxed), gVfdLow.load(std::memory_order_relaxed),
                         gVfdHigh.load(std::memory_order_relaxed)))
      continue;
    Action act = ActionFor(n);
    PathVerdict v = act == ACT_CONTINUE ? PATH_CONTINUE
                    : act == ACT_PATH   ? HandlePathCall(gListener, n)
                    : act == ACT_CLOCK  ? HandleClockCall(gListener, n)
                                        : PATH_JS;
    if (v == PATH_CONTINUE) SendContinue(n->id);
    if (v != PATH_JS) continue;
    std::lock_guard<std::mutex> lock(gQueueMu);
    gQueue.insert(gQueue.end(), buf.data(), buf.data() + 80);
    WakeJs();
  }
}

void ExitWatchLoop() {
  struct epoll_event ev[64];
  for (;;) {
    int n = epoll_wait(gEpoll, ev, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    std::lock_guard<std::mutex> lock(gQueueMu);
    for (int i = 0; i < n; i++) {
      int32_t tid = (int32_t)(ev[i].data.u64 & 0xffffffff);
      int fd = (int)(ev[i].data.u64 >> 32);
      if ((uint32_t)tid == kReadableMark) {
        gReadable.push_back(fd);  // one-shot: JS reads it, then arms it again
        continue;
      }
      epoll_ctl(gEpoll, EPOLL_CTL_DEL, fd, nullptr);
      close(fd);
      gExited.push_back(tid);
    }
    WakeJs();
  }
}

// startListener(listenerFd, onWake): starts the listener and exit-watch threads.
Napi::Value StartListener(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  gListener = info[0].As<Napi::Number>().Int32Value();
  struct seccomp_notif_sizes sizes = {};
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0) gNotifSize = sizes.seccomp_notif;
  uint64_t flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
  ioctl(gListener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags);  // a speed-up only: ignore failure
  gEpoll = epoll_create1(EPOLL_CLOEXEC);
  gWake = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "umvu-listener", 0, 1);
  gWake.Unref(env);  // the view's lifetime is tracked by the control socket, not by this
  // One thread RECVs. Measured: a second one makes every notification slower (the waiters are
  // all woken, one finds nothing) and lets more signals arrive before RECV (spurious EINTR).
  std::thread(ListenerLoop).detach();
  std::thread(ExitWatchLoop).detach();
  return env.Undefined();
}

// take() -> {notifs: Buffer (80 bytes per notification), exited: number[], readable: number[]}
Napi::Value Take(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<uint8_t> q;
  std::vector<int32_t> ex, rd;
  {
    std::lock_guard<std::mutex> lock(gQueueMu);
    q.swap(gQueue);
    ex.swap(gExited);
    rd.swap(gReadable);
    gWakePending = false;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("notifs", Napi::Buffer<uint8_t>::Copy(env, q.data(), q.size()));
  Napi::Array exited = Napi::Array::New(env, ex.size());
  for (size_t i = 0; i < ex.size(); i++) exited.Set(i, ex[i]);
  out.Set("exited", exited);
  Napi::Array readable = Napi::Array::New(env, rd.size());
  for (size_t i = 0; i < rd.size(); i++) readable.Set(i, rd[i]);
  out.Set("readable", readable);
  return out;
}

// respond(id: bigint, val: number|bigint, error: number, continue: boolean) -> errno or 0
Napi::Value Respond(const Napi::CallbackInfo &info) {
  struct seccomp_notif_resp resp = {};
  resp.id = ToU64(info[0]);
  resp.val = (int64_t)ToU64(info[1]);
  resp.error = info[2].As<Napi::Number>().Int32Value();
  if (info[3].ToBoolean()) resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  int r = ioctl(gListener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  return Napi::Number::New(info.Env(), r < 0 ? errno : 0);
}

// idValid(id) -> boolean: the notification is still pending (the target did not go away).
Napi::Value IdValid(const Napi::CallbackInfo &info) {
  uint64_t id = ToU64(info[0]);
  return Napi::Boolean::New(info.Env(), ioctl(gListener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0);
}

// addFd(id, srcFd, targetFd (-1: lowest free), {send, cloexec}) -> fd number or -errno
Napi::Value AddFd(const Napi::CallbackInfo &info) {
  struct seccomp_notif_addfd a = {};
  a.id = ToU64(info[0]);
  a.srcfd = info[1].As<Napi::Number>().Uint32Value();
  int target = info[2].As<Napi::Number>().Int32Value();
  Napi::Object opts = info[3].IsObject() ? info[3].As<Napi::Object>() : Napi::Object::New(info.Env());
  if (target >= 0) {
    a.newfd = target;
    a.flags |= SECCOMP_ADDFD_FLAG_SETFD;
  }
  if (opts.Get("send").ToBoolean()) a.flags |= SECCOMP_ADDFD_FLAG_SEND;
  if (opts.Get("cloexec").ToBoolean()) a.newfd_flags |= O_CLOEXEC;
  // The ioctl waits (interruptibly) for the target to install the fd. A signal ending that wait
  // withdraws the fd, but with SEND the notification is already answered: the target's call
  // returns 0 and has no fd (seen with SIGPROF, under node --cpu-prof). Keep signals out of it.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int r = ioctl(gListener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return Napi::Number::New(info.Env(), r < 0 ? -err : r);
}

Napi::Value SetActions(const Napi::CallbackInfo &info) {
  Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
  Napi::Uint8Array fdArgs = info[1].As<Napi::Uint8Array>();
  gVfdLow.store(info[2].As<Napi::Number>().Int32Value());
  gVfdHigh.store(info[3].As<Napi::Number>().Int32Value());
  gStdioDevices.store(info[4].ToBoolean());
  for (size_t i = 0; i < (size_t)kMaxNr; i++) {
    gFdArgs[i].store(i < fdArgs.ElementLength() ? fdArgs[i] : 0, std::memory_order_relaxed);
    gActions[i].store(i < a.ElementLength() ? a[i] : (uint8_t)ACT_CONTINUE, std::memory_order_relaxed);
  }
  return info.Env().Undefined();
}

Napi::Value SetTracked(const Napi::CallbackInfo &info) {
  uint32_t tid = info[0].As<Napi::Number>().Uint32Value();
  bool on = info[1].ToBoolean();
  if (SetBit(gTracked, tid, on)) {
    // the first tracked thread: tids checked earlier may have been reused since
    if (on && gTrackedCount.fetch_add(1) == 0)
      for (auto &w : gChecked) w.store(0, std::memory_order_relaxed);
    if (!on) gTrackedCount.fetch_sub(1);
  }
  return info.Env().Undefined();
}

// setChecked(tid, on): tid does not descend from a tracked process (cleared when it exits).
Napi::Value SetChecked(const Napi::CallbackInfo &info) {
  SetBit(gChecked, info[0].As<Napi::Number>().Uint32Value(), info[1].ToBoolean());
  return info.Env().Undefined();
}

Napi::Value SetTraceAll(const Napi::CallbackInfo &info) {
  gTraceAll = info[0].ToBoolean();
  return info.Env().Undefined();
}

// watchExit(tid, isThread): report the exit of tid through take().exited.
Napi::Value WatchExit(const Napi::CallbackInfo &info) {
  int tid = info[0].As<Napi::Number>().Int32Value();
  unsigned flags = info[1].ToBoolean() ? PIDFD_THREAD : 0;
  int fd = (int)syscall(SYS_pidfd_open, tid, flags);
  if (fd < 0) return Napi::Number::New(info.Env(), -errno);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = ((uint64_t)fd << 32) | (uint32_t)tid;
  if (epoll_ctl(gEpoll, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = errno;
    close(fd);
    return Napi::Number::New(info.Env(), -err);
  }
  return Napi::Number::New(info.Env(), 0);
}

// watchReadable(fd): report once through take().readable when fd becomes readable; call it
// again after reading to be told of the next time.
Napi::Value WatchReadable(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = ((uint64_t)fd << 32) | kReadableMark;
  int r = epoll_ctl(gEpoll, EPOLL_CTL_MOD, fd, &ev);
  if (r < 0 && errno == ENOENT) r = epoll_ctl(gEpoll, EPOLL_CTL_ADD, fd, &ev);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

}  // namespace

int ListenerFd() { return gListener; }

void InitListener(Napi::Env env, Napi::Object exports) {
  exports.Set("startListener", Napi::Function::New(env, StartListener));
  exports.Set("take", Napi::Function::New(env, Take));
  exports.Set("respond", Napi::Function::New(env, Respond));
  exports.Set("idValid", Napi::Function::New(env, IdValid));
  exports.Set("addFd", Napi::Function::New(env, AddFd));
  exports.Set("setActions", Napi::Function::New(env, SetActions));
  exports.Set("setTracked", Napi::Function::New(env, SetTracked));
  exports.Set("setTraceAll", Napi::Function::New(env, SetTraceAll));
  exports.Set("setChecked", Napi::Function::New(env, SetChecked));
  exports.Set("watchExit", Napi::Function::New(env, WatchExit));
  exports.Set("watchReadable", Napi::Function::New(env, WatchReadable));
}
