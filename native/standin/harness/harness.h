// Test harness for the collectives C ABI: plays the libtorch engine's part
// (a compute stream producing gradient buckets in reverse order during
// "backward", an all-reduce started per bucket, the optimizer waiting on the
// results) against whatever communicator JavaScript hands it.
#pragma once

#include <cstddef>
#include <string>

namespace harness {

// The CUDA runtime calls the harness makes, from the copy the collectives
// addon already loaded (GRADPOOL_CUDART_LIB).
struct Cuda {
  int (*setDevice)(int);
  int (*streamCreate)(void**, unsigned);
  int (*streamDestroy)(void*);
  int (*streamSynchronize)(void*);
  int (*malloc)(void**, size_t);
  int (*free)(void*);
  int (*launchHostFunc)(void*, void (*)(void*), void*);
  bool ok = false;
  std::string error;
};

// Loads the runtime once; Cuda::ok false (with error) when it is not loaded.
const Cuda& cuda();

}  // namespace harness
