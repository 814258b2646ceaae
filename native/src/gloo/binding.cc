// JS class `GlooComm` (present only in builds that found libgloo-dev).
#include <napi.h>

#include <memory>

#include "../common/args.h"
#include "../common/host_binding.h"
#include "gloo_comm.h"

namespace gp::gloo_backend {

namespace {

using GlooService = HostService<GlooComm>;

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
                        InstanceMethod("close", &GlooBinding::Close),
                        InstanceMethod("pending", &GlooBinding::Pending),
                        InstanceMethod("collectiveAbi", &GlooBinding::CollectiveAbi)});
  }

  explicit GlooBinding(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<GlooBinding>(info), settler_(info.Env()) {
    Napi::Object o = objArg(info, 0);
    GlooOptions opt;
    opt.rank = intProp(o, "rank", 0);
    opt.worldSize = intProp(o, "worldSize", 1);
    opt.hostname = strProp(o, "hostname", "127.0.0.1");
    opt.iface = strProp(o, "iface", "");
    opt.timeoutMs = intProp(o, "timeoutMs", 30000);
    core_ = Guard(info.Env(), [&] { return std::make_shared<GlooComm>(opt); });
    // gloo cannot interrupt a running operation (it ends at its timeout); queued ones fail at once.
    svc_ = std::make_shared<GlooService>(core_, "gloo", opt.rank, opt.worldSize,
                                         [](GlooComm& c, const std::string&) { c.abort(); });
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

  // Collectives are queued at call time, so call order is execution order.
  Napi::Value AllReduce(const Napi::CallbackInfo& info) { return host_js::AllReduce(info, settler_, *svc_); }
  Napi::Value Broadcast(const Napi::CallbackInfo& info) { return host_js::Broadcast(info, settler_, *svc_); }
  Napi::Value Barrier(const Napi::CallbackInfo& info) { return host_js::Barrier(info, settler_, *svc_); }
  Napi::Value Abort(const Napi::CallbackInfo& info) { return host_js::Abort(info, *svc_); }
  Napi::Value Close(const Napi::CallbackInfo& info) { return host_js::Close(info, svc_); }
  Napi::Value Pending(const Napi::CallbackInfo& info) { return host_js::Pending(info, *svc_); }
  Napi::Value CollectiveAbi(const Napi::CallbackInfo& info) { return host_js::CollectiveAbi(info, svc_); }

  std::shared_ptr<GlooComm> core_;
  std::shared_ptr<GlooService> svc_;
  JsSettler settler_;
};

}  // namespace

Napi::Function DefineGloo(Napi::Env env) { return GlooBinding::Define(env); }

}  // namespace gp::gloo_backend
