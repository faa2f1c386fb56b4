// Message sockets for channels whose peer expects one message per read(2), such as a FUSE
// daemon reading its /dev/fuse: a SOCK_SEQPACKET pair keeps request boundaries, which a stream
// socket (all libuv offers) would merge. The supervisor's end is non-blocking; JavaScript learns
// it is readable through watchReadable (listener.cc) and drains it here.
#include "common.h"
#include <cerrno>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <vector>

namespace {

// Larger than any message the peer may send (a FUSE reply carries at most the read size we
// asked for, 1 MiB, plus its header); a longer one would be cut, so it is reported as EMSGSIZE.
constexpr size_t kMaxPacket = 2 << 20;
// A message must fit in its sender's socket buffer (else EMSGSIZE): room for 1 MiB replies
// and requests (the kernel caps it at net.core.wmem_max, 4 MiB here, 208 KiB on stock kernels).
constexpr int kSocketBuffer = 4 << 20;
std::vector<uint8_t> gPacket(kMaxPacket);

// seqpacketPair() -> [supervisorEnd (non-blocking), peerEnd, largest message either end can
// send]; both close-on-exec.
Napi::Value SeqpacketPair(const Napi::CallbackInfo &info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return ThrowErrno(info.Env(), "socketpair", errno);
  int one = 1;
  ioctl(sv[0], FIONBIO, &one);
  for (int fd : sv) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSocketBuffer, sizeof kSocketBuffer);
  // a SEQPACKET message must fit in the sender's buffer, less 32 bytes (af_unix.c)
  int maxMessage = kSocketBuffer * 2;
  for (int fd : sv) {
    int size = 0;
    socklen_t len = sizeof size;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) == 0 && size - 32 < maxMessage) maxMessage = size - 32;
  }
  Napi::Array out = Napi::Array::New(info.Env(), 3);
  out.Set(0u, sv[0]);
  out.Set(1u, sv[1]);
  out.Set(2u, maxMessage);
  return out;
}

// recvPackets(fd) -> {packets: Buffer[], eof: boolean, error: errno (0: none)}: every message
// queued now, without blocking.
Napi::Value RecvPackets(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array packets = Napi::Array::New(env);
  bool eof = false;
  int error = 0;
  for (uint32_t i = 0;; i++) {
    struct iovec iov = {gPacket.data(), gPacket.size()};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno != EAGAIN) error = errno;
      break;
    }
    if (n == 0) {  // a SEQPACKET peer never sends empty messages: the peer closed
      eof = true;
      break;
    }
    if (msg.msg_flags & MSG_TRUNC) {
      error = EMSGSIZE;
      break;
    }
    packets.Set(i, Napi::Buffer<uint8_t>::Copy(env, gPacket.data(), n));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("packets", packets);
  out.Set("eof", eof);
  out.Set("error", error);
  return out;
}

// sendPacket(fd, buffers[]) -> bytes sent, or -errno (-EAGAIN: the peer has not read enough
// yet); the buffers form one message.
Napi::Value SendPacket(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array parts = info[1].As<Napi::Array>();
  std::vector<struct iovec> iov(parts.Length());
  for (uint32_t i = 0; i < parts.Length(); i++) {
    Napi::Buffer<uint8_t> b = parts.Get(i).As<Napi::Buffer<uint8_t>>();
    iov[i] = {b.Data(), b.Length()};
  }
  struct msghdr msg = {};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return Napi::Number::New(info.Env(), n < 0 ? -errno : (double)n);
}

}  // namespace

void InitPacket(Napi::Env env, Napi::Object exports) {
  exports.Set("seqpacketPair", Napi::Function::New(env, SeqpacketPair));
  exports.Set("recvPackets", Napi::Function::New(env, RecvPackets));
  exports.Set("sendPacket", Napi::Function::New(env, SendPacket));
}
