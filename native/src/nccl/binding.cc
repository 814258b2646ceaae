// JS surface of the nccl backend: ncclProbe(), ncclUniqueId() and class
// NcclComm. Everything loads the libraries lazily, so merely importing the
// addon never touches CUDA.
#include <napi.h>

#include <cstring>
#include <memory>

#include "../abi/external.h"
#include "../common/args.h"
#include "../common/js_settle.h"
#include "../common/promise_worker.h"
#include "api.h"
#include "nccl_comm.h"

namespace gp::nccl {

namespace {

// { ok, reason?, ncclVersion, cudartVersion, driverVersion, devices, busIds }:
// ok says whether NCCL can run here; busIds come from the CUDA runtime alone.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Devices dev = cudaDevices();
  Napi::Array bus = Napi::Array::New(env, dev.busIds.size());
  for (size_t d = 0; d < dev.busIds.size(); ++d) bus.Set(uint32_t(d), dev.busIds[d]);
  o.Set("busIds", bus);
  o.Set("devices", double(dev.busIds.size()));
  if (!dev.library.empty()) o.Set("cudartLibrary", dev.library);
  try {
    const Api& a = api();
    o.Set("ncclVersion", ncclVersionString(a.ncclVersion));
    o.Set("ncclLibrary", a.ncclPath);
    o.Set("cudartVersion", a.cudartVersion);
    int drv = 0;
    a.cudaDriverGetVersion(&drv);
    o.Set("driverVersion", drv);
    o.Set("ok", dev.ok && !dev.busIds.empty());
    if (!dev.ok) o.Set("reason", dev.error);
    if (dev.ok && dev.busIds.empty()) o.Set("reason", "no usable CUDA device: 0 devices visible");
  } catch (const std::exception& e) {
    o.Set("ok", false);
    o.Set("reason", e.what());
  }
  return o;
}

Napi::Value UniqueId(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    const Api& a = api();
    ncclUniqueId id;
    ncclResult_t r = a.ncclGetUniqueId(&id);
    if (r != ncclSuccess) {
      throw CollectiveError(ErrCode::Backend, "ncclGetUniqueId failed: " + ncclErrorText(a, r, nullptr));
    }
    return Napi::Buffer<char>::Copy(info.Env(), id.internal, sizeof(id.internal));
  });
}

// A bigint address; allowZero for the legacy default stream.
void* addressArg(const Napi::CallbackInfo& info, size_t i, bool allowZero) {
  if (allowZero && (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull())) return nullptr;
  bool lossless = false;
  if (info.Length() <= i || !info[i].IsBigInt()) {
    throw Napi::TypeError::New(info.Env(), "expected a bigint address");
  }
  uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || (v == 0 && !allowZero)) throw Napi::RangeError::New(info.Env(), "bad address");
  return reinterpret_cast<void*>(uintptr_t(v));
}

NcclOptions options(const Napi::CallbackInfo& info) {
  Napi::Object o = objArg(info, 0);
  Napi::Value idv = o.Get("id");
  if (!idv.IsBuffer() || idv.As<Napi::Buffer<char>>().Length() != sizeof(ncclUniqueId)) {
    throw Napi::TypeError::New(info.Env(), "id must be a 128-byte Buffer");
  }
  NcclOptions opt;
  std::memcpy(opt.id.internal, idv.As<Napi::Buffer<char>>().Data(), sizeof(opt.id.internal));
  opt.rank = intProp(o, "rank", 0);
  opt.worldSize = intProp(o, "worldSize", 1);
  opt.device = intProp(o, "device", 0);
  opt.timeoutMs = intProp(o, "timeoutMs", opt.timeoutMs);
  opt.initTimeoutMs = intProp(o, "initTimeoutMs", opt.timeoutMs);
  opt.finalizeTimeoutMs = intProp(o, "finalizeTimeoutMs", opt.finalizeTimeoutMs);
  Napi::Value peers = o.Get("localPeers");
  if (peers.IsArray()) {
    Napi::Array arr = peers.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Object p = arr.Get(i).As<Napi::Object>();
      opt.localPeers.push_back({intProp(p, "rank", -1), intProp(p, "pid", 0)});
    }
  }
  return opt;
}

class NcclBinding : public Napi::ObjectWrap<NcclBinding> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NcclComm",
                       {InstanceMethod("init", &NcclBinding::Init),
                        InstanceMethod("allReduce", &NcclBinding::AllReduce),
                        InstanceMethod("allReduceDevice", &NcclBinding::AllReduceDevice),
                        InstanceMethod("broadcast", &NcclBinding::Broadcast),
                        InstanceMethod("broadcastDevice", &NcclBinding::BroadcastDevice),
                        InstanceMethod("barrier", &NcclBinding::Barrier),
                        InstanceMethod("abort", &NcclBinding::Abort),
                        InstanceMethod("abortPeer", &NcclBinding::AbortPeer),
                        InstanceMethod("close", &NcclBinding::Close),
                        InstanceMethod("pending", &NcclBinding::Pending),
                        InstanceMethod("info", &NcclBinding::Info),
                        InstanceMethod("collectiveAbi", &NcclBinding::CollectiveAbi)});
  }

  explicit NcclBinding(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<NcclBinding>(info), settler_(info.Env()) {
    NcclOptions opt = options(info);
    core_ = Guard(info.Env(), [&] { return std::make_shared<NcclComm>(opt); });
  }

 private:
  Napi::Value Init(const Napi::CallbackInfo& info) {
    auto c = core_;
    return PromiseWorker::Start(info.Env(), [c] { c->init(); });
  }
  Napi::Value track(const Napi::CallbackInfo& info, const WorkPtr& w, std::vector<Napi::Object> keep = {}) {
    keep.push_back(info.This().As<Napi::Object>());
    return settler_.track(info.Env(), w, std::move(keep));
  }
  template <typename F>
  Napi::Value submit(const Napi::CallbackInfo& info, F&& f, std::vector<Napi::Object> keep = {}) {
    WorkPtr w;
    try {
      w = f();
    } catch (const abi::InvalidArgument& e) {
      throw Napi::TypeError::New(info.Env(), e.what());
    } catch (const CollectiveError& e) {
      ThrowCollective(info.Env(), e);
    }
    return track(info, w, std::move(keep));
  }
  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    F32View v = f32Arg(info, 0);
    bool avg = info.Length() > 1 && info[1].ToBoolean().Value();
    return submit(info, [&] { return core_->allReduceHostAsync(v.data, v.length, avg); }, {v.holder});
  }
  // allReduceDevice(ptr, count, avg, afterStream?)
  Napi::Value AllReduceDevice(const Napi::CallbackInfo& info) {
    auto* p = static_cast<float*>(addressArg(info, 0, false));
    size_t n = size_t(info[1].ToNumber().DoubleValue());
    bool avg = info.Length() > 2 && info[2].ToBoolean().Value();
    void* after = addressArg(info, 3, true);
    return submit(info, [&] { return core_->allReduceAsync(p, n, avg, after); });
  }
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    F32View v = f32Arg(info, 0);
    int root = info[1].ToNumber().Int32Value();
    return submit(info, [&] { return core_->broadcastHostAsync(v.data, v.length, root); }, {v.holder});
  }
  // broadcastDevice(ptr, count, root, afterStream?)
  Napi::Value BroadcastDevice(const Napi::CallbackInfo& info) {
    auto* p = static_cast<float*>(addressArg(info, 0, false));
    size_t n = size_t(info[1].ToNumber().DoubleValue());
    int root = info[2].ToNumber().Int32Value();
    void* after = addressArg(info, 3, true);
    return submit(info, [&] { return core_->broadcastDeviceAsync(p, n, root, after); });
  }
  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    return submit(info, [&] { return core_->barrierAsync(); });
  }
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    std::string reason = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value()
                                                                  : "abort() called";
    core_->abort(reason);
    return info.Env().Undefined();
  }
  // abortPeer(rank, why): a peer found dead by the caller (remote heartbeats).
  Napi::Value AbortPeer(const Napi::CallbackInfo& info) {
    core_->abortPeer(info[0].ToNumber().Int32Value(), info[1].ToString().Utf8Value());
    return info.Env().Undefined();
  }
  // close(graceful) → { finalized, how }, off the JS thread.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool graceful = info.Length() > 0 && info[0].ToBoolean().Value();
    auto c = core_;
    auto res = std::make_shared<CloseResult>();
    return PromiseWorker::Start(
        info.Env(), [c, graceful, res] { *res = c->close(graceful); }, {},
        [res](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("finalized", res->finalized);
          o.Set("how", res->how);
          return o;
        });
  }
  Napi::Value Pending(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(core_->pending()));
  }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("device", core_->device());
    o.Set("busId", core_->busId());
    return o;
  }
  Napi::Value CollectiveAbi(const Napi::CallbackInfo& info) { return abi::MakeExternal(info.Env(), core_); }

  std::shared_ptr<NcclComm> core_;
  JsSettler settler_;
};

}  // namespace

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclProbe", Napi::Function::New(env, Probe));
  exports.Set("ncclUniqueId", Napi::Function::New(env, UniqueId));
  exports.Set("NcclComm", NcclBinding::Define(env));
}

}  // namespace gp::nccl
