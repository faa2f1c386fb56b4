// The native path fast path. For the path syscalls TypeScript marks ACT_PATH, the listener
// thread reads the path arguments and decides, from the mount table TypeScript pushes:
// - CONTINUE when the kernel's own resolution provably reaches no mount (the view would
//   resolve the path exactly as the kernel does);
// - for a call with a native operation, under a mount that is a pure prefix redirect, when the
//   resolution provably stays inside it: perform it on the host tree and answer;
// - anything else goes to JavaScript.
// The proof, per path: the base (root, cwd or dirfd, as the kernel names it) is outside every
// mount; a lexical walk of the path from the base enters no mount point; and the kernel finds no
// symlink on that walk (openat2 RESOLVE_NO_SYMLINKS), so the lexical walk is the real one.
#include "common.h"
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/openat2.h>
#include <memory>
#include <string>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr int kMaxPathNr = 512;
constexpr int kPathMax = 4096;
constexpr int kXattrSizeMax = 65536;
constexpr int kTmpfileBit = 020000000;  // O_TMPFILE without its O_DIRECTORY
// open flags a native open may pass to openat2 (which, unlike open, refuses unknown bits)
constexpr int kOpenFlagsOk = O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | O_LARGEFILE |
                             O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_TRUNC | O_EXCL | O_NOCTTY |
                             FASYNC;

// One path argument: where the path, its dirfd and the flags that decide following are.
struct ArgLayout {
  int8_t arg = -1;
  int8_t dirfd = -1;       // -1: relative to the cwd
  int8_t flags = -1;       // -1: `follow` is fixed
  int8_t emptyFlags = -1;  // flags argument whose AT_EMPTY_PATH allows an empty path
  bool follow = false;
  uint32_t nofollow = 0;   // follow unless this bit is set in flags...
  uint32_t followBit = 0;  // ...or (nofollow == 0) only if this bit is set
};

// Operations the listener can perform on the host tree of a pure redirect (argument indexes).
enum OpKind : uint8_t { OP_NONE, OP_STAT, OP_STATX, OP_ACCESS, OP_READLINK, OP_OPEN, OP_GETXATTR };
struct Op {
  OpKind kind = OP_NONE;
  int8_t out = -1, flags = -1, mask = -1, mode = -1, size = -1, name = -1;
};

struct CallLayout {
  int npaths = 0;
  ArgLayout paths[2];
  Op op;
};

struct Mount {
  std::string path;  // view path of the mount point ("" never: TypeScript keeps root mounts in JS)
  int hostFd = -1;   // O_PATH fd of the host directory of a pure prefix redirect, else -1
  std::string host;
  bool namePrefix = false;  // also the names that extend the last component (/dev/hda: /dev/hda1)
};

// A host directory standing for a view directory: relative paths from under it go to JS.
struct HostDir {
  std::string prefix;
  bool singleNameOk;  // a single name (not `..`) resolves the same on the host (pure redirects)
};

struct Table {
  std::vector<Mount> mounts;
  std::vector<HostDir> hostDirs;
  CallLayout calls[kMaxPathNr];
  int vfdLow = 0, vfdHigh = -1;
  bool fdStatToJs = false;  // AT_EMPTY_PATH calls on fds go to JS (fds of virtual files)
  ~Table() {
    for (auto &m : mounts)
      if (m.hostFd >= 0) close(m.hostFd);
  }
};

std::shared_ptr<const Table> gTable;

// A path argument checked: safe for the kernel, for JS, or inside a pure mount.
struct Checked {
  enum Kind { SAFE, JS, MOUNT } kind = JS;
  const Mount *mount = nullptr;
  std::string rest;  // MOUNT: the path inside the mount, relative to its host directory
  bool follow = false;
};

int Openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags;
  how.resolve = resolve;
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
};

// The NUL-terminated string at addr of pid into out (kPathMax bytes); false if unreadable or
// longer than the kernel accepts.
bool ReadPath(pid_t pid, uint64_t addr, char *out, size_t max) {
  size_t done = 0;
  while (done < max) {
    uint64_t a = addr + done;
    size_t chunk = std::min<size_t>(max - done, kPage - (a % kPage));
    if (ReadTarget(pid, a, (uint8_t *)out + done, chunk) != (ssize_t)chunk) return false;
    if (memchr(out + done, 0, chunk)) return true;
    done += chunk;
  }
  return false;
}

// The kernel's name of the cwd or of an fd of tid; false if it is not a directory path.
bool BaseOf(pid_t tid, int dirfd, std::string &base) {
  char link[64], buf[kPathMax];
  if (dirfd == AT_FDCWD)
    snprintf(link, sizeof link, "/proc/%d/cwd", tid);
  else
    snprintf(link, sizeof link, "/proc/%d/fd/%d", tid, dirfd);
  ssize_t n = readlink(link, buf, sizeof buf);
  if (n <= 0 || n >= (ssize_t)sizeof buf || buf[0] != '/') return false;
  base.assign(buf, n);
  return true;
}

// path is the mount point or below it
bool Under(const std::string &path, const std::string &mount) {
  return path.compare(0, mount.size(), mount) == 0 && (path.size() == mount.size() || path[mount.size()] == '/');
}

const Mount *MountAt(const Table &t, const std::string &path) {
  for (auto &m : t.mounts) {
    if (m.path == path) return &m;
    if (m.namePrefix && path.compare(0, m.path.size(), m.path) == 0 && path.find('/', m.path.size()) == std::string::npos) return &m;
  }
  return nullptr;
}

Checked Check(const Table &t, const struct seccomp_notif *n, const ArgLayout &l) {
  Checked c;
  const __u64 *args = n->data.args;
  auto int32 = [&](int i) { return (int)(uint32_t)args[i]; };
  if (args[l.arg] == 0) return c;
  char path[kPathMax];
  if (!ReadPath(n->pid, args[l.arg], path, sizeof path)) return c;
  int flags = l.flags >= 0 ? int32(l.flags) : 0;
  c.follow = l.flags < 0 ? l.follow : l.nofollow ? !(flags & l.nofollow) : (flags & l.followBit) != 0;
  int dirfd = l.dirfd >= 0 ? int32(l.dirfd) : AT_FDCWD;
  bool isVfd = dirfd >= t.vfdLow && dirfd <= t.vfdHigh;
  if (path[0] == '\0') {
    // ENOENT without resolution, or AT_EMPTY_PATH: the call is about the (host) fd itself
    bool emptyOk = l.emptyFlags >= 0 && (int32(l.emptyFlags) & AT_EMPTY_PATH);
    if (!emptyOk || (dirfd != AT_FDCWD && !isVfd && !t.fdStatToJs)) c.kind = Checked::SAFE;
    return c;
  }
  std::string base = "/";
  if (path[0] != '/') {
    if (isVfd || !BaseOf(n->pid, dirfd, base)) return c;
    for (auto &m : t.mounts)
      if (Under(base, m.path)) return c;
    bool single = !strchr(path, '/');
    bool up = !strcmp(path, "..");
    for (auto &h : t.hostDirs) {
      if (!Under(base, h.prefix)) continue;
      // `..` stays inside below the host directory's top; from the top it leaves the mount
      bool same = h.singleNameOk && single && (!up || base.size() > h.prefix.size());
      if (!same) return c;
    }
  }
  // Lexical walk from base: does it step into a mount point?
  std::string cur = base;
  const char *p = path;
  const Mount *hit = nullptr;
  size_t hitEnd = 0;  // offset in path just after the mount point's component
  size_t prefixEnd = 0;  // offset in path where that component starts
  while (*p && !hit) {
    while (*p == '/') p++;
    const char *e = strchrnul(p, '/');
    size_t len = e - p;
    if (len == 0 || (len == 1 && p[0] == '.')) {
      // nothing
    } else if (len == 2 && p[0] == '.' && p[1] == '.') {
      size_t slash = cur.rfind('/');
      cur.resize(slash == 0 ? 1 : slash);
    } else {
      if (cur.size() > 1) cur += '/';
      cur.append(p, len);
      if ((hit = MountAt(t, cur))) {
        prefixEnd = p - path;
        hitEnd = e - path;
      }
    }
    p = e;
  }
  std::string joined = path[0] == '/' ? std::string(path) : base == "/" ? "/" + std::string(path) : base + "/" + path;
  if (!hit) {
    // the kernel walks only base -> base/name, following no symlink: nothing more to prove
    if (!strchr(path, '/') && (!c.follow || !strcmp(path, "..") || !strcmp(path, "."))) {
      c.kind = Checked::SAFE;
      return c;
    }
    int fd = Openat2(AT_FDCWD, joined.c_str(), O_PATH | O_CLOEXEC | (c.follow ? 0 : O_NOFOLLOW), RESOLVE_NO_SYMLINKS);
    // no symlink before the kernel stops (found, or missing, or not a directory)
    if (fd >= 0 || errno == ENOENT || errno == ENOTDIR) c.kind = Checked::SAFE;
    if (fd >= 0) close(fd);
    return c;
  }
  if (hit->hostFd < 0) return c;
  // the real part before the mount point must be walked without symlinks too
  std::string prefix = path[0] == '/' ? std::string(path, prefixEnd) : base + "/" + std::string(path, prefixEnd);
  if (prefix.find_first_not_of('/') != std::string::npos) {
    int fd = Openat2(AT_FDCWD, prefix.c_str(), O_PATH | O_CLOEXEC | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
    if (fd < 0) return c;
    close(fd);
  }
  const char *rest = path + hitEnd;
  while (*rest == '/') rest++;
  c.rest = *rest ? rest : ".";
  c.mount = hit;
  c.kind = Checked::MOUNT;
  return c;
}

bool StillValid(int listener, uint64_t id) {
  return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

void Answer(int listener, uint64_t id, int64_t val, int err) {
  struct seccomp_notif_resp resp = {};
  resp.id = id;
  resp.val = err ? 0 : val;
  resp.error = err ? -err : 0;
  ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);  // ENOENT: the target went away
}

// Copies out to the caller (if it still waits) and answers val; EFAULT if its buffer is bad.
PathVerdict AnswerWithData(int listener, const struct seccomp_notif *n, uint64_t addr, const void *data, size_t len,
                           int64_t val) {
  if (!StillValid(listener, n->id)) return PATH_ANSWERED;
  int err = len ? WriteTarget(n->pid, addr, data, len) : 0;
  Answer(listener, n->id, val, err);
  return PATH_ANSWERED;
}

PathVerdict AnswerError(int listener, const struct seccomp_notif *n, int err) {
  Answer(listener, n->id, 0, err);
  return PATH_ANSWERED;
}

// A native open: the walk (an O_PATH fd) shows whether the file is a regular file or a
// directory (a FIFO or a device could block the listener), then opened for real, O_NONBLOCK
// until it is known to be the same file.
PathVerdict Open(int listener, const struct seccomp_notif *n, const Checked &c, int walk, int flags) {
  struct stat st;
  if (fstat(walk, &st) < 0) return PATH_JS;
  if (S_ISLNK(st.st_mode)) return AnswerError(listener, n, ELOOP);  // O_NOFOLLOW on a symlink
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return PATH_JS;
  Fd opened(Openat2(c.mount->hostFd, c.rest.c_str(), (flags & ~O_CLOEXEC) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                    RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS));
  if (opened.fd < 0) return errno == EXDEV || errno == ELOOP ? PATH_JS : AnswerError(listener, n, errno);
  struct stat st2;
  if (fstat(opened.fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) return PATH_JS;
  if (!(flags & O_NONBLOCK)) fcntl(opened.fd, F_SETFL, fcntl(opened.fd, F_GETFL) & ~O_NONBLOCK);
  if (!StillValid(listener, n->id)) return PATH_ANSWERED;
  struct seccomp_notif_addfd a = {};
  a.id = n->id;
  a.srcfd = opened.fd;
  a.flags = SECCOMP_ADDFD_FLAG_SEND;
  a.newfd_flags = flags & O_CLOEXEC;
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0 && errno != ENOENT) return AnswerError(listener, n, errno);
  return PATH_ANSWERED;
}

// Performs the call on the host tree of a pure redirect, or leaves it to JS.
PathVerdict PerformInMount(int listener, const struct seccomp_notif *n, const Op &op, const Checked &c) {
  const __u64 *args = n->data.args;
  auto int32 = [&](int i) { return (int)(uint32_t)args[i]; };
  int openFlags = op.kind == OP_OPEN ? int32(op.flags) : 0;
  if (op.kind == OP_OPEN &&
      ((openFlags & (O_CREAT | kTmpfileBit)) || (openFlags & ~kOpenFlagsOk) || (openFlags & O_ACCMODE) == O_ACCMODE))
    return PATH_JS;  // creating calls need the caller's umask; O_PATH fds cannot be injected (ADDFD)
  uint64_t walkFlags = O_PATH | O_CLOEXEC | (c.follow ? 0 : O_NOFOLLOW) | (openFlags & O_DIRECTORY);
  // BENEATH: a `..` or an absolute symlink leaving the mount fails with EXDEV (then JS)
  Fd walk(Openat2(c.mount->hostFd, c.rest.c_str(), walkFlags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS));
  if (walk.fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR || err == EACCES || err == ENAMETOOLONG) return AnswerError(listener, n, err);
    return PATH_JS;
  }
  switch (op.kind) {
    case OP_STAT: {
      struct stat st;
      if (fstatat(walk.fd, "", &st, AT_EMPTY_PATH) < 0) return AnswerError(listener, n, errno);
      return AnswerWithData(listener, n, args[op.out], &st, sizeof st, 0);
    }
    case OP_STATX: {
      uint8_t buf[256];
      int flags = int32(op.flags) & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH);
      if (syscall(SYS_statx, walk.fd, "", flags | AT_EMPTY_PATH, int32(op.mask), buf) < 0)
        return AnswerError(listener, n, errno);
      return AnswerWithData(listener, n, args[op.out], buf, sizeof buf, 0);
    }
    case OP_ACCESS: {
      int flags = op.flags >= 0 ? int32(op.flags) : 0;
      if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return PATH_JS;
      if (syscall(SYS_faccessat2, walk.fd, "", int32(op.mode), (flags & AT_EACCESS) | AT_EMPTY_PATH) < 0)
        return AnswerError(listener, n, errno);
      return AnswerWithData(listener, n, 0, nullptr, 0, 0);
    }
    case OP_READLINK: {
      int size = int32(op.size);
      struct stat st;
      if (size <= 0) return AnswerError(listener, n, EINVAL);
      if (fstatat(walk.fd, "", &st, AT_EMPTY_PATH) < 0) return AnswerError(listener, n, errno);
      if (!S_ISLNK(st.st_mode)) return AnswerError(listener, n, EINVAL);
      char buf[kPathMax];
      ssize_t r = readlinkat(walk.fd, "", buf, std::min(size, kPathMax));
      if (r < 0) return AnswerError(listener, n, errno);
      return AnswerWithData(listener, n, args[op.out], buf, r, r);
    }
    case OP_GETXATTR: {
      // on the host path (xattr calls take no O_PATH fd): resolution inside is proven above
      char name[256];
      if (!ReadPath(n->pid, args[op.name], name, sizeof name)) return PATH_JS;
      std::string host = c.mount->host + "/" + c.rest;
      size_t size = std::min<uint64_t>(args[op.size], kXattrSizeMax);
      std::vector<char> buf(size);
      ssize_t r = c.follow ? getxattr(host.c_str(), name, size ? buf.data() : nullptr, size)
                           : lgetxattr(host.c_str(), name, size ? buf.data() : nullptr, size);
      if (r < 0) return AnswerError(listener, n, errno);
      return AnswerWithData(listener, n, args[op.out], buf.data(), size ? r : 0, r);
    }
    case OP_OPEN:
      return Open(listener, n, c, walk.fd, openFlags);
    case OP_NONE:
      break;
  }
  return PATH_JS;
}

// setPathTable({mounts: [{path, host?}], calls: [{nr, paths: [...], op?}], vfdLow, vfdHigh})
Napi::Value SetPathTable(const Napi::CallbackInfo &info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto t = std::make_shared<Table>();
  auto int8 = [](Napi::Object obj, const char *key) -> int8_t {
    Napi::Value v = obj.Get(key);
    return v.IsNumber() ? (int8_t)v.As<Napi::Number>().Int32Value() : -1;
  };
  Napi::Array mounts = o.Get("mounts").As<Napi::Array>();
  for (uint32_t i = 0; i < mounts.Length(); i++) {
    Napi::Object m = mounts.Get(i).As<Napi::Object>();
    Mount mount;
    mount.path = m.Get("path").As<Napi::String>().Utf8Value();
    mount.namePrefix = m.Get("namePrefix").ToBoolean();
    if (m.Get("host").IsString()) {
      mount.host = m.Get("host").As<Napi::String>().Utf8Value();
      // a symlink as host directory would be followed here but not by lstat of the mount point
      mount.hostFd = open(mount.host.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    t->mounts.push_back(std::move(mount));
  }
  Napi::Array hostDirs = o.Get("hostDirs").As<Napi::Array>();
  for (uint32_t i = 0; i < hostDirs.Length(); i++) {
    Napi::Object h = hostDirs.Get(i).As<Napi::Object>();
    t->hostDirs.push_back({h.Get("prefix").As<Napi::String>().Utf8Value(), h.Get("singleNameOk").ToBoolean()});
  }
  Napi::Array calls = o.Get("calls").As<Napi::Array>();
  for (uint32_t i = 0; i < calls.Length(); i++) {
    Napi::Object c = calls.Get(i).As<Napi::Object>();
    int nr = c.Get("nr").As<Napi::Number>().Int32Value();
    if (nr < 0 || nr >= kMaxPathNr) continue;
    CallLayout &cl = t->calls[nr];
    Napi::Array paths = c.Get("paths").As<Napi::Array>();
    cl.npaths = std::min<int>(paths.Length(), 2);
    for (int k = 0; k < cl.npaths; k++) {
      Napi::Object p = paths.Get(k).As<Napi::Object>();
      ArgLayout &l = cl.paths[k];
      l.arg = int8(p, "arg");
      l.dirfd = int8(p, "dirfd");
      l.flags = int8(p, "flags");
      l.emptyFlags = int8(p, "emptyFlags");
      l.follow = p.Get("follow").ToBoolean();
      l.nofollow = p.Get("nofollow").IsNumber() ? p.Get("nofollow").As<Napi::Number>().Uint32Value() : 0;
      l.followBit = p.Get("followBit").IsNumber() ? p.Get("followBit").As<Napi::Number>().Uint32Value() : 0;
    }
    if (c.Get("op").IsObject()) {
      Napi::Object op = c.Get("op").As<Napi::Object>();
      std::string kind = op.Get("kind").As<Napi::String>().Utf8Value();
      cl.op.kind = kind == "stat"       ? OP_STAT
                   : kind == "statx"    ? OP_STATX
                   : kind == "access"   ? OP_ACCESS
                   : kind == "readlink" ? OP_READLINK
                   : kind == "open"     ? OP_OPEN
                   : kind == "getxattr" ? OP_GETXATTR
                                        : OP_NONE;
      cl.op.out = int8(op, "out");
      cl.op.flags = int8(op, "flags");
      cl.op.mask = int8(op, "mask");
      cl.op.mode = int8(op, "mode");
      cl.op.size = int8(op, "size");
      cl.op.name = int8(op, "name");
    }
  }
  t->vfdLow = o.Get("vfdLow").As<Napi::Number>().Int32Value();
  t->vfdHigh = o.Get("vfdHigh").As<Napi::Number>().Int32Value();
  t->fdStatToJs = o.Get("fdStatToJs").ToBoolean();
  std::atomic_store(&gTable, std::shared_ptr<const Table>(t));
  return info.Env().Undefined();
}

}  // namespace

PathVerdict HandlePathCall(int listener, const struct seccomp_notif *n) {
  std::shared_ptr<const Table> t = std::atomic_load(&gTable);
  int nr = n->data.nr;
  if (!t || nr < 0 || nr >= kMaxPathNr) return PATH_JS;
  const CallLayout &cl = t->calls[nr];
  if (cl.npaths == 0) return PATH_JS;
  Checked c[2];
  for (int i = 0; i < cl.npaths; i++) {
    c[i] = Check(*t, n, cl.paths[i]);
    if (c[i].kind == Checked::JS) return PATH_JS;
  }
  if (cl.npaths == 1 && c[0].kind == Checked::MOUNT)
    return cl.op.kind == OP_NONE ? PATH_JS : PerformInMount(listener, n, cl.op, c[0]);
  for (int i = 0; i < cl.npaths; i++)
    if (c[i].kind != Checked::SAFE) return PATH_JS;
  return PATH_CONTINUE;
}

void InitPaths(Napi::Env env, Napi::Object exports) {
  exports.Set("setPathTable", Napi::Function::New(env, SetPathTable));
}
