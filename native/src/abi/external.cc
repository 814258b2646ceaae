// The C side of the collectives ABI: a reference-counted gp_coll_comm that
// owns the function table and a Provider, and gp_coll_work handles.
#include "external.h"

#include <atomic>
#include <cstdio>
#include <cstring>

#include "gradpool/collectives_abi.h"

struct gp_coll_comm {
  gp_coll_abi table;
  std::atomic<int> refs{1};
  std::shared_ptr<gp::abi::Provider> provider;
};

struct gp_coll_work {
  gp::WorkPtr work;
  std::shared_ptr<gp::abi::Provider> provider;
};

namespace gp::abi {

namespace {

gp_coll_status statusOf(ErrCode c) {
  switch (c) {
    case ErrCode::Timeout: return GP_COLL_TIMEOUT;
    case ErrCode::PeerDied: return GP_COLL_PEER_DIED;
    case ErrCode::Aborted: return GP_COLL_ABORTED;
    case ErrCode::Mismatch: return GP_COLL_MISMATCH;
    case ErrCode::Resource: return GP_COLL_RESOURCE;
    case ErrCode::Unavailable: return GP_COLL_UNAVAILABLE;
    case ErrCode::Broken: return GP_COLL_BROKEN;
    case ErrCode::Backend: return GP_COLL_BACKEND;
  }
  return GP_COLL_BACKEND;
}

void copyErr(char* err, size_t len, const std::string& msg) {
  if (err != nullptr && len > 0) std::snprintf(err, len, "%s", msg.c_str());
}

// The status of a finished work, with its message and the rank at fault.
gp_coll_status outcome(const Work& w, int32_t* rank, char* err, size_t len) {
  if (w.ok()) return GP_COLL_OK;
  CollectiveError e = w.error();
  if (rank != nullptr) *rank = e.rank;
  copyErr(err, len, e.what());
  return statusOf(e.code);
}

// Runs fn, turning what it throws into a status (and err).
template <typename F>
gp_coll_status guarded(char* err, size_t len, F&& fn) {
  try {
    fn();
    return GP_COLL_OK;
  } catch (const InvalidArgument& e) {
    copyErr(err, len, e.what());
    return GP_COLL_INVALID;
  } catch (const CollectiveError& e) {
    copyErr(err, len, e.what());
    return statusOf(e.code);
  }
}

void retain(gp_coll_comm* c) { c->refs.fetch_add(1); }

void release(gp_coll_comm* c) {
  if (c->refs.fetch_sub(1) == 1) delete c;
}

gp_coll_status allReduce(gp_coll_comm* c, float* buf, size_t count, gp_coll_op op, void* after,
                         gp_coll_done_fn done, void* user, gp_coll_work** work, char* err,
                         size_t len) {
  if (work != nullptr) *work = nullptr;
  if ((buf == nullptr && count > 0) || (op != GP_COLL_SUM && op != GP_COLL_AVG)) {
    copyErr(err, len, "all_reduce: buf is NULL or op is not GP_COLL_SUM/GP_COLL_AVG");
    return GP_COLL_INVALID;
  }
  WorkPtr w;
  gp_coll_status s = guarded(err, len, [&] { w = c->provider->allReduceAsync(buf, count, op == GP_COLL_AVG, after); });
  if (s != GP_COLL_OK) return s;
  if (done != nullptr) {
    w->onDone([done, user](const Work& fin) {
      char msg[1024] = {0};
      int32_t rank = -1;
      gp_coll_status s = outcome(fin, &rank, msg, sizeof(msg));
      done(user, s, rank, msg);
    });
  }
  if (work != nullptr) *work = new gp_coll_work{w, c->provider};
  return GP_COLL_OK;
}

gp_coll_status streamWait(gp_coll_work* w, void* stream, char* err, size_t len) {
  return guarded(err, len, [&] { w->provider->streamWait(w->work, stream); });
}

gp_coll_status wait(gp_coll_work* w, int64_t timeoutMs, int32_t* rank, char* err, size_t len) {
  if (rank != nullptr) *rank = -1;
  if (!w->work->wait(timeoutMs < 0 ? -1 : long(timeoutMs))) return GP_COLL_PENDING;
  return outcome(*w->work, rank, err, len);
}

gp_coll_status test(gp_coll_work* w) {
  if (!w->work->done()) return GP_COLL_PENDING;
  return outcome(*w->work, nullptr, nullptr, 0);
}

void workRelease(gp_coll_work* w) { delete w; }

void abortComm(gp_coll_comm* c, const char* reason) {
  c->provider->abort(reason != nullptr ? reason : "abort() through the C ABI");
}

}  // namespace

Napi::Value MakeExternal(Napi::Env env, std::shared_ptr<Provider> provider) {
  auto* c = new gp_coll_comm();
  gp_coll_abi& t = c->table;
  t.version = GP_COLL_ABI_VERSION;
  t.size = sizeof(gp_coll_abi);
  t.comm = c;
  t.backend = provider->backend();
  t.rank = provider->rank();
  t.world_size = provider->worldSize();
  t.memory = provider->deviceMemory() ? GP_COLL_MEMORY_CUDA : GP_COLL_MEMORY_HOST;
  t.cuda_device = provider->cudaDevice();
  t.retain = retain;
  t.release = release;
  t.all_reduce = allReduce;
  t.stream_wait = streamWait;
  t.wait = wait;
  t.test = test;
  t.work_release = workRelease;
  t.abort = abortComm;
  c->provider = std::move(provider);
  auto ext = Napi::External<gp_coll_abi>::New(env, &c->table,
                                              [](Napi::Env, gp_coll_abi* t) { release(t->comm); });
  napi_type_tag tag{GP_COLL_ABI_TYPE_TAG_LOWER, GP_COLL_ABI_TYPE_TAG_UPPER};
  ext.TypeTag(&tag);
  return ext;
}

}  // namespace gp::abi
