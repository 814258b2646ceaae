#include "gloo_comm.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/context.h>
#include <gloo/math.h>
#include <gloo/transport/context.h>
#include <gloo/transport/pair.h>
#include <gloo/transport/tcp/device.h>

#include <chrono>
#include <string>

#include "../common/errors.h"

namespace gp::gloo_backend {

namespace {

// gloo::Context keeps its transport context protected; rendezvous::Context
// fills it from a Store. We fill it from addresses exchanged over Redis.
class MeshContext : public gloo::Context {
 public:
  MeshContext(int rank, int size, std::shared_ptr<gloo::transport::Device> dev,
              std::shared_ptr<gloo::transport::Context> tctx)
      : gloo::Context(rank, size) {
    device_ = std::move(dev);
    transportContext_ = std::move(tctx);
  }
};

struct BusyGuard {
  explicit BusyGuard(std::atomic<bool>& b) : b_(b) { b_.store(true); }
  ~BusyGuard() { b_.store(false); }
  std::atomic<bool>& b_;
};

enum Kind : uint64_t { kBarrier = 1, kAllReduce = 2, kBroadcast = 3 };

const char* kindName(uint64_t k) {
  return k == kBarrier ? "barrier" : k == kAllReduce ? "allReduce" : "broadcast";
}

}  // namespace

GlooComm::GlooComm(const GlooOptions& opt) : opt_(opt) {
  try {
    gloo::transport::tcp::attr attr;
    if (!opt.iface.empty()) {
      attr.iface = opt.iface;
    } else {
      attr.hostname = opt.hostname;
    }
    dev_ = gloo::transport::tcp::CreateDevice(attr);
    tctx_ = dev_->createContext(opt.rank, opt.worldSize);
    tctx_->setTimeout(std::chrono::milliseconds(opt.timeoutMs));
    addrs_.resize(opt.worldSize);
    for (int q = 0; q < opt.worldSize; ++q) {
      if (q == opt.rank) continue;
      addrs_[q] = tctx_->createPair(q)->address().bytes();
    }
  } catch (const std::exception& e) {
    throw CollectiveError(ErrCode::Backend, std::string("gloo device setup failed: ") + e.what());
  }
}

GlooComm::~GlooComm() { close(); }

void GlooComm::connect(const std::vector<std::vector<char>>& forMe) {
  run("connect", [&] {
    for (int q = 0; q < opt_.worldSize; ++q) {
      if (q == opt_.rank) continue;
      tctx_->getPair(q)->connect(forMe.at(q));
    }
    auto ctx = std::make_shared<MeshContext>(opt_.rank, opt_.worldSize, dev_, tctx_);
    ctx->setTimeout(std::chrono::milliseconds(opt_.timeoutMs));
    ctx_ = ctx;
  });
}

void GlooComm::checkUsable() {
  if (aborted_) throw CollectiveError(ErrCode::Aborted, "communicator was aborted");
  if (broken_ || !ctx_) {
    throw CollectiveError(ErrCode::Broken,
                          "gloo communicator is unusable after an earlier failure; destroy it "
                          "and create a new one");
  }
}

template <typename F>
void GlooComm::run(const char* what, F&& fn) {
  BusyGuard g(busy_);
  try {
    fn();
  } catch (const CollectiveError&) {
    broken_ = true;
    throw;
  } catch (const std::exception& e) {
    broken_ = true;
    std::string msg = e.what();
    if (aborted_) throw CollectiveError(ErrCode::Aborted, std::string(what) + " aborted: " + msg);
    bool timeout = msg.find("Timed out") != std::string::npos ||
                   msg.find("timed out") != std::string::npos;
    throw CollectiveError(timeout ? ErrCode::Timeout : ErrCode::Backend,
                          std::string("gloo ") + what + " failed: " + msg);
  }
  if (aborted_) {
    broken_ = true;
    throw CollectiveError(ErrCode::Aborted, std::string(what) + " aborted");
  }
}

// Every collective first all-gathers a small descriptor, so mismatched calls
// (length, kind, root) fail loudly instead of corrupting data or hanging.
void GlooComm::exchangeDesc(uint64_t kind, uint64_t n, int64_t root, uint64_t op) {
  const int w = opt_.worldSize;
  uint64_t mine[4] = {seq_, kind | (op << 8), n, uint64_t(root + 1)};
  std::vector<uint64_t> all(4 * size_t(w));
  gloo::AllgatherOptions o(ctx_);
  o.setInput(mine, 4);
  o.setOutput(all.data(), all.size());
  o.setTag(seq_ * 2);
  o.setTimeout(std::chrono::milliseconds(opt_.timeoutMs));
  gloo::allgather(o);
  for (int q = 0; q < w; ++q) {
    const uint64_t* d = &all[4 * size_t(q)];
    if (d[0] != mine[0] || d[1] != mine[1] || d[2] != mine[2] || d[3] != mine[3]) {
      auto desc = [](const uint64_t* x) {
        uint64_t k = x[1] & 0xff;
        std::string s = std::string(kindName(k)) + " #" + std::to_string(x[0]);
        if (k != kBarrier) s += " of " + std::to_string(x[2]) + " floats";
        if (k == kAllReduce) s += (x[1] >> 8) ? " (avg)" : " (sum)";
        if (k == kBroadcast) s += " from root " + std::to_string(int64_t(x[3]) - 1);
        return s;
      };
      throw CollectiveError(ErrCode::Mismatch, "collective mismatch: rank " + std::to_string(q) +
                                                   " called " + desc(d) + " while rank " +
                                                   std::to_string(opt_.rank) + " called " +
                                                   desc(mine),
                            q);
    }
  }
}

void GlooComm::allReduce(float* buf, size_t n, bool avg) {
  checkUsable();
  run("allReduce", [&] {
    ++seq_;
    exchangeDesc(kAllReduce, n, -1, avg ? 1 : 0);
    if (n == 0 || opt_.worldSize == 1) {
      if (avg) for (size_t i = 0; i < n; ++i) buf[i] /= float(opt_.worldSize);
      return;
    }
    gloo::AllreduceOptions o(ctx_);
    o.setOutput(buf, n);
    o.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
    o.setReduceFunction(
        static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    o.setTag(seq_ * 2 + 1);
    o.setTimeout(std::chrono::milliseconds(opt_.timeoutMs));
    gloo::allreduce(o);
    if (avg) {
      const float s = 1.0f / float(opt_.worldSize);
      for (size_t i = 0; i < n; ++i) buf[i] *= s;
    }
  });
}

void GlooComm::broadcast(float* buf, size_t n, int root) {
  checkUsable();
  if (root < 0 || root >= opt_.worldSize) {
    throw CollectiveError(ErrCode::Mismatch, "broadcast root " + std::to_string(root) +
                                                 " outside world size " +
                                                 std::to_string(opt_.worldSize));
  }
  run("broadcast", [&] {
    ++seq_;
    exchangeDesc(kBroadcast, n, root, 0);
    if (n == 0 || opt_.worldSize == 1) return;
    gloo::BroadcastOptions o(ctx_);
    o.setOutput(buf, n);
    o.setRoot(root);
    o.setTag(seq_ * 2 + 1);
    o.setTimeout(std::chrono::milliseconds(opt_.timeoutMs));
    gloo::broadcast(o);
  });
}

void GlooComm::barrier() {
  checkUsable();
  run("barrier", [&] {
    ++seq_;
    // The descriptor all-gather already synchronises every rank.
    exchangeDesc(kBarrier, 0, -1, 0);
  });
}

void GlooComm::abort() {
  aborted_ = true;
  // gloo cannot interrupt an operation in progress: it ends at its timeout
  // and is then reported as aborted. An idle comm is closed right away.
  if (!busy_ && ctx_) {
    try {
      ctx_->closeConnections();
    } catch (...) {
    }
  }
}

void GlooComm::close() {
  ctx_.reset();
  tctx_.reset();
  dev_.reset();
}

}  // namespace gp::gloo_backend
