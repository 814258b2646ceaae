// NCCL stand-in collectives: each runs on its CUDA stream's thread (the
// "kernel") and meets the other ranks through the group's shared memory.
// Every rank sums all ranks' data in rank order, so all get identical bits.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "comm.h"
#include "internal.h"

namespace gpsi {

namespace {

struct Op {
  Comm* c;
  Kind kind;
  const float* send;
  float* recv;
  size_t count;
  bool avg;
  int root;
};

// A dead peer is invisible here, as to real NCCL kernels on one node: the
// barrier waits until the communicator is aborted.
void run(Op* op) {
  Comm* c = op->c;
  const size_t n = c->started.fetch_add(1) + 1;
  auto stop = [c] { return c->aborted.load(); };
  if (c->inject.asyncErrorAt == n) {
    c->fail(c->inject.asyncError, "stand-in: injected failure in collective #" + std::to_string(n) +
                                      " (peer connection lost)");
    waitUntil([] { return false; }, stop);
  }
  const size_t chunk = kChunkBytes / sizeof(float);
  const int w = c->nranks;
  for (size_t off = 0; off < op->count && !c->aborted; off += chunk) {
    const size_t len = std::min(chunk, op->count - off);
    if (op->kind == Kind::AllReduce || c->rank == op->root) {
      std::memcpy(c->group.staging(c->rank), op->send + off, len * sizeof(float));
    }
    if (c->inject.exitAt == n) {
      logComm(c, "exit", ",\"collective\":" + std::to_string(n));
      kill(getpid(), SIGKILL);  // vanishes mid-operation, data half exchanged
    }
    if (!c->group.barrier(stop)) break;
    if (op->kind == Kind::AllReduce) {
      const float scale = op->avg ? 1.0f / float(w) : 1.0f;
      for (size_t i = 0; i < len; ++i) {
        float s = 0;
        for (int q = 0; q < w; ++q) s += c->group.staging(q)[i];
        op->recv[off + i] = s * scale;
      }
    } else if (c->rank != op->root || op->recv + off != op->send + off) {
      std::memcpy(op->recv + off, c->group.staging(op->root), len * sizeof(float));
    }
    if (!c->group.barrier(stop)) break;
  }
  c->finished.fetch_add(1);
  delete op;
}

}  // namespace

ncclResult_t enqueueCollective(Comm* c, Kind kind, const void* send, void* recv, size_t count,
                               ncclDataType_t type, ncclRedOp_t op, int root, void* stream) {
  if (c->state.load() != ncclSuccess && c->state.load() != ncclInProgress) {
    return ncclResult_t(c->state.load());
  }
  if (type != ncclFloat32) {
    c->note("stand-in supports ncclFloat32 only");
    return ncclInvalidArgument;
  }
  if (kind == Kind::AllReduce && op != ncclSum && op != ncclAvg) {
    c->note("stand-in supports ncclSum and ncclAvg only");
    return ncclInvalidArgument;
  }
  if (kind == Kind::Broadcast && (root < 0 || root >= c->nranks)) {
    c->note("invalid root " + std::to_string(root));
    return ncclInvalidArgument;
  }
  int sd = gpsi_stream_device(stream);
  if (sd != c->device) {
    c->note("stream is on device " + std::to_string(sd) +
                                  ", the communicator on device " + std::to_string(c->device));
    return ncclInvalidUsage;
  }
  const size_t bytes = count * sizeof(float);
  bool sendNeeded = kind == Kind::AllReduce || c->rank == root;
  if (count > 0 && ((sendNeeded && gpsi_pointer_device(send, bytes) != c->device) ||
                    gpsi_pointer_device(recv, bytes) != c->device)) {
    c->note("buffer is not device memory of device " +
                                     std::to_string(c->device) + " (or too short)");
    return ncclInvalidArgument;
  }
  auto* o = new Op{c, kind, static_cast<const float*>(send), static_cast<float*>(recv), count,
                   op == ncclAvg, root};
  c->enqueued.fetch_add(1);
  gpsi_enqueue(stream, [](void* p) { run(static_cast<Op*>(p)); }, o);
  if (c->inject.enqueueInProgress && !c->blocking) {
    // A non-blocking communicator may answer any call with ncclInProgress;
    // the caller must poll ncclCommGetAsyncError until it is ncclSuccess.
    int expected = ncclSuccess;
    if (c->state.compare_exchange_strong(expected, ncclInProgress)) {
      std::thread([c] {
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        int e = ncclInProgress;
        c->state.compare_exchange_strong(e, ncclSuccess);
      }).detach();
    }
    return ncclInProgress;
  }
  return ncclSuccess;
}

}  // namespace gpsi
