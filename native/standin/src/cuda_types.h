// The CUDA runtime types the stand-in defines functions for. With the CUDA
// toolkit's headers present (the normal case here), the real
// cuda_runtime_api.h is used, so the compiler checks every stand-in
// definition against the real declaration; without them, the same subset is
// declared here with the values of driver_types.h (CUDA 13).
#pragma once

#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#define GPSI_REAL_CUDA_HEADERS 1
#else
#define GPSI_REAL_CUDA_HEADERS 0
#include <cstddef>
extern "C" {
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
} cudaError_t;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
typedef void (*cudaHostFn_t)(void* userData);
#define cudaStreamNonBlocking 0x01
#define cudaEventDisableTiming 0x02
}
#endif
