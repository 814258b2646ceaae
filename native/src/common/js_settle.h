// Settles JS promises for Works that complete on other threads.
//
// Operations are submitted to a communicator's queue on the JS thread, at
// call time (so call order is execution order); their completion arrives on
// the queue's or the progress thread and is handed to the JS thread through
// one thread-safe function per communicator binding. That function keeps
// the event loop alive only while some promise is pending.
#pragma once

#include <napi.h>

#include <functional>
#include <utility>
#include <vector>

#include "errors.h"
#include "work.h"

namespace gp {

class JsSettler {
 public:
  using Result = std::function<Napi::Value(Napi::Env)>;

  explicit JsSettler(Napi::Env env) {
    tsfn_ = Tsfn::New(env, "gradpool:collective", 0, 1, this);
    tsfn_.Unref(env);
  }
  ~JsSettler() { tsfn_.Release(); }
  JsSettler(const JsSettler&) = delete;
  JsSettler& operator=(const JsSettler&) = delete;

  // keep: objects that must outlive the operation (the typed array, the
  // binding object that owns this settler).
  Napi::Promise track(Napi::Env env, const WorkPtr& w, std::vector<Napi::Object> keep,
                      Result result = nullptr) {
    auto* p = new Pending{Napi::Promise::Deferred::New(env), {}, w, std::move(result)};
    for (auto& o : keep) p->keep.push_back(Napi::Persistent(o));
    Napi::Promise promise = p->deferred.Promise();
    if (pending_++ == 0) tsfn_.Ref(env);
    w->onDone([this, p](const Work&) { tsfn_.NonBlockingCall(p); });
    return promise;
  }

  int pending() const { return pending_; }

 private:
  struct Pending {
    Napi::Promise::Deferred deferred;
    std::vector<Napi::ObjectReference> keep;
    WorkPtr work;
    Result result;
  };

  static void CallJs(Napi::Env env, Napi::Function, JsSettler* self, Pending* p) {
    if (env != nullptr) {
      Napi::HandleScope scope(env);
      if (p->work->ok()) {
        p->deferred.Resolve(p->result ? p->result(env) : env.Undefined());
      } else {
        CollectiveError e = p->work->error();
        Napi::Error err = Napi::Error::New(env, e.what());
        err.Set("code", errCodeName(e.code));
        if (e.rank >= 0) err.Set("rank", Napi::Number::New(env, e.rank));
        p->deferred.Reject(err.Value());
      }
      if (--self->pending_ == 0) self->tsfn_.Unref(env);
    }
    delete p;
  }

  using Tsfn = Napi::TypedThreadSafeFunction<JsSettler, Pending, &JsSettler::CallJs>;
  Tsfn tsfn_;
  int pending_ = 0;
};

}  // namespace gp
