// The virtual clock fast path (vumisctime). TypeScript pushes one clock: the clock ids it
// virtualizes (a bit each) and virtual = (real - base) * frequency + base + offset, all in ns.
// For syscalls TypeScript marks ACT_CLOCK, the listener thread itself reads the real clock,
// transforms it, writes the result into the caller's memory and answers: clock_gettime of a
// listed clock, gettimeofday (a listed CLOCK_REALTIME) and time. Another clock, or a call that
// reads no time, is continued; so is a call of a process whose memory umvu may not write (an
// undumpable one, as an unprivileged user): it gets the real time. A write that fails at its
// address goes to JavaScript, which gives the kernel's EFAULT.
#include "common.h"
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <ctime>
#include <mutex>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

namespace {

struct Clock {
  bool active = false;
  uint32_t clocks = 0;  // bit n: clock id n is virtual
  int64_t base = 0;
  int64_t offset = 0;
  double frequency = 1;
};

std::mutex gClockMu;
Clock gClock;

Clock Current() {
  std::lock_guard<std::mutex> lock(gClockMu);
  return gClock;
}

bool Virtual(const Clock &c, int id) { return c.active && id >= 0 && id < 32 && ((c.clocks >> id) & 1); }

// The transformation, in long double (a 64-bit mantissa: exact for frequency 1), saturated to
// what an int64 of ns holds.
int64_t Transform(int64_t real, int64_t base, double frequency, int64_t offset) {
  long double v = (long double)base + (long double)offset + (long double)(real - base) * frequency;
  if (!(v < (long double)INT64_MAX)) return INT64_MAX;
  if (!(v > (long double)INT64_MIN)) return INT64_MIN;
  return (int64_t)llroundl(v);
}

// clock id now as ns since the epoch; false if the kernel cannot read it.
bool RealNs(int id, int64_t *ns) {
  struct timespec ts;
  if (clock_gettime(id, &ts) < 0) return false;
  *ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  return true;
}

// seconds (rounded down, also before 1970) and the ns within them
void Split(int64_t ns, int64_t *sec, int64_t *frac) {
  *sec = ns / 1000000000;
  *frac = ns % 1000000000;
  if (*frac < 0) {
    *frac += 1000000000;
    (*sec)--;
  }
}

void Reply(int listener, uint64_t id, int64_t val) {
  struct seccomp_notif_resp resp = {};
  resp.id = id;
  resp.val = val;
  ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);  // ENOENT: the caller went away
}

// setClock({clocks, base, frequency, offset} | null)
Napi::Value SetClock(const Napi::CallbackInfo &info) {
  Clock c;
  if (info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    c.active = true;
    c.clocks = o.Get("clocks").As<Napi::Number>().Uint32Value();
    c.base = (int64_t)ToU64(o.Get("base"));
    c.offset = (int64_t)ToU64(o.Get("offset"));
    c.frequency = o.Get("frequency").As<Napi::Number>().DoubleValue();
  }
  std::lock_guard<std::mutex> lock(gClockMu);
  gClock = c;
  return info.Env().Undefined();
}

// clockTime(clockId, base, frequency, offset[, real]) -> bigint ns: clock id read now (or the
// time real of it) transformed, with the fast path's arithmetic; throws if the kernel cannot
// read that clock.
Napi::Value ClockTime(const Napi::CallbackInfo &info) {
  int64_t real = (int64_t)ToU64(info[4]);
  if (info[4].IsUndefined() && !RealNs(info[0].As<Napi::Number>().Int32Value(), &real))
    return ThrowErrno(info.Env(), "clock_gettime", errno);
  int64_t v = Transform(real, (int64_t)ToU64(info[1]), info[2].As<Napi::Number>().DoubleValue(), (int64_t)ToU64(info[3]));
  return Napi::BigInt::New(info.Env(), v);
}

}  // namespace

PathVerdict HandleClockCall(int listener, const struct seccomp_notif *n) {
  Clock c = Current();
  int nr = n->data.nr;
  // which clock the call reads, and where its answer goes
  int id;
  uint64_t out = n->data.args[nr == SYS_clock_gettime ? 1 : 0];
  if (nr == SYS_clock_gettime) id = (int)n->data.args[0];
  else if (nr == SYS_gettimeofday) id = CLOCK_REALTIME;
  else if (nr == SYS_time) id = CLOCK_REALTIME_COARSE;  // (the kernel's time() is the tick's second)
  else return PATH_JS;
  if (!Virtual(c, nr == SYS_time ? CLOCK_REALTIME : id)) return PATH_CONTINUE;
  if (nr == SYS_gettimeofday && out == 0) return PATH_CONTINUE;  // the time zone only
  int64_t real;
  if (!RealNs(id, &real)) return PATH_JS;
  int64_t sec, frac;
  Split(Transform(real, c.base, c.frequency, c.offset), &sec, &frac);
  // the caller still waits (its tid is not a newer process'), before its memory is written
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id) < 0) return PATH_ANSWERED;
  int err = 0;
  if (nr == SYS_time) {
    if (out != 0) err = WriteTarget(n->pid, out, &sec, sizeof sec);
  } else if (nr == SYS_clock_gettime) {
    struct timespec ts = {(time_t)sec, (long)frac};
    err = WriteTarget(n->pid, out, &ts, sizeof ts);
  } else {
    struct timeval tv = {(time_t)sec, (suseconds_t)(frac / 1000)};
    err = WriteTarget(n->pid, out, &tv, sizeof tv);
    if (!err && n->data.args[1] != 0) {
      struct timezone tz;
      syscall(SYS_gettimeofday, nullptr, &tz);  // the kernel's, as it gives it
      err = WriteTarget(n->pid, n->data.args[1], &tz, sizeof tz);
    }
  }
  if (err) return err == EFAULT ? PATH_JS : PATH_CONTINUE;
  Reply(listener, n->id, nr == SYS_time ? sec : 0);
  return PATH_ANSWERED;
}

void InitClock(Napi::Env env, Napi::Object exports) {
  exports.Set("setClock", Napi::Function::New(env, SetClock));
  exports.Set("clockTime", Napi::Function::New(env, ClockTime));
}
