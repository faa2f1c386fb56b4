// Starting a view: supervisor -> reaper (child subreaper, no filter) -> root process (filter).
//
// Everything between fork() and execve() runs in a child of a multithreaded process, so it uses
// only async-signal-safe calls and memory prepared before the fork.
#include "common.h"
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include <atomic>
#include <new>
#include <sys/mman.h>

namespace {

int SendRecord(int sock, int32_t type, int32_t a, int32_t b, int passFd = -1) {
  ControlRecord rec{type, a, b};
  struct iovec iov = {&rec, sizeof rec};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (passFd >= 0) {
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passFd, sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)sizeof rec ? 0 : -1;
}

// Receives one record; *fd gets a passed descriptor (or -1).
int RecvRecord(int sock, ControlRecord *rec, int *fd) {
  struct iovec iov = {rec, sizeof *rec};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof *rec) return -1;
  *fd = -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof(int));
  return 0;
}

// ---- reaper: kill every descendant (used when the supervisor is gone) ----

constexpr int kMaxProcs = 1 << 16;
pid_t gPids[kMaxProcs];
pid_t gPpids[kMaxProcs];
char gMark[kMaxProcs];
char gDirBuf[1 << 15];

pid_t ParsePid(const char *s) {
  pid_t v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

// Reads the parent pid from /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold ')').
pid_t ReadPpid(pid_t pid) {
  char path[40], buf[512];
  char *p = path;
  const char *pre = "/proc/";
  while (*pre) *p++ = *pre++;
  char digits[16];
  int nd = 0;
  for (pid_t v = pid; v; v /= 10) digits[nd++] = '0' + v % 10;
  while (nd) *p++ = digits[--nd];
  const char *post = "/stat";
  while (*post) *p++ = *post++;
  *p = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *close_paren = nullptr;
  for (char *q = buf; *q; q++)
    if (*q == ')') close_paren = q;
  if (!close_paren || close_paren[1] != ' ') return -1;
  char *q = close_paren + 4;  // ") S "
  pid_t v = 0;
  while (*q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
  return v;
}

// One pass: SIGKILL every process below `self`. Returns how many were found.
int KillDescendants(pid_t self) {
  int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) return 0;
  int n = 0;
  for (;;) {
    long got = syscall(SYS_getdents64, procfd, gDirBuf, sizeof gDirBuf);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      struct linux_dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
      } *d = (linux_dirent64 *)(gDirBuf + off);
      off += d->d_reclen;
      pid_t pid = ParsePid(d->d_name);
      if (pid <= 0 || n >= kMaxProcs) continue;
      pid_t ppid = ReadPpid(pid);
      if (ppid < 0) continue;
      gPids[n] = pid;
      gPpids[n] = ppid;
      gMark[n] = 0;
      n++;
    }
  }
  close(procfd);
  // Mark the descendants of self: repeat until no new mark (the table is not sorted).
  bool changed = true;
  while (changed) {
    changed = false;
    for (int i = 0; i < n; i++) {
      if (gMark[i]) continue;
      bool parentMarked = gPpids[i] == self;
      for (int j = 0; !parentMarked && j < n; j++)
        if (gMark[j] && gPids[j] == gPpids[i]) parentMarked = true;
      if (parentMarked) gMark[i] = changed = true;
    }
  }
  int killed = 0;
  for (int i = 0; i < n; i++)
    if (gMark[i]) {
      kill(gPids[i], SIGKILL);
      killed++;
    }
  return killed;
}

[[noreturn]] void KillViewAndExit(pid_t self) {
  for (int round = 0; round < 1000; round++) {
    int found = KillDescendants(self);
    int st;
    while (waitpid(-1, &st, WNOHANG | __WALL) > 0) {
    }
    if (found == 0) break;
    usleep(1000);
  }
  _exit(137);
}

void OnSigchld(int) {}

// The reaper: child subreaper of the whole view. It holds a copy of the listener so that, if
// the supervisor dies, notified syscalls block (instead of failing with ENOSYS) until it has
// killed every process of the view.
[[noreturn]] void RunReaper(int ctl, pid_t root, int listener) {
  (void)listener;  // kept open on purpose
  pid_t self = getpid();
  sigset_t block, waitmask;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigprocmask(SIG_BLOCK, &block, &waitmask);
  sigdelset(&waitmask, SIGCHLD);
  for (;;) {
    for (;;) {
      int st;
      pid_t p = waitpid(-1, &st, WNOHANG | __WALL);
      if (p > 0) {
        if (p == root) SendRecord(ctl, CTL_ROOT_EXIT, st, 0);
        continue;
      }
      if (p < 0 && errno == ECHILD) {
        SendRecord(ctl, CTL_ALL_DONE, 0, 0);
        _exit(0);
      }
      break;
    }
    struct pollfd pfd = {ctl, POLLIN, 0};
    int r = ppoll(&pfd, 1, nullptr, &waitmask);
    if (r > 0) {
      ControlRecord rec;
      ssize_t n = read(ctl, &rec, sizeof rec);
      if (n <= 0 || rec.type == CTL_KILL_VIEW) KillViewAndExit(self);
    }
  }
}

// ---- spawner: starts the helper processes modules ask for (FUSE daemons...) in the view ----
//
// A request on its socket: int32 {body length, argc, envc}, then a body of 1 + argc + envc
// NUL-terminated strings: cwd, argv, envp. The answer is a SPAWNER_STARTED record; each helper's
// end is a SPAWNER_EXITED record. It runs in a fork of a fork of node: these buffers, no malloc.
constexpr uint32_t kRequestMax = 1 << 18;
constexpr int kVecMax = 1 << 13;
char gRequest[kRequestMax];
char *gVec[kVecMax];
char gExecPath[4096];

// false on EOF or error
bool ReadFull(int fd, char *buf, size_t len) {
  while (len) {
    ssize_t n = read(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= n;
  }
  return true;
}

// execvpe(3)'s search of PATH (from envp), without its allocations; returns the errno.
int ExecSearch(char *const *argv, char *const *envp) {
  const char *file = argv[0];
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    return errno;
  }
  const char *path = "/usr/local/bin:/usr/bin:/bin";
  for (char *const *e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  size_t flen = strlen(file);
  int err = ENOENT;
  for (const char *dir = path;; dir++) {
    const char *end = strchrnul(dir, ':');
    size_t dlen = end - dir;
    if (dlen + flen + 2 <= sizeof gExecPath) {
      memcpy(gExecPath, dir, dlen);
      if (dlen) gExecPath[dlen++] = '/';  // an empty entry is the cwd
      memcpy(gExecPath + dlen, file, flen + 1);
      execve(gExecPath, argv, envp);
      if (errno == EACCES) err = EACCES;
      else if (errno != ENOENT && errno != ENOTDIR) return errno;
    }
    if (!*end) return err;
    dir = end;
  }
}

// Serves one request; returns the helper's pid or -errno.
int Spawn(int sock, const int32_t head[3], const sigset_t *viewMask) {
  uint32_t len = head[0];
  if (len > kRequestMax) {  // read it all the same: the stream stays in step
    for (uint32_t n; len; len -= n)
      if (!ReadFull(sock, gRequest, n = len < kRequestMax ? len : kRequestMax)) _exit(0);
    return -E2BIG;
  }
  if (!ReadFull(sock, gRequest, len)) _exit(0);
  int argc = head[1], envc = head[2];
  if (len == 0 || gRequest[len - 1] || argc < 1 || envc < 0 || argc + envc + 2 > kVecMax) return -EINVAL;
  char *cwd = gRequest, *end = gRequest + len, *s = cwd + strlen(cwd) + 1;
  for (int i = 0; i < argc + envc; i++, s += strlen(s) + 1) {
    if (s >= end) return -EINVAL;
    gVec[i < argc ? i : i + 1] = s;  // argv, NULL, envp, NULL
  }
  gVec[argc] = gVec[argc + envc + 1] = nullptr;
  // The child's exec closes the pipe: EOF says it runs, else the child writes why it does not.
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) return -errno;
  pid_t pid = _Fork();
  if (pid == 0) {
    setpgid(0, 0);  // its own process group: the view's end signals all that it started
    sigprocmask(SIG_SETMASK, viewMask, nullptr);
    int err = chdir(cwd) < 0 ? errno : ExecSearch(gVec, gVec + argc + 1);
    write(pipefd[1], &err, sizeof err);
    _exit(127);
  }
  int err = errno;
  close(pipefd[1]);
  if (pid > 0) {
    ssize_t n;
    do n = read(pipefd[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof err)  // reaped here: its end is not reported
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    else
      err = 0;
  }
  close(pipefd[0]);
  return err ? -err : pid;
}

// The spawner: a grandchild of the root process whose parent exited at once, so a child of the
// reaper (the subreaper) and of no command of the view (a shell's `wait` never sees it or its
// helpers). It and its helpers inherit the filter: they are processes of the view.
[[noreturn]] void RunSpawner(int sock) {
  prctl(PR_SET_NAME, "umvu-spawner", 0, 0, 0);
  // its own session: the terminal's Ctrl-C or hangup is for the user's commands, not for daemons
  setsid();
  syscall(SYS_close_range, 3u, (unsigned)sock - 1, 0u);  // the view's fds are not the helpers'
  syscall(SYS_close_range, (unsigned)sock + 1, ~0u, 0u);
  close(0);
  open("/dev/null", O_RDONLY);  // fd 0: stdin of every helper; stdout and stderr stay the view's
  sigset_t block, viewMask, waitMask;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigprocmask(SIG_BLOCK, &block, &viewMask);
  waitMask = viewMask;
  sigdelset(&waitMask, SIGCHLD);
  struct sigaction sa = {};
  sa.sa_handler = OnSigchld;  // (a handler, not SIG_DFL: ppoll must be interrupted)
  sigaction(SIGCHLD, &sa, nullptr);
  for (;;) {
    int st;
    for (pid_t p; (p = waitpid(-1, &st, WNOHANG)) > 0;) SendRecord(sock, SPAWNER_EXITED, p, st);
    struct pollfd pfd = {sock, POLLIN, 0};
    if (ppoll(&pfd, 1, nullptr, &waitMask) <= 0) continue;
    int32_t head[3];
    if (!ReadFull(sock, (char *)head, sizeof head)) _exit(0);  // EOF: the view is ending
    SendRecord(sock, SPAWNER_STARTED, Spawn(sock, head, &viewMask), 0);
  }
}

// The listener changes hands through memory shared by the root and the reaper: once the filter
// is installed every syscall of the root may be notified (umvu -d s notifies all of them), and
// nobody answers before the supervisor holds the listener. So the root publishes the fd number
// here and spins (no syscall) until the reaper, its parent, has copied it with pidfd_getfd.
struct Handoff {
  std::atomic<int> listener{-1};
  std::atomic<int> error{0};
  std::atomic<int> grabbed{0};
};

struct SpawnPlan {
  std::string path;
  std::vector<std::string> argv, envp, rcFiles;
  std::vector<std::string> shArgv;  // /bin/sh path args...: for a program without #! (ENOEXEC)
  std::vector<struct sock_filter> filter;
  std::vector<int> keepFds;   // inherited fds node marked close-on-exec
  std::vector<int> closeFds;  // standard fds umvu's caller had closed (node opened /dev/null)
  uint64_t sigIgnored = 0;    // dispositions and mask umvu's caller gave (node resets them)
  uint64_t sigBlocked = 0;
  long nofile = -1;
};

[[noreturn]] void RunRoot(const SpawnPlan &plan, char *const *argv, char *const *envp,
                          char *const *shArgv, int ctl, int spawnerSock, Handoff *handoff) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // the reaper is gone: so is the view's root
  if (plan.nofile > 0) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)plan.nofile <= rl.rlim_max) {
      rl.rlim_cur = plan.nofile;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  // Node marks every fd close-on-exec, those it inherited too: give the view back its own;
  // and close the standard fds that umvu itself got closed.
  for (int fd : plan.keepFds) fcntl(fd, F_SETFD, 0);
  for (int fd : plan.closeFds) close(fd);
  // Node resets signal dispositions and ignores SIGPIPE: give the view what umvu's caller gave.
  struct sigaction sa = {};
  sigset_t mask;
  sigemptyset(&mask);
  for (int s = 1; s < NSIG && s <= 64; s++) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    sa.sa_handler = (plan.sigIgnored >> (s - 1)) & 1 ? SIG_IGN : SIG_DFL;
    sigaction(s, &sa, nullptr);
    if ((plan.sigBlocked >> (s - 1)) & 1) sigaddset(&mask, s);
  }
  sigprocmask(SIG_SETMASK, &mask, nullptr);

  struct sock_fprog prog = {(unsigned short)plan.filter.size(),
                            const_cast<struct sock_filter *>(plan.filter.data())};
  const unsigned flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  // With CAP_SYS_ADMIN (root) the filter needs no no_new_privs: keep the view's setuid programs
  // working as natively. Without it, no_new_privs is the price of a filter.
  int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (listener < 0 && errno == EACCES) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
      handoff->error.store(errno);
      _exit(125);
    }
    listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  }
  if (listener < 0) {
    handoff->error.store(errno);
    _exit(125);
  }
  handoff->listener.store(listener);
  while (!handoff->grabbed.load()) {
  }
  if (handoff->error.load()) _exit(125);  // nobody holds the listener: never run unsupervised
  close(listener);
  // From here on every notified syscall goes through the supervisor.
  // The spawner, forked now: it has the filter, and no rc file or command of the view is its
  // parent (the intermediate child exits at once; the subreaper adopts the spawner).
  pid_t mid = _Fork();
  if (mid == 0) {
    if (_Fork() == 0) RunSpawner(spawnerSock);
    _exit(0);
  }
  while (mid > 0 && waitpid(mid, nullptr, 0) < 0 && errno == EINTR) {
  }
  close(spawnerSock);
  for (const std::string &rc : plan.rcFiles) {
    if (access(rc.c_str(), X_OK) != 0) continue;  // as VUOS: rc files that cannot run are skipped
    pid_t p = _Fork();
    if (p == 0) {
      char *rcArgv[] = {const_cast<char *>(rc.c_str()), nullptr};
      execve(rc.c_str(), rcArgv, envp);
      _exit(127);
    }
    int st = 0;
    if (p < 0) _exit(2);
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st)) _exit(2);
  }
  execve(plan.path.c_str(), argv, envp);
  int err = errno;
  if (err == ENOEXEC) execve("/bin/sh", shArgv, envp);  // as execvp(3): no #! runs under sh
  SendRecord(ctl, CTL_EXEC_FAILED, err, 0);
  _exit(err == ENOENT ? 127 : 126);
}

// In the reaper: wait for the root to publish its listener fd and copy it (or see it fail).
int GrabListener(pid_t root, Handoff *handoff) {
  for (;;) {
    int fd = handoff->listener.load();
    if (fd >= 0) {
      int pidfd = (int)syscall(SYS_pidfd_open, root, 0);
      int mine = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
      if (pidfd >= 0) close(pidfd);
      if (mine < 0) handoff->error.store(errno);
      handoff->grabbed.store(1);
      return mine;
    }
    siginfo_t info = {};
    if (handoff->error.load() || (waitid(P_PID, root, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == root))
      return -1;
    usleep(50);
  }
}

std::vector<char *> CStrings(std::vector<std::string> &v) {
  std::vector<char *> out;
  for (auto &s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Strings, or Buffers for exact bytes (arguments and environment need not be UTF-8).
std::vector<std::string> StringArray(const Napi::Value &v) {
  std::vector<std::string> out;
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (e.IsBuffer()) {
      Napi::Buffer<char> b = e.As<Napi::Buffer<char>>();
      out.emplace_back(b.Data(), b.Length());
    } else {
      out.push_back(e.ToString().Utf8Value());
    }
  }
  return out;
}

std::vector<int> IntArray(const Napi::Value &v) {
  std::vector<int> out;
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  return out;
}

// spawnView({path, argv, envp, rcFiles, filter: Buffer, nofile}) ->
//   {reaperPid, rootPid, listenerFd, controlFd, spawnerFd}
Napi::Value SpawnView(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  SpawnPlan plan;
  plan.path = o.Get("path").ToString().Utf8Value();
  plan.argv = StringArray(o.Get("argv"));
  plan.envp = StringArray(o.Get("envp"));
  plan.rcFiles = StringArray(o.Get("rcFiles"));
  plan.keepFds = IntArray(o.Get("keepFds"));
  plan.closeFds = IntArray(o.Get("closeFds"));
  if (o.Get("sigIgnored").IsBigInt()) plan.sigIgnored = ToU64(o.Get("sigIgnored"));
  if (o.Get("sigBlocked").IsBigInt()) plan.sigBlocked = ToU64(o.Get("sigBlocked"));
  plan.shArgv.push_back("/bin/sh");
  plan.shArgv.push_back(plan.path);
  for (size_t i = 1; i < plan.argv.size(); i++) plan.shArgv.push_back(plan.argv[i]);
  if (o.Get("nofile").IsNumber()) plan.nofile = o.Get("nofile").As<Napi::Number>().Int64Value();
  Napi::Buffer<uint8_t> fbuf = o.Get("filter").As<Napi::Buffer<uint8_t>>();
  size_t nins = fbuf.Length() / sizeof(struct sock_filter);
  plan.filter.resize(nins);
  memcpy(plan.filter.data(), fbuf.Data(), nins * sizeof(struct sock_filter));
  std::vector<char *> argv = CStrings(plan.argv), envp = CStrings(plan.envp);
  std::vector<char *> shArgv = CStrings(plan.shArgv);

  int ctl[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) return ThrowErrno(env, "socketpair", errno);
  int spawner[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, spawner) < 0) return ThrowErrno(env, "socketpair", errno);
  void *shared = mmap(nullptr, sizeof(Handoff), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return ThrowErrno(env, "mmap", errno);
  Handoff *handoff = new (shared) Handoff();
  // _Fork everywhere here: no atfork handlers (libuv's) run in a child of this multithreaded
  // process, and none of glibc's fork locks (a lock another thread held at our fork would
  // never be released in the child, and a later fork() there would wait for it forever).
  pid_t reaper = _Fork();
  if (reaper < 0) return ThrowErrno(env, "fork", errno);
  if (reaper == 0) {
    close(ctl[0]);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    struct sigaction sa = {};
    sa.sa_handler = OnSigchld;
    sigaction(SIGCHLD, &sa, nullptr);
    // Signals sent to umvu's process group (Ctrl-C, kill -TERM -PGID, a hangup) are for the
    // view, never for the reaper: it must outlive every process of the view.
    struct sigaction ign = {};
    ign.sa_handler = SIG_IGN;
    for (int sig = 1; sig < NSIG; sig++)
      if (sig != SIGCHLD && sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &ign, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    pid_t root = _Fork();
    if (root < 0) _exit(125);
    if (root == 0) {
      RunRoot(plan, argv.data(), envp.data(), shArgv.data(), ctl[1], spawner[1], handoff);
    }
    // the reaper never execs: drop the copies of node's own fds it got with the fork
    if (ctl[1] > 3) syscall(SYS_close_range, 3u, (unsigned)ctl[1] - 1, 0u);
    syscall(SYS_close_range, (unsigned)ctl[1] + 1, ~0u, 0u);
    SendRecord(ctl[1], CTL_ROOT_PID, root, 0);
    int listener = GrabListener(root, handoff);
    if (listener >= 0)
      SendRecord(ctl[1], CTL_LISTENER, 0, 0, listener);
    else
      SendRecord(ctl[1], CTL_EXEC_FAILED, handoff->error.load(), 1);
    RunReaper(ctl[1], root, listener);
  }
  close(ctl[1]);
  close(spawner[1]);
  munmap(shared, sizeof(Handoff));
  Napi::Object result = Napi::Object::New(env);
  result.Set("reaperPid", reaper);
  result.Set("controlFd", ctl[0]);
  result.Set("spawnerFd", spawner[0]);
  // The reaper first reports the root pid, then passes the listener (or the root reports
  // why it could not install the filter).
  for (;;) {
    ControlRecord rec;
    int fd = -1;
    if (RecvRecord(ctl[0], &rec, &fd) < 0) return ThrowErrno(env, "umvu: the view did not start", EPROTO);
    if (rec.type == CTL_ROOT_PID) result.Set("rootPid", rec.a);
    if (rec.type == CTL_EXEC_FAILED) return ThrowErrno(env, "seccomp filter", rec.a);
    if (rec.type == CTL_LISTENER) {
      result.Set("listenerFd", fd);
      break;
    }
  }
  return result;
}

pid_t gRootPid = 0;

// Signals sent to umvu by a process (kill, timeout) go to the view's root process. Those the
// terminal sends reach the whole foreground process group, the view included: not forwarded.
// SIGTERM and SIGHUP always are (a hangup or a group kill may then reach the root twice).
void ForwardSignal(int sig, siginfo_t *info, void *) {
  // SI_USER, SI_QUEUE, SI_TKILL... from another process
  bool sentByProcess = info->si_code <= 0 && info->si_pid != getpid();
  if ((sentByProcess || sig == SIGTERM || sig == SIGHUP) && gRootPid > 0) kill(gRootPid, sig);
}

// forwardSignals(rootPid): installed after the view has started. Replacing node's handlers
// also keeps SIGUSR1 from opening node's inspector in the hypervisor.
Napi::Value ForwardSignals(const Napi::CallbackInfo &info) {
  gRootPid = info[0].As<Napi::Number>().Int32Value();
  struct sigaction sa = {};
  sa.sa_sigaction = ForwardSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  // (the kernel's SIGPIPE for umvu's own writes carries umvu's pid: never forwarded)
  for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH, SIGPIPE})
    sigaction(sig, &sa, nullptr);
  return info.Env().Undefined();
}

// dieBySignal(sig): umvu ends as its command did, so that its parent sees the same status
// (a shell prints "Killed", abandons a loop on SIGINT...). No core dump of the hypervisor.
Napi::Value DieBySignal(const Napi::CallbackInfo &info) {
  int sig = info[0].As<Napi::Number>().Int32Value();
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  kill(getpid(), sig);
  _exit(128 + sig);
}

Napi::Value KillView(const Napi::CallbackInfo &info) {
  int ctl = info[0].As<Napi::Number>().Int32Value();
  return Napi::Boolean::New(info.Env(), SendRecord(ctl, CTL_KILL_VIEW, 0, 0) == 0);
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnView", Napi::Function::New(env, SpawnView));
  exports.Set("killView", Napi::Function::New(env, KillView));
  exports.Set("forwardSignals", Napi::Function::New(env, ForwardSignals));
  exports.Set("dieBySignal", Napi::Function::New(env, DieBySignal));
}
