// Layout of the control segment shared by all ranks of one shm communicator.
//
//   [Header | RankSlot x worldSize] [pad to page] [staging: worldSize x chunk]
//
// Only lock-free, address-free atomics live here, so they work across
// processes that map the segment at different addresses.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace gp::shm {

constexpr uint64_t kMagic = 0x6772616470306f6cULL;
constexpr uint32_t kLayoutVersion = 1;
constexpr size_t kPage = 4096;
constexpr int kMaxRanks = 256;

enum class OpKind : uint32_t { Barrier = 1, AllReduce = 2, Broadcast = 3 };

// What a rank is about to do; peers compare these to catch mismatched calls.
struct Desc {
  uint64_t seq;
  uint32_t kind;
  uint32_t op;  // 0 sum, 1 avg
  uint64_t count;
  int32_t root;
  int32_t zcId;  // -1: private buffer, else id of the owner's zero-copy segment
  uint64_t zcOffset;  // in floats, within that segment
};

struct alignas(128) RankSlot {
  std::atomic<int32_t> pid;
  std::atomic<uint32_t> attached;
  std::atomic<uint64_t> pidns;          // inode of /proc/self/ns/pid
  std::atomic<uint64_t> heartbeatMs;    // CLOCK_MONOTONIC, bumped by a thread
  std::atomic<uint64_t> arrivals;       // barriers entered, for diagnostics
  std::atomic<uint32_t> zcCreated;      // zero-copy segments created so far
  Desc desc[2];                         // double-buffered by seq parity
};

struct alignas(128) Header {
  std::atomic<uint64_t> magic;  // stored last by the creator
  uint32_t version;
  uint32_t worldSize;
  uint64_t chunkBytes;     // per-rank staging slot
  uint64_t stagingOffset;  // from segment start, page aligned
  alignas(64) std::atomic<uint32_t> barrierCount;
  alignas(64) std::atomic<uint32_t> barrierGen;  // futex word
  alignas(64) std::atomic<int32_t> abortBy;      // -1: healthy
  std::atomic<uint32_t> abortPublished;
  std::atomic<uint32_t> abortCode;
  std::atomic<int32_t> abortRankAtFault;
  char abortReason[512];
  // RankSlot[worldSize] follows.
};

static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

inline size_t alignUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

inline size_t slotsOffset() { return alignUp(sizeof(Header), 128); }

inline size_t stagingOffsetFor(int worldSize) {
  return alignUp(slotsOffset() + sizeof(RankSlot) * size_t(worldSize), kPage);
}

inline size_t segmentBytes(int worldSize, size_t chunkBytes) {
  return stagingOffsetFor(worldSize) + size_t(worldSize) * chunkBytes;
}

}  // namespace gp::shm
