// One NCCL stand-in communicator, and the failures the environment injects.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "group.h"
#include "nccl_types.h"

namespace gpsi {

// Failure injection, read from the environment at init. Every setting
// applies to the rank named by GP_STANDIN_NCCL_FAIL_RANK only (all ranks
// when unset). See ../README.md for the variables.
struct Inject {
  bool initHang = false;
  bool initError = false;
  int initDelayMs = 0;
  uint64_t exitAt = 0;        // SIGKILL itself inside this collective (1-based)
  uint64_t asyncErrorAt = 0;  // this collective never ends and raises an async error
  ncclResult_t asyncError = ncclRemoteError;
  bool finalizeHang = false;
  bool enqueueInProgress = false;
  static Inject fromEnv(int rank);
};

struct Comm {
  uint32_t magic = 0x4e43434c;  // "NCCL"
  int rank = 0, nranks = 0, device = 0;
  bool blocking = true;
  std::string segment;
  Inject inject;
  Group group;
  std::atomic<int> state{ncclInProgress};
  std::atomic<bool> aborted{false};
  std::atomic<bool> dead{false};  // after abort or destroy: any use is a violation
  bool finalizeCalled = false;
  std::atomic<uint64_t> enqueued{0}, started{0}, finished{0};
  std::thread worker;  // non-blocking init or finalize
  std::mutex errMu;
  std::string lastError;

  // An asynchronous error: the state ncclCommGetAsyncError reports from now on.
  void fail(ncclResult_t r, const std::string& why);
  // What ncclGetLastError says after a call that returned an error.
  void note(const std::string& why);
  std::string error();
};

void logComm(const Comm* c, const std::string& ev, const std::string& extra = "");

// Enqueues one collective on `stream` (the stand-in's "kernel").
enum class Kind { AllReduce, Broadcast };
ncclResult_t enqueueCollective(Comm* c, Kind kind, const void* send, void* recv, size_t count,
                               ncclDataType_t type, ncclRedOp_t op, int root, void* stream);

}  // namespace gpsi
