#include "common.h"
#include <cerrno>
#include <cstring>
#include <string>

uint64_t ToU64(const Napi::Value &v) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (v.IsNumber()) return (uint64_t)(int64_t)v.As<Napi::Number>().Int64Value();
  return 0;
}

Napi::Value ThrowErrno(Napi::Env env, const char *what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// strerror(errno): the C library's message, as perror(3) prints it.
static Napi::Value StrError(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), strerror(info[0].As<Napi::Number>().Int32Value()));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("strerror", Napi::Function::New(env, StrError));
  InitSpawn(env, exports);
  InitListener(env, exports);
  InitMemory(env, exports);
  InitPtrace(env, exports);
  InitPaths(env, exports);
  InitPacket(env, exports);
  InitDevices(env, exports);
  InitNetstack(env, exports);
  InitClock(env, exports);
  InitVdso(env, exports);
  return exports;
}

NODE_API_MODULE(vuos_native, Init)
