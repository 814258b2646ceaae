// NCCL stand-in: communicator life cycle (init, finalize, destroy, abort),
// errors and versions. Collectives are in collectives.cc.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <set>

#include "comm.h"
#include "internal.h"
#include "json.h"

namespace gpsi {

namespace {

std::mutex gRegistryMu;
std::set<Comm*>* gRegistry = new std::set<Comm*>();  // never freed; handles are never reused
thread_local std::string tLastError;

int envInt(const char* name, int def) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : def;
}

bool envIs(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, value) == 0;
}

// What NCCL compares to decide that two ranks are on one machine.
std::string hostId() {
  if (const char* h = std::getenv("NCCL_HOSTID"); h != nullptr && *h != '\0') return h;
  char name[128] = {0};
  gethostname(name, sizeof(name) - 1);
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string boot;
  std::getline(f, boot);
  return std::string(name) + "/" + boot;
}

// Validates a handle; a use after abort/destroy is logged as a violation.
ncclResult_t check(ncclComm_t h, const char* fn, Comm** out) {
  auto* c = reinterpret_cast<Comm*>(h);
  {
    std::lock_guard<std::mutex> lk(gRegistryMu);
    if (c == nullptr || gRegistry->count(c) == 0) {
      gpsi_violation((std::string(fn) + " on an unknown communicator handle").c_str());
      return ncclInvalidArgument;
    }
  }
  if (c->dead) {
    gpsi_violation((std::string(fn) + " on a communicator after ncclCommAbort/ncclCommDestroy").c_str());
    return ncclInvalidArgument;
  }
  *out = c;
  return ncclSuccess;
}

void joinWorker(Comm* c) {
  if (c->worker.joinable()) c->worker.join();
}

ncclResult_t runInit(Comm* c, const std::string& busId) {
  auto stop = [c] { return c->aborted.load(); };
  const Inject& in = c->inject;
  if (in.initDelayMs > 0) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(in.initDelayMs);
    waitUntil([&] { return std::chrono::steady_clock::now() >= until; }, stop);
  }
  if (in.initHang) {
    logComm(c, "initHang");
    waitUntil([] { return false; }, stop);
    return ncclInProgress;
  }
  if (in.initError) {
    c->fail(ncclSystemError, "stand-in: injected init failure");
    return ncclSystemError;
  }
  std::string err;
  if (!c->group.attach(c->segment, c->rank, c->nranks, stop, &err)) {
    if (c->aborted) return ncclInProgress;
    c->fail(ncclSystemError, err);
    return ncclSystemError;
  }
  Slot& me = c->group.header()->slots[c->rank];
  me.pid = getpid();
  std::snprintf(me.busId, sizeof(me.busId), "%s", busId.c_str());
  std::snprintf(me.hostId, sizeof(me.hostId), "%s", hostId().c_str());
  me.joined.store(1, std::memory_order_release);
  if (!c->group.waitJoined(stop)) return ncclInProgress;
  if (c->rank == 0) c->group.unlinkName();  // everybody has it mapped
  const GroupHeader* h = c->group.header();
  for (int q = 0; q < c->nranks; ++q) {
    for (int r = q + 1; r < c->nranks; ++r) {
      if (std::strcmp(h->slots[q].hostId, h->slots[r].hostId) == 0 &&
          std::strcmp(h->slots[q].busId, h->slots[r].busId) == 0) {
        c->fail(ncclInvalidUsage, "Duplicate GPU detected : rank " + std::to_string(q) +
                                      " and rank " + std::to_string(r) + " both on CUDA device " +
                                      h->slots[q].busId);
        return ncclInvalidUsage;
      }
    }
  }
  c->state.store(ncclSuccess);
  logComm(c, "initDone");
  return ncclSuccess;
}

ncclResult_t runFinalize(Comm* c) {
  auto stop = [c] { return c->aborted.load(); };
  // Flushes the collectives issued so far, then meets the other ranks.
  if (!waitUntil([c] { return c->finished.load() >= c->enqueued.load(); }, stop)) return ncclInProgress;
  if (c->inject.finalizeHang) {
    waitUntil([] { return false; }, stop);
    return ncclInProgress;
  }
  c->group.header()->finalized.fetch_add(1);
  if (!waitUntil([c] { return c->group.header()->finalized.load() >= uint32_t(c->nranks); }, stop)) {
    return ncclInProgress;
  }
  c->state.store(ncclSuccess);
  logComm(c, "finalizeDone");
  return ncclSuccess;
}

}  // namespace

Inject Inject::fromEnv(int rank) {
  Inject in;
  int only = envInt("GP_STANDIN_NCCL_FAIL_RANK", -1);
  if (only >= 0 && only != rank) return in;
  in.initHang = envIs("GP_STANDIN_NCCL_INIT", "hang");
  in.initError = envIs("GP_STANDIN_NCCL_INIT", "error");
  in.initDelayMs = envInt("GP_STANDIN_NCCL_INIT_DELAY_MS", 0);
  in.exitAt = uint64_t(envInt("GP_STANDIN_NCCL_EXIT_AT", 0));
  in.asyncErrorAt = uint64_t(envInt("GP_STANDIN_NCCL_ASYNC_ERROR_AT", 0));
  in.asyncError = envIs("GP_STANDIN_NCCL_ASYNC_ERROR", "system") ? ncclSystemError : ncclRemoteError;
  in.finalizeHang = envIs("GP_STANDIN_NCCL_FINALIZE", "hang");
  in.enqueueInProgress = envIs("GP_STANDIN_NCCL_ENQUEUE_INPROGRESS", "1");
  return in;
}

void Comm::fail(ncclResult_t r, const std::string& why) {
  note(why);
  state.store(r);
  logComm(this, "asyncError", ",\"result\":" + std::to_string(int(r)) + ",\"why\":\"" +
                                  jsonEscape(why) + "\"");
}

void Comm::note(const std::string& why) {
  std::lock_guard<std::mutex> lk(errMu);
  lastError = why;
}

std::string Comm::error() {
  std::lock_guard<std::mutex> lk(errMu);
  return lastError;
}

void logComm(const Comm* c, const std::string& ev, const std::string& extra) {
  gpsi_log(("\"ev\":\"" + ev + "\",\"rank\":" + std::to_string(c->rank) + ",\"device\":" +
      std::to_string(c->device) + extra).c_str());
}

}  // namespace gpsi

using namespace gpsi;

extern "C" {

ncclResult_t ncclGetVersion(int* version) {
  *version = envInt("GP_STANDIN_NCCL_VERSION", 22805);
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::memset(id->internal, 0, sizeof(id->internal));
  std::random_device rd;
  std::snprintf(id->internal, sizeof(id->internal), "/gpsi-nccl-%08x%08x", rd(), rd());
  return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t* out, int nranks, ncclUniqueId id, int rank,
                                    ncclConfig_t* config) {
  bool blocking = true;
  if (config != nullptr) {
    ncclConfig_t cfg{};
    std::memcpy(&cfg, config, std::min(config->size, sizeof(cfg)));
    if (cfg.magic != NCCL_API_MAGIC) {
      tLastError = "ncclConfig_t argument not initialized via NCCL_CONFIG_INITIALIZER";
      return ncclInvalidArgument;
    }
    blocking = cfg.blocking != 0;  // NCCL_CONFIG_UNDEF_INT means the default: blocking
  }
  if (nranks < 1 || nranks > kMaxRanks || rank < 0 || rank >= nranks ||
      std::strncmp(id.internal, "/gpsi-nccl-", 11) != 0) {
    tLastError = "invalid rank, nranks or unique id";
    return ncclInvalidArgument;
  }
  auto* c = new Comm();
  c->rank = rank;
  c->nranks = nranks;
  c->device = gpsi_current_device();  // NCCL binds the communicator to the current device
  c->blocking = blocking;
  c->segment = id.internal;
  c->inject = Inject::fromEnv(rank);
  {
    std::lock_guard<std::mutex> lk(gRegistryMu);
    gRegistry->insert(c);
  }
  *out = reinterpret_cast<ncclComm_t>(c);
  std::string busId = gpsi_bus_id(c->device);
  logComm(c, "init", ",\"busId\":\"" + busId + "\",\"blocking\":" + (blocking ? "true" : "false"));
  if (blocking) return runInit(c, busId);
  c->worker = std::thread([c, busId] { runInit(c, busId); });
  return ncclInProgress;
}

ncclResult_t ncclCommInitRank(ncclComm_t* out, int nranks, ncclUniqueId id, int rank) {
  return ncclCommInitRankConfig(out, nranks, id, rank, nullptr);
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t h, ncclResult_t* asyncError) {
  Comm* c = nullptr;
  if (ncclResult_t r = check(h, "ncclCommGetAsyncError", &c); r != ncclSuccess) return r;
  *asyncError = ncclResult_t(c->state.load());
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t type,
                           ncclRedOp_t op, ncclComm_t h, cudaStream_t stream) {
  Comm* c = nullptr;
  if (ncclResult_t r = check(h, "ncclAllReduce", &c); r != ncclSuccess) return r;
  return enqueueCollective(c, Kind::AllReduce, send, recv, count, type, op, -1, stream);
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t type, int root,
                           ncclComm_t h, cudaStream_t stream) {
  Comm* c = nullptr;
  if (ncclResult_t r = check(h, "ncclBroadcast", &c); r != ncclSuccess) return r;
  return enqueueCollective(c, Kind::Broadcast, send, recv, count, type, ncclSum, root, stream);
}

ncclResult_t ncclCommFinalize(ncclComm_t h) {
  Comm* c = nullptr;
  if (ncclResult_t r = check(h, "ncclCommFinalize", &c); r != ncclSuccess) return r;
  if (c->state.load() != ncclSuccess || c->finalizeCalled) return ncclInvalidUsage;
  c->finalizeCalled = true;
  logComm(c, "finalize");
  joinWorker(c);
  if (c->blocking) return runFinalize(c);
  c->state.store(ncclInProgress);
  c->worker = std::thread([c] { runFinalize(c); });
  return ncclInProgress;
}

ncclResult_t ncclCommDestroy(ncclComm_t h) {
  Comm* c = nullptr;
  if (ncclResult_t r = check(h, "ncclCommDestroy", &c); r != ncclSuccess) return r;
  // Without a finished ncclCommFinalize, destroy finalizes first: a collective
  // step that waits for every other rank.
  joinWorker(c);
  if (!c->finalizeCalled) {
    logComm(c, "implicitFinalize");
    c->finalizeCalled = true;
    runFinalize(c);
  }
  c->dead = true;
  logComm(c, "destroy");
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t h) {
  Comm* c = nullptr;
  if (ncclResult_t r = check(h, "ncclCommAbort", &c); r != ncclSuccess) return r;
  c->aborted = true;  // running collectives and waits return
  joinWorker(c);
  c->dead = true;
  c->group.unlinkName();
  // The mapping stays: a stream thread may still be leaving a collective.
  logComm(c, "abort");
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
  }
}

const char* ncclGetLastError(ncclComm_t h) {
  static thread_local std::string text;
  auto* c = reinterpret_cast<Comm*>(h);
  bool known;
  {
    std::lock_guard<std::mutex> lk(gRegistryMu);
    known = c != nullptr && gRegistry->count(c) > 0;
  }
  text = known ? c->error() : tLastError;
  return text.c_str();
}

}  // extern "C"
