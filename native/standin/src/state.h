// Process-wide state of the CUDA runtime stand-in. It is allocated once and
// never freed: stream threads may still be running when the process exits,
// and must not find destroyed globals.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cuda_types.h"
#include "json.h"

namespace gpsi {

struct Stream {
  uint32_t magic = 0x5354524d;  // "STRM": catches garbage handles
  int device = 0;
  bool destroyed = false;
  bool running = false;  // an item is executing right now
  std::deque<std::function<void()>> queue;
};

struct Event {
  uint32_t magic = 0x45564e54;  // "EVNT"
  int device = 0;
  uint64_t recorded = 0;   // records issued (cudaEventRecord calls)
  uint64_t completed = 0;  // records the stream has reached
  bool destroyed = false;
};

struct Allocation {
  size_t bytes;
  int device;  // -1: pinned host memory (cudaHostAlloc)
};

struct State {
  // One lock and one condition variable for all streams and events: the
  // stand-in favours obviously correct ordering over speed.
  std::mutex mu;
  std::condition_variable cv;
  bool driverReady = false;
  std::vector<std::string> busIds;  // visible devices, in CUDA ordinal order
  std::set<int> contexts;           // devices with a primary context in this process
  std::map<uintptr_t, Allocation> allocations;
  std::map<int, Stream*> legacyStreams;  // per device, created on first use
  std::set<Stream*> streams;             // every stream whose thread still runs
};

State& state();
// Reads GP_STANDIN_GPUS, CUDA_DEVICE_ORDER and CUDA_VISIBLE_DEVICES once (as
// the driver does at cuInit). Call with state().mu held.
void initDriver(State& s);
// Creates the primary context of `device` if this process has none (logged).
void touchContext(State& s, int device);
int currentDevice();
void log(const std::string& fields);
// Records a misuse that real CUDA would punish later or silently; tests fail on any.
void violation(const std::string& what);

}  // namespace gpsi
