// JS class `GlooComm` (present only in builds that found libgloo-dev).
#include <napi.h>

#include <memory>

#include "../common/args.h"
#include "../common/promise_worker.h"
#include "gloo_comm.h"

namespace gp::gloo_backend {

namespace {

class GlooBinding : public Napi::ObjectWrap<GlooBinding> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "GlooComm",
                       {InstanceMethod("addresses", &GlooBinding::Addresses),
                        InstanceMethod("connect", &GlooBinding::Connect),
                        InstanceMethod("allReduce", &GlooBinding::AllReduce),
                        InstanceMethod("broadcast", &GlooBinding::Broadcast),
                        InstanceMethod("barrier", &GlooBinding::Barrier),
                        InstanceMethod("abort", &GlooBinding::Abort),
                        InstanceMethod("close", &GlooBinding::Close)});
  }

  explicit GlooBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GlooBinding>(info) {
    Napi::Object o = objArg(info, 0);
    GlooOptions opt;
    opt.rank = intProp(o, "rank", 0);
    opt.worldSize = intProp(o, "worldSize", 1);
    opt.hostname = strProp(o, "hostname", "127.0.0.1");
    opt.iface = strProp(o, "iface", "");
    opt.timeoutMs = intProp(o, "timeoutMs", 30000);
    core_ = Guard(info.Env(), [&] { return std::make_shared<GlooComm>(opt); });
  }

 private:
  // Array of Buffers, one per peer (empty for this rank).
  Napi::Value Addresses(const Napi::CallbackInfo& info) {
    auto addrs = core_->addresses();
    Napi::Array out = Napi::Array::New(info.Env(), addrs.size());
    for (size_t i = 0; i < addrs.size(); ++i) {
      out.Set(uint32_t(i), Napi::Buffer<char>::Copy(info.Env(), addrs[i].data(), addrs[i].size()));
    }
    return out;
  }

  Napi::Value Connect(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsArray()) {
      throw Napi::TypeError::New(info.Env(), "expected an array of Buffers");
    }
    Napi::Array arr = info[0].As<Napi::Array>();
    std::vector<std::vector<char>> forMe(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      if (v.IsBuffer()) {
        auto b = v.As<Napi::Buffer<char>>();
        forMe[i].assign(b.Data(), b.Data() + b.Length());
      }
    }
    auto c = core_;
    return PromiseWorker::Start(info.Env(), [c, forMe] { c->connect(forMe); });
  }

  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    F32View v = f32Arg(info, 0);
    bool avg = info.Length() > 1 && info[1].ToBoolean().Value();
    auto c = core_;
    return PromiseWorker::Start(
        info.Env(), [c, v, avg] { c->allReduce(v.data, v.length, avg); }, {v.holder});
  }

  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    F32View v = f32Arg(info, 0);
    int root = info.Length() > 1 ? info[1].ToNumber().Int32Value() : 0;
    auto c = core_;
    return PromiseWorker::Start(
        info.Env(), [c, v, root] { c->broadcast(v.data, v.length, root); }, {v.holder});
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    auto c = core_;
    return PromiseWorker::Start(info.Env(), [c] { c->barrier(); });
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) {
    core_->abort();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    core_->close();
    return info.Env().Undefined();
  }

  std::shared_ptr<GlooComm> core_;
};

}  // namespace

Napi::Function DefineGloo(Napi::Env env) { return GlooBinding::Define(env); }

}  // namespace gp::gloo_backend
