// The small part of the NCCL and CUDA runtime C API that the nccl backend
// uses, declared here so the addon builds without either SDK. Both libraries
// are loaded with dlopen at run time (loader.cc). api_check.cc verifies these
// declarations against the real headers whenever a build can see them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace gp::nccl {

// ---- NCCL (nccl.h) ----
struct ncclComm;
using ncclComm_t = ncclComm*;
constexpr int kUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES
struct ncclUniqueId {
  char internal[kUniqueIdBytes];
};
enum ncclResult_t : int {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
};
enum ncclRedOp_t : int { ncclSum = 0, ncclAvg = 4 };
enum ncclDataType_t : int { ncclFloat32 = 7 };

// ncclConfig_t is versioned and append-only: NCCL copies min(size, its own
// size) bytes and ignores fields newer than `version`, so this 2.18 prefix
// is valid for every release from 2.14 on.
constexpr unsigned kNcclApiMagic = 0xcafebeef;  // NCCL_API_MAGIC
constexpr int kNcclConfigUndefInt = -2147483647 - 1;  // NCCL_CONFIG_UNDEF_INT (INT_MIN)
struct ncclConfig_t {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;
  int cgaClusterSize;
  int minCTAs;
  int maxCTAs;
  const char* netName;
  int splitShare;
};
// NCCL_CONFIG_INITIALIZER with blocking = 0.
inline ncclConfig_t nonBlockingConfig() {
  constexpr int U = kNcclConfigUndefInt;
  return ncclConfig_t{sizeof(ncclConfig_t), kNcclApiMagic, 21800, 0, U, U, U, nullptr, U};
}

// ---- CUDA runtime (cuda_runtime_api.h / driver_types.h) ----
struct CUstream_st;
using cudaStream_t = CUstream_st*;
struct CUevent_st;
using cudaEvent_t = CUevent_st*;
enum cudaError_t : int { cudaSuccess = 0, cudaErrorNotReady = 600 };
enum cudaMemcpyKind : int { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
constexpr unsigned kCudaStreamNonBlocking = 0x01;  // cudaStreamNonBlocking
constexpr unsigned kCudaHostAllocDefault = 0x00;   // cudaHostAllocDefault
constexpr unsigned kCudaEventDisableTiming = 0x02; // cudaEventDisableTiming

// Function pointer types, named after the C functions.
using PFN_ncclGetVersion = ncclResult_t (*)(int*);
using PFN_ncclGetUniqueId = ncclResult_t (*)(ncclUniqueId*);
using PFN_ncclCommInitRankConfig = ncclResult_t (*)(ncclComm_t*, int, ncclUniqueId, int,
                                                    ncclConfig_t*);
using PFN_ncclCommFinalize = ncclResult_t (*)(ncclComm_t);
using PFN_ncclCommDestroy = ncclResult_t (*)(ncclComm_t);
using PFN_ncclCommAbort = ncclResult_t (*)(ncclComm_t);
using PFN_ncclCommGetAsyncError = ncclResult_t (*)(ncclComm_t, ncclResult_t*);
using PFN_ncclGetErrorString = const char* (*)(ncclResult_t);
using PFN_ncclGetLastError = const char* (*)(ncclComm_t);
using PFN_ncclAllReduce = ncclResult_t (*)(const void*, void*, size_t, ncclDataType_t,
                                           ncclRedOp_t, ncclComm_t, cudaStream_t);
using PFN_ncclBroadcast = ncclResult_t (*)(const void*, void*, size_t, ncclDataType_t, int,
                                           ncclComm_t, cudaStream_t);

using PFN_cudaGetDeviceCount = cudaError_t (*)(int*);
using PFN_cudaSetDevice = cudaError_t (*)(int);
using PFN_cudaGetDevice = cudaError_t (*)(int*);
using PFN_cudaStreamCreateWithFlags = cudaError_t (*)(cudaStream_t*, unsigned int);
using PFN_cudaStreamDestroy = cudaError_t (*)(cudaStream_t);
using PFN_cudaStreamQuery = cudaError_t (*)(cudaStream_t);
using PFN_cudaStreamSynchronize = cudaError_t (*)(cudaStream_t);
using PFN_cudaStreamWaitEvent = cudaError_t (*)(cudaStream_t, cudaEvent_t, unsigned int);
using PFN_cudaEventCreateWithFlags = cudaError_t (*)(cudaEvent_t*, unsigned int);
using PFN_cudaEventRecord = cudaError_t (*)(cudaEvent_t, cudaStream_t);
using PFN_cudaEventQuery = cudaError_t (*)(cudaEvent_t);
using PFN_cudaEventDestroy = cudaError_t (*)(cudaEvent_t);
using PFN_cudaMalloc = cudaError_t (*)(void**, size_t);
using PFN_cudaFree = cudaError_t (*)(void*);
using PFN_cudaHostAlloc = cudaError_t (*)(void**, size_t, unsigned int);
using PFN_cudaFreeHost = cudaError_t (*)(void*);
using PFN_cudaMemcpyAsync = cudaError_t (*)(void*, const void*, size_t, cudaMemcpyKind,
                                            cudaStream_t);
using PFN_cudaGetErrorString = const char* (*)(cudaError_t);
using PFN_cudaRuntimeGetVersion = cudaError_t (*)(int*);
using PFN_cudaDriverGetVersion = cudaError_t (*)(int*);
using PFN_cudaDeviceGetPCIBusId = cudaError_t (*)(char*, int, int);

struct Api {
  PFN_ncclGetVersion ncclGetVersion;
  PFN_ncclGetUniqueId ncclGetUniqueId;
  PFN_ncclCommInitRankConfig ncclCommInitRankConfig;  // 2.14+
  PFN_ncclCommFinalize ncclCommFinalize;              // 2.14+
  PFN_ncclCommDestroy ncclCommDestroy;
  PFN_ncclCommAbort ncclCommAbort;
  PFN_ncclCommGetAsyncError ncclCommGetAsyncError;
  PFN_ncclGetErrorString ncclGetErrorString;
  PFN_ncclGetLastError ncclGetLastError;  // optional (2.13+)
  PFN_ncclAllReduce ncclAllReduce;
  PFN_ncclBroadcast ncclBroadcast;

  PFN_cudaGetDeviceCount cudaGetDeviceCount;
  PFN_cudaSetDevice cudaSetDevice;
  PFN_cudaGetDevice cudaGetDevice;
  PFN_cudaStreamCreateWithFlags cudaStreamCreateWithFlags;
  PFN_cudaStreamDestroy cudaStreamDestroy;
  PFN_cudaStreamQuery cudaStreamQuery;
  PFN_cudaStreamSynchronize cudaStreamSynchronize;
  PFN_cudaStreamWaitEvent cudaStreamWaitEvent;
  PFN_cudaEventCreateWithFlags cudaEventCreateWithFlags;
  PFN_cudaEventRecord cudaEventRecord;
  PFN_cudaEventQuery cudaEventQuery;
  PFN_cudaEventDestroy cudaEventDestroy;
  PFN_cudaMalloc cudaMalloc;
  PFN_cudaFree cudaFree;
  PFN_cudaHostAlloc cudaHostAlloc;
  PFN_cudaFreeHost cudaFreeHost;
  PFN_cudaMemcpyAsync cudaMemcpyAsync;
  PFN_cudaGetErrorString cudaGetErrorString;
  PFN_cudaRuntimeGetVersion cudaRuntimeGetVersion;
  PFN_cudaDriverGetVersion cudaDriverGetVersion;
  PFN_cudaDeviceGetPCIBusId cudaDeviceGetPCIBusId;

  int ncclVersion = 0;    // e.g. 22105 for 2.21.5
  int cudartVersion = 0;  // e.g. 13000
  const char* ncclPath = "";
  const char* cudartPath = "";
};

// Loads both libraries once (thread-safe): copies already loaded in the
// process (e.g. by libtorch) first, then versioned sonames, then unversioned
// names. Throws CollectiveError (Unavailable) naming every library that is
// missing and the environment variable that points at it.
const Api& api();

// The error text of a failed call: ncclGetErrorString, plus ncclGetLastError
// (2.13+) where it says more.
std::string ncclErrorText(const Api& a, ncclResult_t r, ncclComm_t comm);

// The visible CUDA devices, from the CUDA runtime alone (works without NCCL).
struct Devices {
  bool ok = false;
  std::string error;
  std::string library;
  std::vector<std::string> busIds;  // by CUDA ordinal
};
Devices cudaDevices();

// "2.21.5" from 22105 (or 2903 for the pre-2.9 encoding).
std::string ncclVersionString(int code);

}  // namespace gp::nccl
