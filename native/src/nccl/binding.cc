// JS surface of the nccl backend: ncclProbe(), ncclUniqueId() and class
// NcclComm. Everything loads the libraries lazily, so merely importing the
// addon never touches CUDA.
#include <napi.h>

#include <cstring>
#include <memory>

#include "../common/args.h"
#include "../common/promise_worker.h"
#include "api.h"
#include "nccl_comm.h"

namespace gp::nccl {

namespace {

// { ok, reason?, ncclVersion, cudartVersion, driverVersion, devices }.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  try {
    const Api& a = api();
    o.Set("ncclVersion", ncclVersionString(a.ncclVersion));
    o.Set("ncclLibrary", a.ncclPath);
    o.Set("cudartVersion", a.cudartVersion);
    o.Set("cudartLibrary", a.cudartPath);
    int drv = 0, count = 0;
    a.cudaDriverGetVersion(&drv);
    o.Set("driverVersion", drv);
    cudaError_t e = a.cudaGetDeviceCount(&count);
    o.Set("devices", e == cudaSuccess ? count : 0);
    if (e != cudaSuccess || count == 0) {
      o.Set("ok", false);
      o.Set("reason", std::string("no usable CUDA device: ") +
                          (e == cudaSuccess ? "0 devices visible" : a.cudaGetErrorString(e)));
    } else {
      o.Set("ok", true);
    }
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
      throw CollectiveError(ErrCode::Backend,
                            std::string("ncclGetUniqueId failed: ") + a.ncclGetErrorString(r));
    }
    return Napi::Buffer<char>::Copy(info.Env(), id.internal, sizeof(id.internal));
  });
}

void* devicePtr(const Napi::CallbackInfo& info, size_t i) {
  bool lossless = false;
  if (info.Length() <= i || !info[i].IsBigInt()) {
    throw Napi::TypeError::New(info.Env(), "expected a bigint device address");
  }
  uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || v == 0) throw Napi::RangeError::New(info.Env(), "bad device address");
  return reinterpret_cast<void*>(uintptr_t(v));
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
                        InstanceMethod("close", &NcclBinding::Close),
                        InstanceMethod("info", &NcclBinding::Info)});
  }

  explicit NcclBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NcclBinding>(info) {
    Napi::Object o = objArg(info, 0);
    Napi::Value idv = o.Get("id");
    if (!idv.IsBuffer() || idv.As<Napi::Buffer<char>>().Length() != sizeof(ncclUniqueId)) {
      throw Napi::TypeError::New(info.Env(), "id must be a 128-byte Buffer");
    }
    ncclUniqueId id;
    std::memcpy(id.internal, idv.As<Napi::Buffer<char>>().Data(), sizeof(id.internal));
    core_ = Guard(info.Env(), [&] {
      return std::make_shared<NcclComm>(intProp(o, "rank", 0), intProp(o, "worldSize", 1),
                                        intProp(o, "device", 0), id,
                                        intProp(o, "timeoutMs", 30000));
    });
  }

 private:
  Napi::Value Init(const Napi::CallbackInfo& info) {
    auto c = core_;
    return PromiseWorker::Start(info.Env(), [c] { c->init(); });
  }
  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    F32View v = f32Arg(info, 0);
    bool avg = info.Length() > 1 && info[1].ToBoolean().Value();
    auto c = core_;
    return PromiseWorker::Start(
        info.Env(), [c, v, avg] { c->allReduceHost(v.data, v.length, avg); }, {v.holder});
  }
  Napi::Value AllReduceDevice(const Napi::CallbackInfo& info) {
    void* p = devicePtr(info, 0);
    size_t n = size_t(info[1].ToNumber().DoubleValue());
    bool avg = info.Length() > 2 && info[2].ToBoolean().Value();
    auto c = core_;
    return PromiseWorker::Start(info.Env(), [c, p, n, avg] { c->allReduceDevice(p, n, avg); });
  }
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    F32View v = f32Arg(info, 0);
    int root = info[1].ToNumber().Int32Value();
    auto c = core_;
    return PromiseWorker::Start(
        info.Env(), [c, v, root] { c->broadcastHost(v.data, v.length, root); }, {v.holder});
  }
  Napi::Value BroadcastDevice(const Napi::CallbackInfo& info) {
    void* p = devicePtr(info, 0);
    size_t n = size_t(info[1].ToNumber().DoubleValue());
    int root = info[2].ToNumber().Int32Value();
    auto c = core_;
    return PromiseWorker::Start(info.Env(), [c, p, n, root] { c->broadcastDevice(p, n, root); });
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
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("device", core_->device());
    o.Set("busId", core_->busId());
    return o;
  }

  std::shared_ptr<NcclComm> core_;
};

}  // namespace

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclProbe", Napi::Function::New(env, Probe));
  exports.Set("ncclUniqueId", Napi::Function::New(env, UniqueId));
  exports.Set("NcclComm", NcclBinding::Define(env));
}

}  // namespace gp::nccl
