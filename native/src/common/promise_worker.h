// Runs one blocking collective on a libuv pool thread and settles a Promise.
//
// Collectives can block for up to the timeout; running them here keeps the
// event loop free (heartbeats, Redis, HTTP keep working meanwhile). Arguments
// such as the caller's Float32Array are pinned with persistent references so
// the GC cannot free their memory while the pool thread reads and writes it.
#pragma once

#include <napi.h>

#include <functional>
#include <utility>
#include <vector>

#include "errors.h"

namespace gp {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Task = std::function<void()>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise Start(Napi::Env env, Task task,
                             std::vector<Napi::Object> keepAlive = {},
                             Result result = nullptr) {
    auto* w = new PromiseWorker(env, std::move(task), std::move(result));
    for (auto& o : keepAlive) w->keep_.push_back(Napi::Persistent(o));
    w->Queue();
    return w->deferred_.Promise();
  }

 protected:
  void Execute() override {
    try {
      task_();
    } catch (const CollectiveError& e) {
      code_ = e.code;
      rank_ = e.rank;
      SetError(e.what());
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }

  void OnOK() override {
    deferred_.Resolve(result_ ? result_(Env()) : Env().Undefined());
  }

  void OnError(const Napi::Error& e) override {
    Napi::Object err = e.Value();
    err.Set("code", errCodeName(code_));
    if (rank_ >= 0) err.Set("rank", Napi::Number::New(Env(), rank_));
    deferred_.Reject(err);
  }

 private:
  PromiseWorker(Napi::Env env, Task task, Result result)
      : Napi::AsyncWorker(env, "gradpool:collective"),
        deferred_(Napi::Promise::Deferred::New(env)),
        task_(std::move(task)),
        result_(std::move(result)) {}

  Napi::Promise::Deferred deferred_;
  Task task_;
  Result result_;
  std::vector<Napi::ObjectReference> keep_;
  ErrCode code_ = ErrCode::Backend;
  int rank_ = -1;
};

// Throws a JS error carrying the same code/rank fields as rejected promises.
inline void ThrowCollective(Napi::Env env, const CollectiveError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", errCodeName(e.code));
  if (e.rank >= 0) err.Set("rank", Napi::Number::New(env, e.rank));
  throw err;
}

// Runs fn on the main thread, converting native errors into JS errors.
template <typename F>
auto Guard(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const CollectiveError& e) {
    ThrowCollective(env, e);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  throw Napi::Error::New(env, "unreachable");
}

}  // namespace gp
