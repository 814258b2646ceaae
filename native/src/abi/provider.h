// What a backend offers to the C ABI (native/include/gradpool/collectives_abi.h).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "../common/work.h"

namespace gp::abi {

// Bad arguments: nothing was submitted (GP_COLL_INVALID).
struct InvalidArgument : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Provider {
 public:
  virtual ~Provider() = default;
  // Submits an in-place all-reduce; never blocks on the operation itself.
  virtual WorkPtr allReduceAsync(float* buf, size_t n, bool avg, void* afterStream) = 0;
  // Makes `stream` wait on the device for w (device-memory backends only).
  virtual void streamWait(const WorkPtr&, void*) {
    throw InvalidArgument(std::string(backend()) +
                          " works on host memory: use wait() or the callback, not stream_wait");
  }
  virtual void abort(const std::string& reason) = 0;
  virtual const char* backend() const = 0;
  virtual int rank() const = 0;
  virtual int worldSize() const = 0;
  virtual bool deviceMemory() const { return false; }
  virtual int cudaDevice() const { return -1; }
};

// Host-memory backends accept no stream.
inline void requireNoStream(const Provider& p, void* afterStream) {
  if (afterStream != nullptr) {
    throw InvalidArgument(std::string(p.backend()) +
                          " works on host memory: after_stream must be NULL");
  }
}

}  // namespace gp::abi
