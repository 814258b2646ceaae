// Shared-memory communicator for ranks on one host.
//
// Algorithm (per chunk): ranks with private buffers copy their chunk into
// their staging slot; barrier; rank r sums slice r across all ranks and writes
// the sum into every rank's buffer (reduce-scatter and all-gather fused);
// barrier; private-buffer ranks copy the chunk back out. Ranks whose buffer
// lives in a zero-copy segment (sharedBuffer) skip both copies, and when every
// rank is zero-copy the whole buffer is one chunk.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "layout.h"
#include "segment.h"

namespace gp::shm {

struct ShmOptions {
  std::string name;  // control segment; zero-copy segments derive from it
  int rank = 0;
  int worldSize = 1;
  bool create = false;          // rank 0 creates, others attach
  size_t chunkBytes = 16 << 20;  // per-rank staging; shrunk to fit /dev/shm
  int timeoutMs = 30000;
};

class ShmComm {
 public:
  explicit ShmComm(const ShmOptions& opt);  // create or attach (fast, sync)
  ~ShmComm();

  // Waits for every rank to attach, then removes the control segment's name.
  void start();

  void allReduce(float* buf, size_t n, bool avg);
  void broadcast(float* buf, size_t n, int root);
  void barrier();

  // Marks the communicator failed here and on every peer.
  void abort(const std::string& reason);
  // Stops the heartbeat, unmaps and unlinks every segment name still known.
  void close();

  // A fresh zero-copy segment of n floats owned by this rank. The returned
  // Segment is shared with the JS ArrayBuffer that views it.
  std::shared_ptr<Segment> createShared(size_t n);
  // Called when JS no longer references a zero-copy segment.
  void releaseShared(const Segment* seg);

  size_t chunkBytes() const { return chunkBytes_; }
  int rank() const { return rank_; }
  int worldSize() const { return world_; }

 private:
  struct ZcRef {
    float* base = nullptr;
    size_t floats = 0;
  };

  RankSlot& slot(int r) const;
  float* staging(int r) const;
  std::string zcName(int r, int id) const;

  void checkUsable();
  [[noreturn]] void fail(int code, const std::string& msg, int rankAtFault,
                         bool tellPeers);
  void barrierWait(const char* what);
  void checkPeers(const char* what);
  uint64_t beginOp(uint32_t kind, uint32_t op, size_t n, int root, float* buf,
                   Desc* all);
  float* peerBase(int q, const Desc& d, size_t n);
  void unlinkMine(const Desc& mine);
  void heartbeatLoop();

  ShmOptions opt_;
  int rank_, world_;
  std::unique_ptr<Segment> ctrl_;
  Header* hdr_ = nullptr;
  uint64_t seq_ = 0;
  size_t chunkBytes_ = 0;
  uint64_t myPidns_ = 0;
  std::atomic<bool> broken_{false};
  std::mutex whyMu_;  // guards brokenWhy_ (abort() runs on the JS thread)
  std::string brokenWhy_;
  std::atomic<bool> localAbort_{false};

  std::mutex zcMu_;  // createShared runs on the JS thread, collectives off it
  std::map<int, std::shared_ptr<Segment>> ownZc_;
  std::map<int, bool> ownZcUnlinked_;
  std::map<std::pair<int, int>, std::unique_ptr<Segment>> peerZc_;

  std::thread heartbeat_;
  std::mutex hbMu_;
  std::condition_variable hbCv_;
  bool hbStop_ = false;
  bool closed_ = false;
};

}  // namespace gp::shm
