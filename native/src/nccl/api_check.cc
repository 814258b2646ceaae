// Compile-time check of api.h against the real SDK headers. It compiles to
// nothing unless the build can see cuda_runtime_api.h (and, for the NCCL
// half, nccl.h); build.mjs adds their include directories when found.
#include "api.h"

#include <cstddef>
#include <type_traits>

namespace gp::nccl::check {

template <typename T>
constexpr size_t sizeOr0() {
  if constexpr (std::is_void_v<T>) return 0; else return sizeof(T);
}

template <typename A, typename B>
struct SameKind
    : std::bool_constant<sizeOr0<A>() == sizeOr0<B>() &&
                         std::is_pointer_v<A> == std::is_pointer_v<B> &&
                         (std::is_integral_v<A> || std::is_enum_v<A>) ==
                             (std::is_integral_v<B> || std::is_enum_v<B>)> {};

// Same arity, and each return/parameter type has the same size and kind.
template <typename F, typename G>
struct SameShape : std::false_type {};
template <typename RA, typename... PA, typename RB, typename... PB>
struct SameShape<RA (*)(PA...), RB (*)(PB...)>
    : std::bool_constant<sizeof...(PA) == sizeof...(PB) && SameKind<RA, RB>::value &&
                         (SameKind<PA, PB>::value && ...)> {};

}  // namespace gp::nccl::check

#define GP_SAME_SHAPE(fn) \
  static_assert(gp::nccl::check::SameShape<decltype(&::fn), gp::nccl::PFN_##fn>::value, \
                "api.h declaration of " #fn " disagrees with the SDK header")

#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
GP_SAME_SHAPE(cudaGetDeviceCount);
GP_SAME_SHAPE(cudaSetDevice);
GP_SAME_SHAPE(cudaGetDevice);
GP_SAME_SHAPE(cudaStreamWaitEvent);
GP_SAME_SHAPE(cudaEventCreateWithFlags);
GP_SAME_SHAPE(cudaEventRecord);
GP_SAME_SHAPE(cudaEventQuery);
GP_SAME_SHAPE(cudaEventDestroy);
GP_SAME_SHAPE(cudaStreamCreateWithFlags);
GP_SAME_SHAPE(cudaStreamDestroy);
GP_SAME_SHAPE(cudaStreamQuery);
GP_SAME_SHAPE(cudaStreamSynchronize);
GP_SAME_SHAPE(cudaMalloc);
GP_SAME_SHAPE(cudaFree);
GP_SAME_SHAPE(cudaHostAlloc);
GP_SAME_SHAPE(cudaFreeHost);
GP_SAME_SHAPE(cudaMemcpyAsync);
GP_SAME_SHAPE(cudaGetErrorString);
GP_SAME_SHAPE(cudaRuntimeGetVersion);
GP_SAME_SHAPE(cudaDriverGetVersion);
GP_SAME_SHAPE(cudaDeviceGetPCIBusId);
static_assert(int(::cudaSuccess) == int(gp::nccl::cudaSuccess));
static_assert(int(::cudaErrorNotReady) == int(gp::nccl::cudaErrorNotReady));
static_assert(int(::cudaMemcpyHostToDevice) == int(gp::nccl::cudaMemcpyHostToDevice));
static_assert(int(::cudaMemcpyDeviceToHost) == int(gp::nccl::cudaMemcpyDeviceToHost));
static_assert(cudaStreamNonBlocking == gp::nccl::kCudaStreamNonBlocking);
static_assert(cudaHostAllocDefault == gp::nccl::kCudaHostAllocDefault);
static_assert(cudaEventDisableTiming == gp::nccl::kCudaEventDisableTiming);
extern "C" const char gradpool_cuda_api_checked = 1;
#endif

#if __has_include(<nccl.h>) && __has_include(<cuda_runtime_api.h>)
#include <nccl.h>
GP_SAME_SHAPE(ncclGetVersion);
GP_SAME_SHAPE(ncclGetUniqueId);
GP_SAME_SHAPE(ncclCommDestroy);
GP_SAME_SHAPE(ncclCommAbort);
GP_SAME_SHAPE(ncclCommGetAsyncError);
GP_SAME_SHAPE(ncclGetErrorString);
GP_SAME_SHAPE(ncclAllReduce);
GP_SAME_SHAPE(ncclBroadcast);
static_assert(sizeof(::ncclUniqueId) == sizeof(gp::nccl::ncclUniqueId));
static_assert(NCCL_UNIQUE_ID_BYTES == gp::nccl::kUniqueIdBytes);
static_assert(int(::ncclSuccess) == int(gp::nccl::ncclSuccess));
static_assert(int(::ncclRemoteError) == int(gp::nccl::ncclRemoteError));
static_assert(int(::ncclInProgress) == int(gp::nccl::ncclInProgress));
static_assert(int(::ncclSum) == int(gp::nccl::ncclSum));
static_assert(int(::ncclFloat32) == int(gp::nccl::ncclFloat32));
#if NCCL_VERSION_CODE >= 21800
GP_SAME_SHAPE(ncclCommInitRankConfig);
GP_SAME_SHAPE(ncclCommFinalize);
// Our ncclConfig_t is a prefix of the real one, field for field.
static_assert(offsetof(::ncclConfig_t, blocking) == offsetof(gp::nccl::ncclConfig_t, blocking));
static_assert(offsetof(::ncclConfig_t, netName) == offsetof(gp::nccl::ncclConfig_t, netName));
static_assert(offsetof(::ncclConfig_t, splitShare) == offsetof(gp::nccl::ncclConfig_t, splitShare));
#ifdef NCCL_API_MAGIC
static_assert(NCCL_API_MAGIC == gp::nccl::kNcclApiMagic);
#endif
static_assert(NCCL_CONFIG_UNDEF_INT == gp::nccl::kNcclConfigUndefInt);
#endif
#if NCCL_VERSION_CODE >= 21000
static_assert(int(::ncclAvg) == int(gp::nccl::ncclAvg));
#endif
#if NCCL_VERSION_CODE >= 21300
GP_SAME_SHAPE(ncclGetLastError);
#endif
extern "C" const char gradpool_nccl_api_checked = 1;
#endif
