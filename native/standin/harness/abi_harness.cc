// N-API module for tests: unwraps the External from
// Communicator.collectiveAbi() exactly as the libtorch engine will, and runs
// DDP-style bucket all-reduces through the C ABI.
//
//   describe(ext) → the table's fields
//   buckets(ext, { sizes, op, computeDelayMs, timeoutMs }) → Promise<result>
//   abort(ext, reason)
#include <napi.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "gradpool/collectives_abi.h"
#include "harness.h"

namespace harness {

namespace {

const gp_coll_abi* unwrap(const Napi::Value& v) {
  napi_type_tag tag{GP_COLL_ABI_TYPE_TAG_LOWER, GP_COLL_ABI_TYPE_TAG_UPPER};
  if (!v.IsExternal() || !v.As<Napi::External<gp_coll_abi>>().CheckTypeTag(&tag)) {
    throw Napi::TypeError::New(v.Env(), "not a gradpool collectives ABI External");
  }
  const gp_coll_abi* t = v.As<Napi::External<gp_coll_abi>>().Data();
  if (t->version != GP_COLL_ABI_VERSION || t->size < sizeof(gp_coll_abi)) {
    throw Napi::Error::New(v.Env(), "unsupported collectives ABI version");
  }
  return t;
}

// The value rank r contributes at index i: sums of a few ranks stay exact in float.
float contribution(int rank, size_t i) { return float(rank + 1) * 0.5f + float(i % 61) * 0.25f; }

struct Plan {
  std::vector<size_t> sizes;
  gp_coll_op op = GP_COLL_SUM;
  int computeDelayMs = 0;
  int64_t timeoutMs = 60000;
};

struct Result {
  bool submittedBeforeCompute = false;
  std::vector<std::string> statuses, messages;
  std::vector<int> ranks;
  std::vector<int> completionOrder;  // bucket indices, in callback order
  size_t mismatches = 0;
  long firstMismatch = -1;
  float got = 0, want = 0;
  std::string invalidStream, invalidStreamWait;  // host backends: misuse must be refused
};

// A "backward kernel": writes one bucket's gradient after the gate opens.
struct Produce {
  float* data;
  size_t offset, count;
  int rank, delayMs;
  std::atomic<bool>* gate;
  std::atomic<int>* produced;
};

void produce(void* p) {
  auto* pr = static_cast<Produce*>(p);
  while (!pr->gate->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (pr->delayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pr->delayMs));
  for (size_t i = 0; i < pr->count; ++i) pr->data[pr->offset + i] = contribution(pr->rank, pr->offset + i);
  pr->produced->fetch_add(1);
}

struct Verify {
  const float* data;
  size_t total;
  int world;
  bool avg;
  Result* out;
};

void verify(void* p) {
  auto* v = static_cast<Verify*>(p);
  for (size_t i = 0; i < v->total; ++i) {
    float want = 0;
    for (int r = 0; r < v->world; ++r) want += contribution(r, i);
    if (v->avg) want *= 1.0f / float(v->world);
    if (v->data[i] != want) {
      if (v->out->mismatches++ == 0) {
        v->out->firstMismatch = long(i);
        v->out->got = v->data[i];
        v->out->want = want;
      }
    }
  }
}

struct Callback {
  int index;
  std::mutex* mu;
  std::vector<int>* order;
};

void onDone(void* user, gp_coll_status, int32_t, const char*) {
  auto* cb = static_cast<Callback*>(user);
  std::lock_guard<std::mutex> lk(*cb->mu);
  cb->order->push_back(cb->index);
}

// Submits one all-reduce per bucket, last bucket first (as backward produces
// them), then waits for all; returns the flat buffer's offsets.
std::vector<gp_coll_work*> submitAll(const gp_coll_abi* t, float* data, const Plan& plan, void* stream,
                                     std::vector<Callback>& cbs, Result& res) {
  std::vector<size_t> offsets(plan.sizes.size(), 0);
  for (size_t k = 1; k < plan.sizes.size(); ++k) offsets[k] = offsets[k - 1] + plan.sizes[k - 1];
  std::vector<gp_coll_work*> works(plan.sizes.size(), nullptr);
  char err[512];
  for (size_t j = plan.sizes.size(); j-- > 0;) {
    gp_coll_status s = t->all_reduce(t->comm, data + offsets[j], plan.sizes[j], plan.op, stream, onDone,
                                     &cbs[j], &works[j], err, sizeof(err));
    if (s != GP_COLL_OK) {
      res.statuses.push_back(gp_coll_status_name(s));
      res.messages.push_back(err);
      res.ranks.push_back(-1);
    }
  }
  return works;
}

void collect(const gp_coll_abi* t, std::vector<gp_coll_work*>& works, const Plan& plan, Result& res) {
  char err[512];
  for (gp_coll_work* w : works) {
    if (w == nullptr) continue;
    err[0] = '\0';
    int32_t rank = -1;
    gp_coll_status s = t->wait(w, plan.timeoutMs, &rank, err, sizeof(err));
    res.statuses.push_back(gp_coll_status_name(s));
    res.messages.push_back(err);
    res.ranks.push_back(rank);
    t->work_release(w);
  }
}

size_t totalOf(const Plan& p) {
  size_t n = 0;
  for (size_t s : p.sizes) n += s;
  return n;
}

void runDevice(const gp_coll_abi* t, const Plan& plan, Result& res) {
  const Cuda& c = cuda();
  if (!c.ok) throw std::runtime_error(c.error);
  c.setDevice(t->cuda_device);
  void* stream = nullptr;
  c.streamCreate(&stream, 1);
  float* data = nullptr;
  const size_t total = totalOf(plan);
  c.malloc(reinterpret_cast<void**>(&data), total * sizeof(float));
  std::atomic<bool> gate{false};
  std::atomic<int> produced{0};
  std::vector<Produce> prods(plan.sizes.size());
  std::vector<Callback> cbs(plan.sizes.size());
  std::mutex mu;
  size_t off = total;
  for (size_t j = plan.sizes.size(); j-- > 0;) {
    off -= plan.sizes[j];
    prods[j] = {data, off, plan.sizes[j], t->rank, plan.computeDelayMs, &gate, &produced};
    cbs[j] = {int(j), &mu, &res.completionOrder};
  }
  // Backward: every bucket's kernel is queued on the compute stream, and its
  // all-reduce is started right after it, before any of the kernels ran.
  std::vector<gp_coll_work*> works(plan.sizes.size(), nullptr);
  char err[512];
  for (size_t j = plan.sizes.size(); j-- > 0;) {
    c.launchHostFunc(stream, produce, &prods[j]);
    gp_coll_status s = t->all_reduce(t->comm, data + prods[j].offset, plan.sizes[j], plan.op, stream, onDone,
                                     &cbs[j], &works[j], err, sizeof(err));
    if (s != GP_COLL_OK) res.statuses.push_back(gp_coll_status_name(s)), res.messages.push_back(err), res.ranks.push_back(-1);
  }
  res.submittedBeforeCompute = produced.load() == 0;
  gate = true;
  // The optimizer's stream waits on the device for every bucket, then reads.
  for (gp_coll_work* w : works) {
    if (w != nullptr && t->stream_wait(w, stream, err, sizeof(err)) != GP_COLL_OK) break;
  }
  Verify v{data, total, t->world_size, plan.op == GP_COLL_AVG, &res};
  c.launchHostFunc(stream, verify, &v);
  c.streamSynchronize(stream);
  collect(t, works, plan, res);
  c.free(data);
  c.streamDestroy(stream);
}

void runHost(const gp_coll_abi* t, const Plan& plan, Result& res) {
  const size_t total = totalOf(plan);
  std::vector<float> data(total);
  for (size_t i = 0; i < total; ++i) data[i] = contribution(t->rank, i);
  std::vector<Callback> cbs(plan.sizes.size());
  std::mutex mu;
  for (size_t j = 0; j < cbs.size(); ++j) cbs[j] = {int(j), &mu, &res.completionOrder};
  char err[512];
  // Misuse is refused without starting anything.
  float probe = 0;
  res.invalidStream = gp_coll_status_name(t->all_reduce(t->comm, &probe, 1, GP_COLL_SUM, reinterpret_cast<void*>(1),
                                               nullptr, nullptr, nullptr, err, sizeof(err)));
  std::vector<gp_coll_work*> works = submitAll(t, data.data(), plan, nullptr, cbs, res);
  for (gp_coll_work* w : works) {
    if (w != nullptr) {
      res.invalidStreamWait = gp_coll_status_name(t->stream_wait(w, reinterpret_cast<void*>(1), err, sizeof(err)));
      break;
    }
  }
  collect(t, works, plan, res);
  Verify v{data.data(), total, t->world_size, plan.op == GP_COLL_AVG, &res};
  verify(&v);
}

class BucketsWorker : public Napi::AsyncWorker {
 public:
  BucketsWorker(Napi::Env env, const gp_coll_abi* t, Plan plan)
      : Napi::AsyncWorker(env, "gradpool:abi-harness"), t_(t), plan_(std::move(plan)),
        deferred_(Napi::Promise::Deferred::New(env)) {
    t_->retain(t_->comm);
  }
  ~BucketsWorker() override { t_->release(t_->comm); }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      if (t_->memory == GP_COLL_MEMORY_CUDA) {
        runDevice(t_, plan_, res_);
      } else {
        runHost(t_, plan_, res_);
      }
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("submittedBeforeCompute", res_.submittedBeforeCompute);
    auto strings = [&](const std::vector<std::string>& v) {
      Napi::Array a = Napi::Array::New(env, v.size());
      for (size_t i = 0; i < v.size(); ++i) a.Set(uint32_t(i), v[i]);
      return a;
    };
    auto ints = [&](const std::vector<int>& v) {
      Napi::Array a = Napi::Array::New(env, v.size());
      for (size_t i = 0; i < v.size(); ++i) a.Set(uint32_t(i), v[i]);
      return a;
    };
    o.Set("statuses", strings(res_.statuses));
    o.Set("messages", strings(res_.messages));
    o.Set("ranks", ints(res_.ranks));
    o.Set("completionOrder", ints(res_.completionOrder));
    o.Set("mismatches", double(res_.mismatches));
    o.Set("firstMismatch", double(res_.firstMismatch));
    o.Set("got", res_.got);
    o.Set("want", res_.want);
    o.Set("invalidStream", res_.invalidStream);
    o.Set("invalidStreamWait", res_.invalidStreamWait);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  const gp_coll_abi* t_;
  Plan plan_;
  Result res_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value Describe(const Napi::CallbackInfo& info) {
  const gp_coll_abi* t = unwrap(info[0]);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("version", t->version);
  o.Set("backend", t->backend);
  o.Set("rank", t->rank);
  o.Set("worldSize", t->world_size);
  o.Set("memory", t->memory == GP_COLL_MEMORY_CUDA ? "cuda" : "host");
  o.Set("cudaDevice", t->cuda_device);
  return o;
}

Napi::Value Buckets(const Napi::CallbackInfo& info) {
  const gp_coll_abi* t = unwrap(info[0]);
  Napi::Object o = info[1].As<Napi::Object>();
  Plan plan;
  Napi::Array sizes = o.Get("sizes").As<Napi::Array>();
  for (uint32_t i = 0; i < sizes.Length(); ++i) plan.sizes.push_back(size_t(sizes.Get(i).ToNumber().DoubleValue()));
  plan.op = o.Get("op").ToString().Utf8Value() == "avg" ? GP_COLL_AVG : GP_COLL_SUM;
  if (o.Has("computeDelayMs")) plan.computeDelayMs = o.Get("computeDelayMs").ToNumber().Int32Value();
  if (o.Has("timeoutMs")) plan.timeoutMs = o.Get("timeoutMs").ToNumber().Int64Value();
  auto* w = new BucketsWorker(info.Env(), t, std::move(plan));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Abort(const Napi::CallbackInfo& info) {
  const gp_coll_abi* t = unwrap(info[0]);
  t->abort(t->comm, info[1].ToString().Utf8Value().c_str());
  return info.Env().Undefined();
}

}  // namespace

}  // namespace harness

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("describe", Napi::Function::New(env, harness::Describe));
  exports.Set("buckets", Napi::Function::New(env, harness::Buckets));
  exports.Set("abort", Napi::Function::New(env, harness::Abort));
  return exports;
}

NODE_API_MODULE(abi_harness, Init)
