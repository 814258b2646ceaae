// JS class `ShmComm`: thin N-API shell over gp::shm::ShmComm.
#include <napi.h>

#include <memory>
#include <vector>

#include "../common/args.h"
#include "../common/host_binding.h"
#include "shm_comm.h"

namespace gp::shm {

namespace {

using ShmService = HostService<ShmComm>;

// Keeps a zero-copy segment mapped for as long as V8 holds the ArrayBuffer.
struct SharedHold {
  std::weak_ptr<ShmComm> comm;
  std::shared_ptr<Segment> seg;
};

class ShmBinding : public Napi::ObjectWrap<ShmBinding> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ShmComm",
                       {InstanceMethod("start", &ShmBinding::Start),
                        InstanceMethod("allReduce", &ShmBinding::AllReduce),
                        InstanceMethod("broadcast", &ShmBinding::Broadcast),
                        InstanceMethod("barrier", &ShmBinding::Barrier),
                        InstanceMethod("sharedBuffer", &ShmBinding::SharedBuffer),
                        InstanceMethod("abort", &ShmBinding::Abort),
                        InstanceMethod("close", &ShmBinding::Close),
                        InstanceMethod("info", &ShmBinding::Info),
                        InstanceMethod("pending", &ShmBinding::Pending),
                        InstanceMethod("collectiveAbi", &ShmBinding::CollectiveAbi)});
  }

  explicit ShmBinding(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<ShmBinding>(info), settler_(info.Env()) {
    Napi::Object o = objArg(info, 0);
    ShmOptions opt;
    opt.name = strProp(o, "name", "");
    opt.rank = intProp(o, "rank", 0);
    opt.worldSize = intProp(o, "worldSize", 1);
    opt.create = boolProp(o, "create", false);
    opt.chunkBytes = size_t(numProp(o, "chunkBytes", double(opt.chunkBytes)));
    opt.timeoutMs = intProp(o, "timeoutMs", opt.timeoutMs);
    if (opt.name.empty() || opt.name[0] != '/') {
      throw Napi::TypeError::New(info.Env(), "shm name must start with '/'");
    }
    core_ = Guard(info.Env(), [&] { return std::make_shared<ShmComm>(opt); });
    svc_ = std::make_shared<ShmService>(core_, "shm", opt.rank, opt.worldSize,
                                        [](ShmComm& c, const std::string& why) { c.abort(why); });
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    auto core = core_;
    return PromiseWorker::Start(info.Env(), [core] { core->start(); });
  }

  // Collectives are queued at call time, so call order is execution order.
  Napi::Value AllReduce(const Napi::CallbackInfo& info) { return host_js::AllReduce(info, settler_, *svc_); }
  Napi::Value Broadcast(const Napi::CallbackInfo& info) { return host_js::Broadcast(info, settler_, *svc_); }
  Napi::Value Barrier(const Napi::CallbackInfo& info) { return host_js::Barrier(info, settler_, *svc_); }

  Napi::Value SharedBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double n = info.Length() > 0 ? info[0].ToNumber().DoubleValue() : -1;
    if (!(n >= 0) || n > double(1ull << 40)) throw Napi::RangeError::New(env, "bad length");
    auto seg = Guard(env, [&] { return core_->createShared(size_t(n)); });
    auto* hold = new SharedHold{core_, seg};
    auto ab = Napi::ArrayBuffer::New(
        env, seg->data(), size_t(n) * sizeof(float),
        [](Napi::Env, void*, SharedHold* h) {
          if (auto c = h->comm.lock()) c->releaseShared(h->seg.get());
          delete h;
        },
        hold);
    views_.push_back(Napi::Weak(ab));
    return Napi::Float32Array::New(env, size_t(n), ab, 0);
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) { return host_js::Abort(info, *svc_); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    // Detach the zero-copy views so JS cannot touch memory we stop sharing;
    // the mapping itself goes away once V8 finalizes each ArrayBuffer.
    for (auto& ref : views_) {
      if (ref.IsEmpty()) continue;
      Napi::ArrayBuffer ab = ref.Value();
      if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
    }
    views_.clear();
    return host_js::Close(info, svc_);
  }

  Napi::Value Pending(const Napi::CallbackInfo& info) { return host_js::Pending(info, *svc_); }
  Napi::Value CollectiveAbi(const Napi::CallbackInfo& info) { return host_js::CollectiveAbi(info, svc_); }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("chunkBytes", Napi::Number::New(info.Env(), double(core_->chunkBytes())));
    return o;
  }

  std::shared_ptr<ShmComm> core_;
  std::shared_ptr<ShmService> svc_;
  JsSettler settler_;
  std::vector<Napi::Reference<Napi::ArrayBuffer>> views_;
};

}  // namespace

Napi::Function DefineShm(Napi::Env env) { return ShmBinding::Define(env); }

}  // namespace gp::shm
