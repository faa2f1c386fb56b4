// Target memory access and raw system calls that node:fs lacks.
#include "common.h"
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unistd.h>
#include <vector>

// Reads len bytes at addr of pid; never crosses a page boundary in one request so that an
// unmapped page after the data does not fail the whole read. Falls back to /proc/PID/mem.
ssize_t ReadTarget(pid_t pid, uint64_t addr, uint8_t *out, size_t len) {
  size_t done = 0;
  while (done < len) {
    uint64_t a = addr + done;
    size_t chunk = std::min<size_t>(len - done, kPage - (a % kPage));
    struct iovec local = {out + done, chunk};
    struct iovec remote = {(void *)a, chunk};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0 && (errno == EPERM || errno == ENOSYS)) {
      std::string path = "/proc/" + std::to_string(pid) + "/mem";
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return done ? (ssize_t)done : -1;
      n = pread(fd, out + done, chunk, (off_t)a);
      close(fd);
    }
    if (n <= 0) return done ? (ssize_t)done : -1;
    done += n;
  }
  return done;
}

// Writes len bytes at addr of pid -> 0 or errno (EFAULT: not writable, as for the kernel's own
// copies). /proc/PID/mem only where process_vm_writev is refused as a whole.
int WriteTarget(pid_t pid, uint64_t addr, const void *data, size_t len) {
  struct iovec local = {const_cast<void *>(data), len};
  struct iovec remote = {(void *)addr, len};
  ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
  if (n == (ssize_t)len) return 0;
  if (n >= 0 || (errno != EPERM && errno != ENOSYS)) return EFAULT;
  std::string path = "/proc/" + std::to_string(pid) + "/mem";
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  n = pwrite(fd, data, len, (off_t)addr);
  int err = errno;
  close(fd);
  return n == (ssize_t)len ? 0 : n < 0 ? err : EFAULT;
}

// Moves bytes between a host file and a target's memory (the I/O of a device whose bytes are a
// host file's: vudev), in pieces of at most 4 MiB, without a JavaScript buffer per call.
constexpr size_t kTransferPiece = 4u << 20;

// Image files mapped whole (shared, read-only), by inode: a read is then one copy, from the page
// cache straight into the target. A mapping lives while a device uses its file (RetainMapping),
// and after, for the next open of the same image, until DropUnusedMappings (a device mount
// ends) or the file is deleted.
struct Mapping {
  off_t size = 0;
  void *addr = nullptr;
  int refs = 0;
};
std::mutex gMapsMu;  // (the JavaScript thread retains and releases)
std::map<std::pair<dev_t, ino_t>, Mapping> gMaps;

void Unmap(Mapping &m) {
  if (m.addr) munmap(m.addr, m.size);
  m.addr = nullptr;
}

void RetainMapping(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return;
  std::lock_guard<std::mutex> lock(gMapsMu);
  gMaps[{st.st_dev, st.st_ino}].refs++;
}

void ReleaseMapping(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return;
  std::lock_guard<std::mutex> lock(gMapsMu);
  auto it = gMaps.find({st.st_dev, st.st_ino});
  if (it == gMaps.end() || --it->second.refs > 0 || st.st_nlink > 0) return;
  Unmap(it->second);  // (deleted: its blocks are free once nothing maps it)
  gMaps.erase(it);
}

void DropUnusedMappings() {
  std::lock_guard<std::mutex> lock(gMapsMu);
  for (auto it = gMaps.begin(); it != gMaps.end();) {
    if (it->second.refs > 0) {
      ++it;
      continue;
    }
    Unmap(it->second);
    it = gMaps.erase(it);
  }
}

// (with gMapsMu held)
const uint8_t *MappedFile(int fd, off_t *size) {
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return nullptr;
  Mapping &m = gMaps[{st.st_dev, st.st_ino}];
  if (m.addr && m.size != st.st_size) Unmap(m);
  if (!m.addr) {
    void *addr = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) return nullptr;
    m.addr = addr;
    m.size = st.st_size;
  }
  *size = m.size;
  return (const uint8_t *)m.addr;
}

ssize_t CopyFileToTarget(pid_t pid, uint64_t addr, size_t len, int fd, off_t pos, bool mapped) {
  if (mapped) {
    std::lock_guard<std::mutex> lock(gMapsMu);
    off_t size;
    if (const uint8_t *map = MappedFile(fd, &size)) {
      size_t n = pos >= size ? 0 : std::min<size_t>(len, size - pos);
      int err = n ? WriteTarget(pid, addr, map + pos, n) : 0;
      return err ? -err : (ssize_t)n;
    }
  }
  static thread_local std::vector<uint8_t> buf;
  size_t done = 0;
  while (done < len) {
    size_t want = std::min(len - done, kTransferPiece);
    if (buf.size() < want) buf.resize(want);
    ssize_t n = pread(fd, buf.data(), want, pos + (off_t)done);
    if (n < 0) return done ? (ssize_t)done : -errno;
    if (n == 0) break;
    int err = WriteTarget(pid, addr + done, buf.data(), n);
    if (err) return done ? (ssize_t)done : -err;
    done += n;
    if ((size_t)n < want) break;
  }
  return done;
}

ssize_t CopyTargetToFile(pid_t pid, uint64_t addr, size_t len, int fd, off_t pos) {
  static thread_local std::vector<uint8_t> buf;
  size_t done = 0;
  while (done < len) {
    size_t want = std::min(len - done, kTransferPiece);
    if (buf.size() < want) buf.resize(want);
    // one request for the whole piece; page by page only when part of it is unreadable
    struct iovec local = {buf.data(), want};
    struct iovec remote = {(void *)(addr + done), want};
    ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (got != (ssize_t)want) got = ReadTarget(pid, addr + done, buf.data(), want);
    if (got <= 0) return done ? (ssize_t)done : -EFAULT;
    ssize_t n = pwrite(fd, buf.data(), got, pos + (off_t)done);
    if (n < 0) return done ? (ssize_t)done : -errno;
    done += n;
    if (n < got || got < (ssize_t)want) break;
  }
  return done;
}

namespace {

Napi::Value ReadMem(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  uint64_t addr = ToU64(info[1]);
  size_t len = info[2].As<Napi::Number>().Uint32Value();
  if (len > (64u << 20)) return ThrowErrno(env, "readMem", EINVAL);  // never a giant allocation
  std::vector<uint8_t> buf(len);
  ssize_t n = len ? ReadTarget(pid, addr, buf.data(), len) : 0;
  if (n < 0 || (size_t)n < len) return ThrowErrno(env, "readMem", n < 0 ? errno : EFAULT);
  return Napi::Buffer<uint8_t>::Copy(env, buf.data(), len);
}

// readString(pid, addr, max) -> string, or null when unreadable / not terminated within max.
Napi::Value ReadString(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  uint64_t addr = ToU64(info[1]);
  size_t max = info.Length() > 2 ? info[2].As<Napi::Number>().Uint32Value() : 4096;
  std::string s;
  uint8_t buf[kPage];
  while (s.size() < max) {
    uint64_t a = addr + s.size();
    size_t chunk = std::min<size_t>(max - s.size(), kPage - (a % kPage));
    ssize_t n = ReadTarget(pid, a, buf, chunk);
    if (n <= 0) return env.Null();
    void *nul = memchr(buf, 0, n);
    if (nul) {
      s.append((char *)buf, (uint8_t *)nul - buf);
      return Napi::String::New(env, s);
    }
    s.append((char *)buf, n);
  }
  return env.Null();
}

// writeMem(pid, addr, buffer) -> 0 or errno.
Napi::Value WriteMem(const Napi::CallbackInfo &info) {
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  uint64_t addr = ToU64(info[1]);
  Napi::Buffer<uint8_t> data = info[2].As<Napi::Buffer<uint8_t>>();
  return Napi::Number::New(info.Env(), WriteTarget(pid, addr, data.Data(), data.Length()));
}

// syscall(nr, ...args) -> result or -errno. Arguments: number, bigint, Buffer (its address),
// string (a NUL-terminated copy), null/undefined (0). Used by the vu_* commands.
Napi::Value RawSyscall(const Napi::CallbackInfo &info) {
  long nr = info[0].As<Napi::Number>().Int64Value();
  uint64_t a[6] = {0, 0, 0, 0, 0, 0};
  std::vector<std::string> strings;
  strings.reserve(6);
  for (size_t i = 1; i < info.Length() && i <= 6; i++) {
    Napi::Value v = info[i];
    if (v.IsBuffer()) {
      a[i - 1] = (uint64_t)v.As<Napi::Buffer<uint8_t>>().Data();
    } else if (v.IsString()) {
      strings.push_back(v.As<Napi::String>().Utf8Value());
      a[i - 1] = (uint64_t)strings.back().c_str();
    } else {
      a[i - 1] = ToU64(v);
    }
  }
  long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : (double)r);
}

// execve(path, argv, envp, keepFds) -> errno (only returns on failure): replaces this process.
// keepFds lose close-on-exec first (node sets it on every fd, inherited ones included).
Napi::Value Execve(const Napi::CallbackInfo &info) {
  if (info.Length() > 3 && info[3].IsArray()) {
    Napi::Array keep = info[3].As<Napi::Array>();
    for (uint32_t i = 0; i < keep.Length(); i++) fcntl(keep.Get(i).As<Napi::Number>().Int32Value(), F_SETFD, 0);
  }
  std::string path = info[0].ToString().Utf8Value();
  std::vector<std::string> argv, envp;
  Napi::Array a = info[1].As<Napi::Array>(), e = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) argv.push_back(a.Get(i).ToString().Utf8Value());
  for (uint32_t i = 0; i < e.Length(); i++) envp.push_back(e.Get(i).ToString().Utf8Value());
  std::vector<char *> av, ev;
  for (auto &s : argv) av.push_back(s.data());
  for (auto &s : envp) ev.push_back(s.data());
  av.push_back(nullptr);
  ev.push_back(nullptr);
  execve(path.c_str(), av.data(), ev.data());
  return Napi::Number::New(info.Env(), errno);
}


// fileToMem(pid, addr, len, fd, pos) -> bytes copied (short at the file's end) or -errno
Napi::Value FileToMem(const Napi::CallbackInfo &info) {
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  uint64_t addr = ToU64(info[1]);
  size_t len = (size_t)info[2].As<Napi::Number>().Int64Value();
  int fd = info[3].As<Napi::Number>().Int32Value();
  off_t pos = (off_t)info[4].As<Napi::Number>().Int64Value();
  // (no mapping: fd is a module's, which it may close; the listener maps its own dups)
  return Napi::Number::New(info.Env(), (double)CopyFileToTarget(pid, addr, len, fd, pos, false));
}

// memToFile(pid, addr, len, fd, pos) -> bytes copied or -errno
Napi::Value MemToFile(const Napi::CallbackInfo &info) {
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  uint64_t addr = ToU64(info[1]);
  size_t len = (size_t)info[2].As<Napi::Number>().Int64Value();
  int fd = info[3].As<Napi::Number>().Int32Value();
  off_t pos = (off_t)info[4].As<Napi::Number>().Int64Value();
  return Napi::Number::New(info.Env(), (double)CopyTargetToFile(pid, addr, len, fd, pos));
}

// dropUnusedMappings(): the image mappings no open device uses go (a device mount ended)
Napi::Value DropUnused(const Napi::CallbackInfo &info) {
  DropUnusedMappings();
  return info.Env().Undefined();
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("readMem", Napi::Function::New(env, ReadMem));
  exports.Set("readString", Napi::Function::New(env, ReadString));
  exports.Set("writeMem", Napi::Function::New(env, WriteMem));
  exports.Set("syscall", Napi::Function::New(env, RawSyscall));
  exports.Set("execve", Napi::Function::New(env, Execve));
  exports.Set("fileToMem", Napi::Function::New(env, FileToMem));
  exports.Set("memToFile", Napi::Function::New(env, MemToFile));
  exports.Set("dropUnusedMappings", Napi::Function::New(env, DropUnused));
}
