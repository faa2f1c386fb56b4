// Network stacks for vunet: the Linux kernel's own TCP/IP in a private network namespace.
//
// netstackStart forks a *holder*: a child of umvu (outside the view) that enters a new user
// namespace (unless umvu is root) and a new network namespace, brings `lo` up and makes the
// interface `vde0`: a tap (/dev/net/tun) where it may open one, else one end of a veth pair
// whose other end lives in a second, hidden namespace, where an AF_PACKET socket reads and
// writes its frames (an unprivileged user cannot open /dev/net/tun: it is 0600 root). It hands
// that frame fd to umvu, then creates sockets in the namespace on request and passes them back
// (SCM_RIGHTS): the view's processes get real kernel sockets, so their data never passes
// through umvu. It exits when umvu closes its control socket, or dies.
//
// netstackPump moves the frames between that fd and a VDE network (libvdeplug, opened with
// dlopen: only views that use vunet need it installed) on a thread of its own.
#include "common.h"
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/if_ether.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <arpa/inet.h>
#include <map>
#include <memory>
#include <mutex>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

// Steps of the holder's set-up, reported with the errno of the one that failed.
enum Step { STEP_USERNS = 1, STEP_NETNS, STEP_LO, STEP_VETH, STEP_PACKET };
enum Kind { KIND_TAP = 1, KIND_VETH = 2 };

struct Setup {
  int err;
  int step;
  int kind;
};
struct SocketRequest {
  int domain, type, protocol;
};

// --- the holder (a forked child of a multithreaded process: raw syscalls, no allocation) ---

bool WriteFile(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
  close(fd);
  return ok;
}

// "0 ID 1": the caller's id is root in the new user namespace
void IdMap(char *out, unsigned id) {
  char digits[16];
  int n = 0;
  do digits[n++] = '0' + id % 10; while ((id /= 10) > 0);
  char *p = out;
  *p++ = '0';
  *p++ = ' ';
  while (n) *p++ = digits[--n];
  memcpy(p, " 1", 3);
}

bool SetUp(int sock, const char *name, short flags) {
  struct ifreq ifr = {};
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) return false;
  ifr.ifr_flags |= flags;
  return ioctl(sock, SIOCSIFFLAGS, &ifr) == 0;
}

struct NlRequest {
  struct nlmsghdr n;
  struct ifinfomsg i;
  char attrs[512];
};

struct rtattr *AddAttr(struct nlmsghdr *n, int type, const void *data, int len) {
  auto *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(rta), data, len);
  n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rta->rta_len);
  return rta;
}
void EndNest(struct nlmsghdr *n, struct rtattr *nest) { nest->rta_len = (char *)n + n->nlmsg_len - (char *)nest; }

// vde0 (here) and vde0p (in the namespace nsFd) as a veth pair, by rtnetlink
int MakeVeth(int nsFd) {
  NlRequest req = {};
  req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.n.nlmsg_type = RTM_NEWLINK;
  req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  AddAttr(&req.n, IFLA_IFNAME, "vde0", 5);
  struct rtattr *linkinfo = AddAttr(&req.n, IFLA_LINKINFO, nullptr, 0);
  AddAttr(&req.n, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = AddAttr(&req.n, IFLA_INFO_DATA, nullptr, 0);
  struct rtattr *peer = AddAttr(&req.n, VETH_INFO_PEER, nullptr, 0);
  req.n.nlmsg_len += sizeof(struct ifinfomsg);  // the peer's own (empty) ifinfomsg
  AddAttr(&req.n, IFLA_IFNAME, "vde0p", 6);
  uint32_t ns = nsFd;
  AddAttr(&req.n, IFLA_NET_NS_FD, &ns, sizeof ns);
  EndNest(&req.n, peer);
  EndNest(&req.n, data);
  EndNest(&req.n, linkinfo);
  int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl < 0) return errno;
  int err = 0;
  if (send(nl, &req, req.n.nlmsg_len, 0) < 0) {
    err = errno;
  } else {
    char reply[1024];
    ssize_t r = recv(nl, reply, sizeof reply, 0);
    auto *h = (struct nlmsghdr *)reply;
    if (r < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) err = r < 0 ? errno : EPROTO;
    else if (h->nlmsg_type == NLMSG_ERROR) err = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
  }
  close(nl);
  return err;
}

// The veth end vde0 computes its checksums and segments its packets itself: a packet socket
// on the far end would otherwise read TCP frames with checksums left to the hardware, and
// 64 KiB super-frames, which no VDE peer could take.
bool NoOffloads(int sock) {
  for (uint32_t cmd : {ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO}) {
    struct ethtool_value ev = {cmd, 0};
    struct ifreq ifr = {};
    strcpy(ifr.ifr_name, "vde0");
    ifr.ifr_data = (char *)&ev;
    if (ioctl(sock, SIOCETHTOOL, &ifr) < 0 && cmd == ETHTOOL_STXCSUM) return false;
  }
  return true;
}

// A raw packet socket on vde0p (in the namespace it is in now): vde0's frames, both ways
int PacketSocket() {
  int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (s < 0) return -errno;
  int one = 1;
  setsockopt(s, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);  // not our own sends
  struct sockaddr_ll sll = {};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  struct ifreq ifr = {};
  strcpy(ifr.ifr_name, "vde0p");
  if (ioctl(s, SIOCGIFINDEX, &ifr) == 0) sll.sll_ifindex = ifr.ifr_ifindex;
  if (sll.sll_ifindex == 0 || bind(s, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int err = errno;
    close(s);
    return -err;
  }
  return s;
}

void SendWithFd(int sock, const void *data, size_t len, int fd) {
  struct iovec iov = {const_cast<void *>(data), len};
  char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  sendmsg(sock, &msg, MSG_NOSIGNAL);
}

[[noreturn]] void Holder(int sock, bool newUserNs, bool forceVeth, uid_t uid, gid_t gid) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  prctl(PR_SET_NAME, "umvu-netstack", 0, 0, 0);
  // umvu's handlers (which forward signals to the view) are not the holder's; a terminal's
  // signals are for the view, not for it
  for (int sig = 1; sig < 65; sig++) signal(sig, sig == SIGINT || sig == SIGQUIT || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU ? SIG_IGN : SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // umvu's other fds (the seccomp listener, the reaper's control socket...) are not its
  if (sock > 3) syscall(SYS_close_range, 3, sock - 1, 0);
  syscall(SYS_close_range, sock + 1, ~0U, 0);
  Setup s = {0, 0, 0};
  auto fail = [&](int step) {
    s.err = errno ? errno : EINVAL;
    s.step = step;
    SendWithFd(sock, &s, sizeof s, -1);
    _exit(1);
  };
  if (newUserNs) {
    char map[32];
    if (unshare(CLONE_NEWUSER) < 0) fail(STEP_USERNS);
    IdMap(map, uid);
    if (!WriteFile("/proc/self/setgroups", "deny") || !WriteFile("/proc/self/uid_map", map)) fail(STEP_USERNS);
    IdMap(map, gid);
    if (!WriteFile("/proc/self/gid_map", map)) fail(STEP_USERNS);
  }
  // the hidden namespace first (for a veth's far end), then the stack's own
  if (unshare(CLONE_NEWNET) < 0) fail(STEP_NETNS);
  int hidden = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (hidden < 0 || unshare(CLONE_NEWNET) < 0) fail(STEP_NETNS);
  int stack = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (stack < 0 || ctl < 0 || !SetUp(ctl, "lo", IFF_UP)) fail(STEP_LO);
  // ICMP echo sockets for every group (ping without raw sockets), best effort: in a user
  // namespace of its own only group 0 (the user's) is mapped
  WriteFile("/proc/sys/net/ipv4/ping_group_range", newUserNs ? "0 0" : "0 2147483647");
  int dev = forceVeth ? -1 : open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    struct ifreq ifr = {};
    strcpy(ifr.ifr_name, "vde0");
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(dev, TUNSETIFF, &ifr) < 0) {
      close(dev);
      dev = -1;
    }
  }
  s.kind = KIND_TAP;
  if (dev < 0) {
    s.kind = KIND_VETH;
    int err = MakeVeth(hidden);
    if (err) {
      errno = err;
      fail(STEP_VETH);
    }
    if (!NoOffloads(ctl)) fail(STEP_VETH);
    if (setns(hidden, CLONE_NEWNET) < 0) fail(STEP_PACKET);
    int hctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (hctl < 0 || !SetUp(hctl, "vde0p", IFF_UP)) fail(STEP_PACKET);
    close(hctl);
    dev = PacketSocket();
    if (dev < 0) {
      errno = -dev;
      fail(STEP_PACKET);
    }
    if (setns(stack, CLONE_NEWNET) < 0) fail(STEP_PACKET);
  }
  SendWithFd(sock, &s, sizeof s, dev);
  close(dev);
  close(ctl);  // (no socket of the stack's own stays open here: umvu counts them at umount)
  // sockets on request, until umvu closes its end
  for (;;) {
    SocketRequest req;
    ssize_t n = recv(sock, &req, sizeof req, 0);
    if (n == 0 || (n < 0 && errno != EINTR)) _exit(0);
    if (n != sizeof req) continue;
    int fd = socket(req.domain, req.type | SOCK_CLOEXEC, req.protocol);
    int err = fd < 0 ? errno : 0;
    SendWithFd(sock, &err, sizeof err, fd);
    if (fd >= 0) close(fd);
  }
}

// Receives one message and the fd it may carry (-1): bytes or -errno.
ssize_t RecvWithFd(int sock, void *data, size_t len, int *fd) {
  struct iovec iov = {data, len};
  char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  *fd = -1;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof(int));
  // (the fd could not be installed here: umvu is out of fds)
  if (msg.msg_flags & MSG_CTRUNC && *fd < 0) return -EMFILE;
  return n;
}

// netstackStart({ newUserNs, forceVeth }) -> { pid, ctl, dev, kind: 'tap' | 'veth' }, or
// { errno, step: 'user namespace' | 'network namespace' | 'lo' | 'veth' | 'packet socket' }
Napi::Value NetstackStart(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  bool newUserNs = o.Get("newUserNs").ToBoolean();
  bool forceVeth = o.Get("forceVeth").ToBoolean();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return ThrowErrno(env, "socketpair", errno);
  uid_t uid = geteuid();
  gid_t gid = getegid();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(sv[0]);
    close(sv[1]);
    return ThrowErrno(env, "fork", err);
  }
  if (pid == 0) {
    close(sv[0]);
    Holder(sv[1], newUserNs, forceVeth, uid, gid);
  }
  close(sv[1]);
  Setup s = {};
  int dev;
  ssize_t n = RecvWithFd(sv[0], &s, sizeof s, &dev);
  Napi::Object out = Napi::Object::New(env);
  if (n != sizeof s || s.err || dev < 0) {
    static const char *steps[] = {"", "user namespace", "network namespace", "lo", "veth", "packet socket"};
    out.Set("errno", n == sizeof s && s.err ? s.err : EIO);
    out.Set("step", steps[n == sizeof s && s.step >= 1 && s.step <= 5 ? s.step : 0]);
    close(sv[0]);
    if (dev >= 0) close(dev);
    waitpid(pid, nullptr, 0);
    return out;
  }
  out.Set("pid", pid);
  out.Set("ctl", sv[0]);
  out.Set("dev", dev);
  out.Set("kind", s.kind == KIND_TAP ? "tap" : "veth");
  return out;
}

// netstackSocket(ctl, domain, type, protocol) -> a socket in the stack's namespace, or -errno
Napi::Value NetstackSocket(const Napi::CallbackInfo &info) {
  int ctl = info[0].As<Napi::Number>().Int32Value();
  SocketRequest req = {info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value(),
                       info[3].As<Napi::Number>().Int32Value()};
  if (send(ctl, &req, sizeof req, MSG_NOSIGNAL) < 0) return Napi::Number::New(info.Env(), -errno);
  int err = 0, fd;
  ssize_t n = RecvWithFd(ctl, &err, sizeof err, &fd);
  if (n < 0) return Napi::Number::New(info.Env(), (double)n);
  if (n != sizeof err) return Napi::Number::New(info.Env(), -EIO);
  return Napi::Number::New(info.Env(), err ? -err : fd);
}

// --- the frame pump: libvdeplug ---

struct VdePlug {
  void *(*open)(char *, char *, int, void *);
  ssize_t (*recv)(void *, void *, size_t, int);
  ssize_t (*send)(void *, const void *, size_t, int);
  int (*datafd)(void *);
  int (*ctlfd)(void *);
  int (*close)(void *);
};

const VdePlug *LoadVdePlug(std::string *error) {
  static VdePlug plug;
  static bool loaded = false;
  if (loaded) return &plug;
  void *lib = dlopen("libvdeplug.so.2", RTLD_NOW);
  if (!lib) {
    *error = dlerror();
    return nullptr;
  }
  plug.open = (void *(*)(char *, char *, int, void *))dlsym(lib, "vde_open_real");
  plug.recv = (ssize_t(*)(void *, void *, size_t, int))dlsym(lib, "vde_recv");
  plug.send = (ssize_t(*)(void *, const void *, size_t, int))dlsym(lib, "vde_send");
  plug.datafd = (int (*)(void *))dlsym(lib, "vde_datafd");
  plug.ctlfd = (int (*)(void *))dlsym(lib, "vde_ctlfd");
  plug.close = (int (*)(void *))dlsym(lib, "vde_close");
  if (!plug.open || !plug.recv || !plug.send || !plug.datafd || !plug.ctlfd || !plug.close) {
    *error = "libvdeplug.so.2 lacks the vde_* functions";
    return nullptr;
  }
  loaded = true;
  return &plug;
}

struct Pump {
  int dev;
  void *conn;
  int stop[2];
  std::thread thread;
};
std::mutex gPumpsMu;
// (never destroyed: at exit, pumps still running must not be joined or terminated)
auto &gPumps = *new std::map<int, std::unique_ptr<Pump>>;
int gNextPump = 1;

void PumpLoop(Pump *p, const VdePlug *plug) {
  static constexpr size_t kFrame = 65536;
  std::unique_ptr<char[]> buf(new char[kFrame]);
  struct pollfd fds[4] = {{p->dev, POLLIN, 0}, {plug->datafd(p->conn), POLLIN, 0}, {p->stop[0], POLLIN, 0}, {plug->ctlfd(p->conn), POLLIN, 0}};
  int nfds = fds[3].fd >= 0 ? 4 : 3;
  for (;;) {
    if (poll(fds, nfds, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[2].revents) return;
    if (fds[0].revents & POLLIN) {
      ssize_t n = read(p->dev, buf.get(), kFrame);
      // (a switch that cannot take it now, stopped or full, loses the frame, as a wire would)
      if (n > 0) plug->send(p->conn, buf.get(), n, MSG_DONTWAIT);
    }
    if (fds[1].revents & POLLIN) {
      ssize_t n = plug->recv(p->conn, buf.get(), kFrame, 0);
      // (a frame the interface refuses, down until the user brings it up: EIO, ENETDOWN, is dropped)
      if (n >= (ssize_t)ETH_HLEN && write(p->dev, buf.get(), n) < 0) continue;
    }
    if (nfds == 4 && fds[3].revents & (POLLIN | POLLHUP)) return;  // the switch went away
    if ((fds[0].revents | fds[1].revents) & (POLLERR | POLLHUP | POLLNVAL)) return;
  }
}

// netstackPump(dev, url) -> a pump id; throws with the reason when the VDE network cannot be
// joined (libvdeplug missing, a bad URL, no switch there)
Napi::Value NetstackPump(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int dev = info[0].As<Napi::Number>().Int32Value();
  std::string url = info[1].As<Napi::String>().Utf8Value();
  std::string error;
  const VdePlug *plug = LoadVdePlug(&error);
  if (!plug) {
    Napi::Error::New(env, "cannot load libvdeplug (apt-get install libvdeplug2): " + error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  char descr[] = "umvu vunet";
  errno = 0;
  void *conn = plug->open(url.data(), descr, 1 /* LIBVDEPLUG_INTERFACE_VERSION */, nullptr);
  if (!conn) {
    int err = errno ? errno : EINVAL;
    Napi::Error e = Napi::Error::New(env, std::string("cannot join the VDE network ") + url + ": " + strerror(err));
    e.Set("errno", Napi::Number::New(env, err));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto p = std::make_unique<Pump>();
  p->dev = fcntl(dev, F_DUPFD_CLOEXEC, 0);
  p->conn = conn;
  if (pipe2(p->stop, O_CLOEXEC) < 0) return ThrowErrno(env, "pipe2", errno);
  Pump *raw = p.get();
  p->thread = std::thread(PumpLoop, raw, plug);
  std::lock_guard<std::mutex> lock(gPumpsMu);
  int id = gNextPump++;
  gPumps[id] = std::move(p);
  return Napi::Number::New(env, id);
}

// netstackPumpStop(id): the pump leaves the VDE network
Napi::Value NetstackPumpStop(const Napi::CallbackInfo &info) {
  std::unique_ptr<Pump> p;
  {
    std::lock_guard<std::mutex> lock(gPumpsMu);
    auto it = gPumps.find(info[0].As<Napi::Number>().Int32Value());
    if (it == gPumps.end()) return info.Env().Undefined();
    p = std::move(it->second);
    gPumps.erase(it);
  }
  if (write(p->stop[1], "x", 1) < 0) {
    // the thread also stops when the device or the network goes
  }
  p->thread.join();
  std::string error;
  LoadVdePlug(&error)->close(p->conn);
  close(p->dev);
  close(p->stop[0]);
  close(p->stop[1]);
  return info.Env().Undefined();
}

}  // namespace

void InitNetstack(Napi::Env env, Napi::Object exports) {
  exports.Set("netstackStart", Napi::Function::New(env, NetstackStart));
  exports.Set("netstackSocket", Napi::Function::New(env, NetstackSocket));
  exports.Set("netstackPump", Napi::Function::New(env, NetstackPump));
  exports.Set("netstackPumpStop", Napi::Function::New(env, NetstackPumpStop));
}
