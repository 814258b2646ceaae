// Cross-process synchronisation for ShmComm: a sense-reversing barrier on a
// futex word in the control segment, with a deadline, abort propagation and
// peer liveness checks so that no wait can outlive a dead peer or the timeout.
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

#include "../common/errors.h"
#include "../common/process.h"
#include "../common/time.h"
#include "shm_comm.h"

namespace gp::shm {

namespace {

constexpr int kSpinIters = 4000;        // ~tens of µs before sleeping
constexpr uint64_t kCheckEveryMs = 50;  // liveness poll while blocked
constexpr uint64_t kStaleMs = 3000;     // heartbeat age that means "gone"

void futexWait(std::atomic<uint32_t>* w, uint32_t expected, long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  // Not FUTEX_PRIVATE: the word is shared between processes.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT, expected, &ts,
          nullptr, 0);
}

void futexWake(std::atomic<uint32_t>* w) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE, INT_MAX,
          nullptr, nullptr, 0);
}

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

void ShmComm::fail(int code, const std::string& msg, int rankAtFault,
                   bool tellPeers) {
  if (tellPeers && hdr_ != nullptr) {
    int32_t expected = -1;
    if (hdr_->abortBy.compare_exchange_strong(expected, rank_)) {
      std::strncpy(hdr_->abortReason, msg.c_str(), sizeof(hdr_->abortReason) - 1);
      hdr_->abortCode.store(uint32_t(code), std::memory_order_relaxed);
      hdr_->abortRankAtFault.store(rankAtFault, std::memory_order_relaxed);
      hdr_->abortPublished.store(1, std::memory_order_release);
      futexWake(&hdr_->barrierGen);
    }
  }
  {
    std::lock_guard<std::mutex> lk(whyMu_);
    if (!broken_.exchange(true)) brokenWhy_ = msg;
  }
  throw CollectiveError(ErrCode(code), msg, rankAtFault);
}

// Turns a failure published by any rank into a local error.
static void raiseFromHeader(Header* h, int self, std::string* msg, int* code,
                            int* rank) {
  for (int i = 0; i < 100000 && h->abortPublished.load(std::memory_order_acquire) == 0; ++i)
    cpuRelax();
  int by = h->abortBy.load();
  *code = int(h->abortCode.load());
  *rank = h->abortRankAtFault.load();
  std::string reason(h->abortReason, strnlen(h->abortReason, sizeof(h->abortReason)));
  if (reason.empty()) reason = "(no reason recorded)";
  *msg = by == self ? reason : reason + " (reported by rank " + std::to_string(by) + ")";
}

void ShmComm::checkUsable() {
  if (hdr_ == nullptr) {
    throw CollectiveError(ErrCode::Broken, "communicator is destroyed");
  }
  if (broken_.load()) {
    std::string why;
    {
      std::lock_guard<std::mutex> lk(whyMu_);
      why = brokenWhy_;
    }
    throw CollectiveError(ErrCode::Broken,
                          "communicator is unusable after an earlier failure (" +
                              why + "); destroy it and create a new one");
  }
  if (hdr_->abortBy.load(std::memory_order_acquire) != -1) {
    std::string msg;
    int code, r;
    raiseFromHeader(hdr_, rank_, &msg, &code, &r);
    fail(code, msg, r, false);
  }
}

void ShmComm::checkPeers(const char* what) {
  uint64_t now = monoMs();
  for (int q = 0; q < world_; ++q) {
    if (q == rank_) continue;
    RankSlot& s = slot(q);
    if (s.attached.load(std::memory_order_acquire) == 0) continue;
    int pid = s.pid.load();
    bool samePidns = s.pidns.load() == myPidns_;
    // In another pid namespace (containers sharing /dev/shm) the pid means
    // nothing here, so fall back to the heartbeat written by its thread.
    if (samePidns ? processGone(pid) : now > s.heartbeatMs.load() + kStaleMs) {
      std::string how = samePidns ? "process no longer exists"
                                  : "stopped heartbeating for over 3 s";
      fail(int(ErrCode::PeerDied),
           "rank " + std::to_string(q) + " (pid " + std::to_string(pid) +
               ") died during " + what + " (" + how + ")",
           q, true);
    }
  }
}

void ShmComm::barrierWait(const char* what) {
  RankSlot& me = slot(rank_);
  uint32_t gen = hdr_->barrierGen.load(std::memory_order_acquire);
  uint64_t myArrivals = me.arrivals.fetch_add(1, std::memory_order_relaxed) + 1;
  if (hdr_->barrierCount.fetch_add(1, std::memory_order_acq_rel) + 1 ==
      uint32_t(world_)) {
    // Last to arrive: reset the count before releasing anyone, so nobody can
    // enter the next barrier and see a stale count.
    hdr_->barrierCount.store(0, std::memory_order_relaxed);
    hdr_->barrierGen.store(gen + 1, std::memory_order_release);
    futexWake(&hdr_->barrierGen);
    return;
  }
  for (int i = 0; i < kSpinIters; ++i) {
    if (hdr_->barrierGen.load(std::memory_order_acquire) != gen) return;
    cpuRelax();
  }
  uint64_t start = monoMs();
  uint64_t deadline = start + uint64_t(opt_.timeoutMs);
  uint64_t lastCheck = start;
  for (;;) {
    futexWait(&hdr_->barrierGen, gen, 10);
    if (hdr_->barrierGen.load(std::memory_order_acquire) != gen) return;
    if (hdr_->abortBy.load(std::memory_order_acquire) != -1) {
      std::string msg;
      int code, r;
      raiseFromHeader(hdr_, rank_, &msg, &code, &r);
      fail(code, msg, r, false);
    }
    uint64_t now = monoMs();
    if (now - lastCheck >= kCheckEveryMs) {
      checkPeers(what);
      lastCheck = now;
    }
    if (now >= deadline) {
      std::string missing;
      int first = -1;
      for (int q = 0; q < world_; ++q) {
        RankSlot& s = slot(q);
        bool absent = s.attached.load() == 0;
        if (absent || s.arrivals.load() < myArrivals) {
          if (first < 0) first = q;
          if (!missing.empty()) missing += ", ";
          missing += std::to_string(q) + (absent ? " (never attached)" : "");
        }
      }
      fail(int(ErrCode::Timeout),
           std::string(what) + " timed out after " + std::to_string(opt_.timeoutMs) +
               " ms waiting for rank(s) " + (missing.empty() ? "?" : missing),
           first, true);
    }
  }
}

void ShmComm::abort(const std::string& reason) {
  if (hdr_ == nullptr) return;
  try {
    fail(int(ErrCode::Aborted),
         "communicator aborted by rank " + std::to_string(rank_) +
             (reason.empty() ? "" : ": " + reason),
         rank_, true);
  } catch (const CollectiveError&) {
    // fail() always throws; abort() itself succeeds.
  }
}

void ShmComm::heartbeatLoop() {
  std::unique_lock<std::mutex> lk(hbMu_);
  while (!hbStop_) {
    slot(rank_).heartbeatMs.store(monoMs(), std::memory_order_relaxed);
    hbCv_.wait_for(lk, std::chrono::milliseconds(100));
  }
}

}  // namespace gp::shm
