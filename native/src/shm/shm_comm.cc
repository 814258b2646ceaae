#include "shm_comm.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "../common/errors.h"
#include "../common/time.h"
#include "reduce.h"

namespace gp::shm {

namespace {

constexpr size_t kMinChunk = 64 * 1024;
constexpr size_t kSliceFloats = kPage / sizeof(float);  // page-aligned slices

uint64_t readPidns() {
  char buf[64] = {0};
  ssize_t n = readlink("/proc/self/ns/pid", buf, sizeof(buf) - 1);
  if (n <= 0) return 0;
  const char* p = std::strchr(buf, '[');
  return p ? std::strtoull(p + 1, nullptr, 10) : 0;
}

const char* kindName(uint32_t k) {
  switch (OpKind(k)) {
    case OpKind::Barrier: return "barrier";
    case OpKind::AllReduce: return "allReduce";
    case OpKind::Broadcast: return "broadcast";
  }
  return "?";
}

std::string describe(const Desc& d) {
  std::string s = std::string(kindName(d.kind)) + " #" + std::to_string(d.seq);
  if (OpKind(d.kind) != OpKind::Barrier) s += " of " + std::to_string(d.count) + " floats";
  if (OpKind(d.kind) == OpKind::AllReduce) s += d.op ? " (avg)" : " (sum)";
  if (OpKind(d.kind) == OpKind::Broadcast) s += " from root " + std::to_string(d.root);
  return s;
}

}  // namespace

ShmComm::ShmComm(const ShmOptions& opt)
    : opt_(opt), rank_(opt.rank), world_(opt.worldSize) {
  if (world_ < 1 || world_ > kMaxRanks || rank_ < 0 || rank_ >= world_) {
    throw CollectiveError(ErrCode::Mismatch, "invalid rank " + std::to_string(rank_) +
                                                 " for world size " + std::to_string(world_));
  }
  myPidns_ = readPidns();
  if (opt.create) {
    // Shrink the staging chunk until the segment fits the free /dev/shm
    // space (Docker's default is 64 MB), keeping half of it for others.
    size_t chunk = alignUp(std::max(opt.chunkBytes, kPage), kPage);
    size_t free = shmFreeBytes();
    while (chunk > kMinChunk && segmentBytes(world_, chunk) > free / 2) {
      chunk = alignUp(chunk / 2, kPage);
    }
    ctrl_.reset(Segment::create(opt.name, segmentBytes(world_, chunk)));
    hdr_ = new (ctrl_->data()) Header();
    hdr_->version = kLayoutVersion;
    hdr_->worldSize = uint32_t(world_);
    hdr_->chunkBytes = chunk;
    hdr_->stagingOffset = stagingOffsetFor(world_);
    hdr_->abortBy.store(-1);
    for (int q = 0; q < world_; ++q) new (&slot(q)) RankSlot();
    hdr_->magic.store(kMagic, std::memory_order_release);
  } else {
    ctrl_.reset(Segment::open(opt.name));
    if (ctrl_->size() < stagingOffsetFor(1)) {
      throw CollectiveError(ErrCode::Mismatch, "shm segment " + opt.name + " is too small");
    }
    hdr_ = static_cast<Header*>(ctrl_->data());
    if (hdr_->magic.load(std::memory_order_acquire) != kMagic ||
        hdr_->version != kLayoutVersion) {
      throw CollectiveError(ErrCode::Mismatch,
                            "shm segment " + opt.name + " has an unknown layout");
    }
    if (hdr_->worldSize != uint32_t(world_)) {
      throw CollectiveError(ErrCode::Mismatch,
                            "world size mismatch: rank 0 created the segment for " +
                                std::to_string(hdr_->worldSize) + " ranks, rank " +
                                std::to_string(rank_) + " has worldSize " +
                                std::to_string(world_),
                            0);
    }
  }
  chunkBytes_ = hdr_->chunkBytes;
  RankSlot& me = slot(rank_);
  uint32_t expected = 0;
  if (!me.attached.compare_exchange_strong(expected, 1)) {
    throw CollectiveError(ErrCode::Mismatch,
                          "rank " + std::to_string(rank_) + " attached twice (duplicate rank?)",
                          rank_);
  }
  me.pid.store(int32_t(getpid()));
  me.pidns.store(myPidns_);
  me.heartbeatMs.store(monoMs());
  heartbeat_ = std::thread([this] { heartbeatLoop(); });
}

ShmComm::~ShmComm() { close(); }

RankSlot& ShmComm::slot(int r) const {
  auto* base = static_cast<char*>(ctrl_->data()) + slotsOffset();
  return reinterpret_cast<RankSlot*>(base)[r];
}

float* ShmComm::staging(int r) const {
  auto* base = static_cast<char*>(ctrl_->data()) + hdr_->stagingOffset;
  return reinterpret_cast<float*>(base + size_t(r) * hdr_->chunkBytes);
}

std::string ShmComm::zcName(int r, int id) const {
  return opt_.name + "-r" + std::to_string(r) + "z" + std::to_string(id);
}

void ShmComm::start() {
  barrierWait("communicator setup");
  // Every rank has mapped the control segment: drop its name now so a crash
  // from here on cannot leave it behind in /dev/shm.
  Segment::unlink(opt_.name);
}

std::shared_ptr<Segment> ShmComm::createShared(size_t n) {
  std::lock_guard<std::mutex> lk(zcMu_);
  if (closed_) throw CollectiveError(ErrCode::Broken, "communicator is destroyed");
  int id = int(slot(rank_).zcCreated.fetch_add(1));
  size_t bytes = alignUp(std::max<size_t>(n, 1) * sizeof(float), kPage);
  std::shared_ptr<Segment> seg(Segment::create(zcName(rank_, id), bytes));
  ownZc_[id] = seg;
  return seg;
}

void ShmComm::releaseShared(const Segment* seg) {
  std::lock_guard<std::mutex> lk(zcMu_);
  for (auto it = ownZc_.begin(); it != ownZc_.end(); ++it) {
    if (it->second.get() == seg) {
      Segment::unlink(seg->name());
      ownZc_.erase(it);
      return;
    }
  }
}

uint64_t ShmComm::beginOp(uint32_t kind, uint32_t op, size_t n, int root,
                          float* buf, Desc* all) {
  checkUsable();
  uint64_t seq = ++seq_;
  Desc mine{seq, kind, op, uint64_t(n), root, -1, 0};
  if (n > 0 && buf != nullptr) {
    std::lock_guard<std::mutex> lk(zcMu_);
    for (auto& [id, seg] : ownZc_) {
      auto* base = static_cast<float*>(seg->data());
      size_t cap = seg->size() / sizeof(float);
      if (buf >= base && buf + n <= base + cap) {
        mine.zcId = id;
        mine.zcOffset = uint64_t(buf - base);
        break;
      }
    }
  }
  slot(rank_).desc[seq & 1] = mine;
  barrierWait(kindName(kind));
  for (int q = 0; q < world_; ++q) {
    all[q] = slot(q).desc[seq & 1];
    const Desc& d = all[q];
    if (d.seq != seq || d.kind != kind || d.count != n || d.root != root || d.op != op) {
      fail(int(ErrCode::Mismatch),
           "collective mismatch: rank " + std::to_string(q) + " called " + describe(d) +
               " while rank " + std::to_string(rank_) + " called " + describe(mine),
           q, false);
    }
  }
  return seq;
}

float* ShmComm::peerBase(int q, const Desc& d, size_t n) {
  auto key = std::make_pair(q, int(d.zcId));
  auto it = peerZc_.find(key);
  if (it == peerZc_.end()) {
    try {
      it = peerZc_.emplace(key, std::unique_ptr<Segment>(Segment::open(zcName(q, d.zcId)))).first;
    } catch (const CollectiveError& e) {
      fail(int(ErrCode::Resource),
           "cannot map rank " + std::to_string(q) + "'s shared buffer: " + e.what(), q, true);
    }
  }
  if ((d.zcOffset + n) * sizeof(float) > it->second->size()) {
    fail(int(ErrCode::Mismatch), "rank " + std::to_string(q) + "'s shared buffer is too small", q,
         true);
  }
  return static_cast<float*>(it->second->data()) + d.zcOffset;
}

void ShmComm::unlinkMine(const Desc& mine) {
  if (mine.zcId < 0) return;
  std::lock_guard<std::mutex> lk(zcMu_);
  auto it = ownZc_.find(mine.zcId);
  if (it != ownZc_.end()) Segment::unlink(it->second->name());
}

void ShmComm::allReduce(float* buf, size_t n, bool avg) {
  std::vector<Desc> all(world_);
  beginOp(uint32_t(OpKind::AllReduce), avg ? 1 : 0, n, -1, buf, all.data());
  if (n == 0) return;
  std::vector<float*> zc(world_, nullptr);
  bool allZc = true;
  for (int q = 0; q < world_; ++q) {
    if (all[q].zcId >= 0) zc[q] = q == rank_ ? buf : peerBase(q, all[q], n);
    allZc = allZc && zc[q] != nullptr;
  }
  const bool meZc = zc[rank_] != nullptr;
  const size_t chunk = allZc ? n : hdr_->chunkBytes / sizeof(float);
  const float scale = avg ? 1.0f / float(world_) : 1.0f;
  std::vector<float*> ptrs(world_);
  for (size_t off = 0; off < n; off += chunk) {
    size_t len = std::min(chunk, n - off);
    if (!meZc) std::memcpy(staging(rank_), buf + off, len * sizeof(float));
    barrierWait("allReduce");
    // Every peer mapped our zero-copy segment before this barrier.
    if (off == 0) unlinkMine(all[rank_]);
    for (int q = 0; q < world_; ++q) ptrs[q] = zc[q] ? zc[q] + off : staging(q);
    size_t per = alignUp((len + world_ - 1) / world_, kSliceFloats);
    size_t lo = std::min(per * rank_, len);
    size_t hi = std::min(lo + per, len);
    reduceSlice(ptrs.data(), world_, lo, hi, scale);
    barrierWait("allReduce");
    if (!meZc) std::memcpy(buf + off, staging(rank_), len * sizeof(float));
  }
}

void ShmComm::broadcast(float* buf, size_t n, int root) {
  if (root < 0 || root >= world_) {
    throw CollectiveError(ErrCode::Mismatch, "broadcast root " + std::to_string(root) +
                                                 " outside world size " + std::to_string(world_));
  }
  std::vector<Desc> all(world_);
  beginOp(uint32_t(OpKind::Broadcast), 0, n, root, buf, all.data());
  if (n == 0) return;
  const bool rootZc = all[root].zcId >= 0;
  float* rootBase = nullptr;
  if (rootZc) rootBase = rank_ == root ? buf : peerBase(root, all[root], n);
  const size_t chunk = rootZc ? n : hdr_->chunkBytes / sizeof(float);
  for (size_t off = 0; off < n; off += chunk) {
    size_t len = std::min(chunk, n - off);
    if (rank_ == root && !rootZc) std::memcpy(staging(root), buf + off, len * sizeof(float));
    barrierWait("broadcast");
    if (off == 0 && rank_ == root) unlinkMine(all[rank_]);
    if (rank_ != root) {
      const float* src = rootZc ? rootBase + off : staging(root);
      std::memcpy(buf + off, src, len * sizeof(float));
    }
    barrierWait("broadcast");
  }
}

void ShmComm::barrier() {
  std::vector<Desc> all(world_);
  beginOp(uint32_t(OpKind::Barrier), 0, 0, -1, nullptr, all.data());
}

void ShmComm::close() {
  {
    std::lock_guard<std::mutex> lk(hbMu_);
    if (hbStop_) return;
    hbStop_ = true;
  }
  hbCv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
  std::lock_guard<std::mutex> lk(zcMu_);
  closed_ = true;
  // Remove every name this run may have created, ours and the peers' (a
  // killed peer cannot clean up after itself). Unlinking twice is harmless.
  Segment::unlink(opt_.name);
  if (hdr_ != nullptr) {
    for (int q = 0; q < world_; ++q) {
      uint32_t made = slot(q).zcCreated.load();
      for (uint32_t id = 0; id < made; ++id) Segment::unlink(zcName(q, int(id)));
    }
  }
  // Our own zero-copy mappings stay alive while JS still holds views on them.
  ownZc_.clear();
  peerZc_.clear();
  hdr_ = nullptr;
  ctrl_.reset();
}

}  // namespace gp::shm
