// The device I/O fast path: read, write, pread64 and pwrite64 on the placeholder fd of an open
// device (TypeScript's families/devices.ts) are served by the listener thread itself, from a
// table TypeScript fills: per placeholder (the inode of the socket end the process holds), the
// range of a host file the device is, the access mode, whether writes are refused, and the
// file position, which lives here (TypeScript reads and sets it for lseek and the vector
// calls). Bytes are clipped to the range as Linux clips a block device: EOF at the end, ENOSPC
// for a write there. The same calls on fds 0-2 of a tracked process (notified with umvu
// --stdio-devices) that are no device are continued; other cases go on to the usual path.
#include "common.h"
#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <string>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace {

struct Device {
  int fd;  // umvu's own dup of the module's fd: a close by the module cannot redirect a transfer
  ~Device() {
    ReleaseMapping(fd);
    close(fd);
  }
  int64_t offset;
  int64_t size;
  int access;  // O_RDONLY, O_WRONLY or O_RDWR
  std::atomic<bool> readOnly;
  std::mutex posMu;  // one read or write at a time moves the position
  int64_t pos = 0;
};

std::mutex gMu;
std::unordered_map<uint64_t, std::shared_ptr<Device>> gDevices;  // by the placeholder's inode
std::atomic<int> gCount{0};

std::shared_ptr<Device> Find(uint64_t ino) {
  std::lock_guard<std::mutex> lock(gMu);
  auto it = gDevices.find(ino);
  return it == gDevices.end() ? nullptr : it->second;
}

void Reply(int listener, uint64_t id, int64_t val, int err, bool continued = false) {
  struct seccomp_notif_resp resp = {};
  resp.id = id;
  resp.val = err ? 0 : val;
  resp.error = err ? -err : 0;
  resp.flags = continued ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
  ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

// deviceAdd(ino, fd, offset, size, access, readOnly)
Napi::Value DeviceAdd(const Napi::CallbackInfo &info) {
  auto d = std::make_shared<Device>();
  uint64_t ino = (uint64_t)info[0].As<Napi::Number>().Int64Value();
  d->fd = fcntl(info[1].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (d->fd < 0) return ThrowErrno(info.Env(), "deviceAdd", errno);
  RetainMapping(d->fd);
  d->offset = info[2].As<Napi::Number>().Int64Value();
  d->size = info[3].As<Napi::Number>().Int64Value();
  d->access = info[4].As<Napi::Number>().Int32Value();
  d->readOnly = info[5].ToBoolean();
  std::lock_guard<std::mutex> lock(gMu);
  gDevices[ino] = d;
  gCount = (int)gDevices.size();
  return info.Env().Undefined();
}

// deviceRemove(ino)
Napi::Value DeviceRemove(const Napi::CallbackInfo &info) {
  std::lock_guard<std::mutex> lock(gMu);
  gDevices.erase((uint64_t)info[0].As<Napi::Number>().Int64Value());
  gCount = (int)gDevices.size();
  return info.Env().Undefined();
}

// devicePos(ino[, pos]) -> the position (after setting it)
Napi::Value DevicePos(const Napi::CallbackInfo &info) {
  auto d = Find((uint64_t)info[0].As<Napi::Number>().Int64Value());
  if (!d) return Napi::Number::New(info.Env(), -1);
  std::lock_guard<std::mutex> lock(d->posMu);
  if (info.Length() > 1) d->pos = info[1].As<Napi::Number>().Int64Value();
  return Napi::Number::New(info.Env(), (double)d->pos);
}

// deviceReadOnly(ino, readOnly)
Napi::Value DeviceReadOnly(const Napi::CallbackInfo &info) {
  if (auto d = Find((uint64_t)info[0].As<Napi::Number>().Int64Value())) d->readOnly = info[1].ToBoolean();
  return info.Env().Undefined();
}

}  // namespace

// Larger transfers run on a thread of their own: the listener must not stop receiving for long.
constexpr int64_t kInlineMax = 1 << 20;

// Moves the bytes of one call and answers it; the position moves only if the caller gets the
// answer (it was not interrupted meanwhile).
void Transfer(int listener, std::shared_ptr<Device> d, struct seccomp_notif n, bool writing, bool positioned, int64_t at) {
  std::unique_lock<std::mutex> lock(d->posMu, std::defer_lock);
  if (!positioned) {
    lock.lock();
    at = d->pos;
  }
  int64_t want = (int64_t)n.data.args[2];
  int64_t len = std::min<int64_t>(want, std::max<int64_t>(0, d->size - at));
  if (len == 0) return Reply(listener, n.id, 0, want > 0 && writing ? ENOSPC : 0);
  uint64_t addr = n.data.args[1];
  ssize_t r = writing ? CopyTargetToFile(n.pid, addr, len, d->fd, d->offset + at) : CopyFileToTarget(n.pid, addr, len, d->fd, d->offset + at, true);
  if (r < 0) return Reply(listener, n.id, 0, (int)-r);
  struct seccomp_notif_resp resp = {};
  resp.id = n.id;
  resp.val = r;
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0 && !positioned) d->pos = at + r;
}

bool HandleDeviceCall(int listener, const struct seccomp_notif *n, bool stdioToo, int vfdLow, int vfdHigh) {
  if (gCount.load(std::memory_order_relaxed) == 0) return false;
  int nr = n->data.nr;
  bool writing = nr == SYS_write || nr == SYS_pwrite64;
  if (!writing && nr != SYS_read && nr != SYS_pread64) return false;
  int fd = (int)(uint32_t)n->data.args[0];
  if (!(fd >= vfdLow && fd <= vfdHigh) && !(stdioToo && fd >= 0 && fd <= 2)) return false;
  struct stat st;
  std::string link = "/proc/" + std::to_string(n->pid) + "/fd/" + std::to_string(fd);
  auto d = stat(link.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) ? Find(st.st_ino) : nullptr;
  if (!d) {
    // fd 0-2 and no device: the kernel's (JS would only check the same)
    if (fd > 2) return false;
    Reply(listener, n->id, 0, 0, true);
    return true;
  }
  int64_t want = (int64_t)n->data.args[2];
  bool positioned = nr == SYS_pread64 || nr == SYS_pwrite64;
  int64_t at = positioned ? (int64_t)n->data.args[3] : 0;
  // (O_ACCMODE 3, "ioctl only", neither reads nor writes)
  if (d->access == (writing ? O_RDONLY : O_WRONLY) || d->access == O_ACCMODE) return Reply(listener, n->id, 0, EBADF), true;
  if (want < 0) return Reply(listener, n->id, 0, EFAULT), true;
  if (positioned && at < 0) return Reply(listener, n->id, 0, EINVAL), true;
  if (writing && d->readOnly) return Reply(listener, n->id, 0, EPERM), true;
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id) < 0) return true;  // gone, or interrupted
  if (want <= kInlineMax) Transfer(listener, d, *n, writing, positioned, at);
  else std::thread(Transfer, listener, d, *n, writing, positioned, at).detach();
  return true;
}

void InitDevices(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceAdd", Napi::Function::New(env, DeviceAdd));
  exports.Set("deviceRemove", Napi::Function::New(env, DeviceRemove));
  exports.Set("devicePos", Napi::Function::New(env, DevicePos));
  exports.Set("deviceReadOnly", Napi::Function::New(env, DeviceReadOnly));
}
