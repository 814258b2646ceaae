// The shared-memory meeting point of one NCCL stand-in communicator: one POSIX
// shared-memory segment per unique id, a slot per rank, an abortable barrier
// and per-rank staging for the collectives' data.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace gpsi {

constexpr int kMaxRanks = 64;
constexpr size_t kChunkBytes = 4u << 20;

struct Slot {
  std::atomic<int32_t> joined;
  int32_t pid;
  char busId[32];
  char hostId[160];
};

struct GroupHeader {
  std::atomic<uint64_t> magic;  // stored last by the creator
  int32_t nranks;
  alignas(64) std::atomic<uint32_t> barrierCount;
  alignas(64) std::atomic<uint32_t> barrierGen;
  alignas(64) std::atomic<uint32_t> finalized;
  Slot slots[kMaxRanks];
};

class Group {
 public:
  // Rank 0 creates the segment; the others wait for it. Both waits end
  // early (returning false) once `stop()` is true.
  bool attach(const std::string& name, int rank, int nranks, const std::function<bool()>& stop,
              std::string* err);
  void unlinkName();
  // All ranks arrive or `stop()` turns true (false then).
  bool barrier(const std::function<bool()>& stop);
  // Waits until every rank joined (or stop).
  bool waitJoined(const std::function<bool()>& stop);
  GroupHeader* header() const { return hdr_; }
  float* staging(int rank) const;
  int nranks() const { return nranks_; }

 private:
  std::string name_;
  GroupHeader* hdr_ = nullptr;
  char* base_ = nullptr;
  int nranks_ = 0;
};

// Sleeps in short slices until done() or stop(); false when stopped.
bool waitUntil(const std::function<bool()>& done, const std::function<bool()>& stop);

}  // namespace gpsi
