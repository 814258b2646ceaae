// The JS methods shm and gloo bindings share: collectives submitted to a
// HostService at call time, settled through the binding's JsSettler.
#pragma once

#include <napi.h>

#include <memory>

#include "../abi/external.h"
#include "args.h"
#include "host_service.h"
#include "js_settle.h"
#include "promise_worker.h"

namespace gp::host_js {

template <typename S>
Napi::Value AllReduce(const Napi::CallbackInfo& info, JsSettler& settler, S& svc) {
  F32View v = f32Arg(info, 0);
  bool avg = info.Length() > 1 && info[1].ToBoolean().Value();
  return settler.track(info.Env(), svc.allReduceAsync(v.data, v.length, avg, nullptr),
                       {v.holder, info.This().As<Napi::Object>()});
}

template <typename S>
Napi::Value Broadcast(const Napi::CallbackInfo& info, JsSettler& settler, S& svc) {
  F32View v = f32Arg(info, 0);
  int root = info.Length() > 1 ? info[1].ToNumber().Int32Value() : 0;
  return settler.track(info.Env(), svc.broadcastAsync(v.data, v.length, root),
                       {v.holder, info.This().As<Napi::Object>()});
}

template <typename S>
Napi::Value Barrier(const Napi::CallbackInfo& info, JsSettler& settler, S& svc) {
  return settler.track(info.Env(), svc.barrierAsync(), {info.This().As<Napi::Object>()});
}

template <typename S>
Napi::Value Abort(const Napi::CallbackInfo& info, S& svc) {
  std::string reason = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value()
                                                                : "abort() called";
  svc.abort(reason);
  return info.Env().Undefined();
}

// Off the JS thread: close waits for the running operation.
template <typename S>
Napi::Value Close(const Napi::CallbackInfo& info, const std::shared_ptr<S>& svc) {
  return PromiseWorker::Start(info.Env(), [svc] { svc->close(); });
}

template <typename S>
Napi::Value Pending(const Napi::CallbackInfo& info, S& svc) {
  return Napi::Number::New(info.Env(), double(svc.pending()));
}

template <typename S>
Napi::Value CollectiveAbi(const Napi::CallbackInfo& info, const std::shared_ptr<S>& svc) {
  return abi::MakeExternal(info.Env(), svc);
}

}  // namespace gp::host_js
