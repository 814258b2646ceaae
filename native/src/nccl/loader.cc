// dlopen/dlsym of libnccl and libcudart, so that the addon itself never links
// against CUDA and builds on machines without it.
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "../common/errors.h"
#include "api.h"

namespace gp::nccl {

namespace {

struct Lib {
  void* handle = nullptr;
  std::string path;
  std::string errors;
};

Lib openFirst(const char* envVar, const std::vector<std::string>& defaults) {
  Lib lib;
  std::vector<std::string> candidates;
  if (const char* e = std::getenv(envVar); e != nullptr && *e != '\0') {
    candidates.push_back(e);  // an explicit path is the only candidate
  } else {
    candidates = defaults;
  }
  for (const auto& c : candidates) {
    // RTLD_GLOBAL: NCCL's plugins expect to find the runtime's symbols.
    lib.handle = dlopen(c.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (lib.handle != nullptr) {
      lib.path = c;
      return lib;
    }
    const char* err = dlerror();
    lib.errors += "\n    " + c + ": " + (err ? err : "not found");
  }
  return lib;
}

std::vector<std::string> cudartCandidates() {
  std::vector<std::string> v = {"libcudart.so", "libcudart.so.13", "libcudart.so.12",
                                "libcudart.so.11.0"};
  std::string home = std::getenv("CUDA_HOME") ? std::getenv("CUDA_HOME") : "/usr/local/cuda";
  v.push_back(home + "/lib64/libcudart.so");
  return v;
}

template <typename T>
void sym(void* h, const char* name, T* out, std::string* missing, bool required = true) {
  *out = reinterpret_cast<T>(dlsym(h, name));
  if (*out == nullptr && required) *missing += std::string(" ") + name;
}

Api load() {
  Lib cudart = openFirst("GRADPOOL_CUDART_LIB", cudartCandidates());
  Lib nccl = openFirst("GRADPOOL_NCCL_LIB", {"libnccl.so.2", "libnccl.so"});
  std::string msg;
  if (nccl.handle == nullptr) {
    msg += "\n  - NCCL (libnccl.so.2) could not be loaded; install it (apt install libnccl2, "
           "or pip install nvidia-nccl-cu12) or set GRADPOOL_NCCL_LIB=/path/to/libnccl.so.2. "
           "Tried:" + nccl.errors;
  }
  if (cudart.handle == nullptr) {
    msg += "\n  - the CUDA runtime (libcudart.so.*) could not be loaded; install the CUDA "
           "runtime or set GRADPOOL_CUDART_LIB=/path/to/libcudart.so.12. Tried:" +
           cudart.errors;
  }
  if (!msg.empty()) {
    throw CollectiveError(ErrCode::Unavailable, "nccl backend unavailable:" + msg);
  }
  Api a{};
  std::string missing;
  void* n = nccl.handle;
  sym(n, "ncclGetVersion", &a.ncclGetVersion, &missing);
  sym(n, "ncclGetUniqueId", &a.ncclGetUniqueId, &missing);
  sym(n, "ncclCommInitRank", &a.ncclCommInitRank, &missing);
  sym(n, "ncclCommDestroy", &a.ncclCommDestroy, &missing);
  sym(n, "ncclCommAbort", &a.ncclCommAbort, &missing);
  sym(n, "ncclCommGetAsyncError", &a.ncclCommGetAsyncError, &missing, false);
  sym(n, "ncclGetErrorString", &a.ncclGetErrorString, &missing);
  sym(n, "ncclGetLastError", &a.ncclGetLastError, &missing, false);
  sym(n, "ncclAllReduce", &a.ncclAllReduce, &missing);
  sym(n, "ncclBroadcast", &a.ncclBroadcast, &missing);
  void* c = cudart.handle;
  sym(c, "cudaGetDeviceCount", &a.cudaGetDeviceCount, &missing);
  sym(c, "cudaSetDevice", &a.cudaSetDevice, &missing);
  sym(c, "cudaStreamCreateWithFlags", &a.cudaStreamCreateWithFlags, &missing);
  sym(c, "cudaStreamDestroy", &a.cudaStreamDestroy, &missing);
  sym(c, "cudaStreamQuery", &a.cudaStreamQuery, &missing);
  sym(c, "cudaStreamSynchronize", &a.cudaStreamSynchronize, &missing);
  sym(c, "cudaMalloc", &a.cudaMalloc, &missing);
  sym(c, "cudaFree", &a.cudaFree, &missing);
  sym(c, "cudaHostAlloc", &a.cudaHostAlloc, &missing);
  sym(c, "cudaFreeHost", &a.cudaFreeHost, &missing);
  sym(c, "cudaMemcpyAsync", &a.cudaMemcpyAsync, &missing);
  sym(c, "cudaGetErrorString", &a.cudaGetErrorString, &missing);
  sym(c, "cudaRuntimeGetVersion", &a.cudaRuntimeGetVersion, &missing);
  sym(c, "cudaDriverGetVersion", &a.cudaDriverGetVersion, &missing);
  sym(c, "cudaDeviceGetPCIBusId", &a.cudaDeviceGetPCIBusId, &missing);
  if (!missing.empty()) {
    throw CollectiveError(ErrCode::Unavailable,
                          "nccl backend unavailable: " + nccl.path + " / " + cudart.path +
                              " lack symbols:" + missing + " (NCCL >= 2.4 is required)");
  }
  a.ncclGetVersion(&a.ncclVersion);
  a.cudaRuntimeGetVersion(&a.cudartVersion);
  // From 2.9 the code is major*10000+minor*100+patch; before, major*1000+minor*100+patch.
  a.hasAvg = a.ncclVersion >= 21000;
  static std::string np, cp;
  np = nccl.path;
  cp = cudart.path;
  a.ncclPath = np.c_str();
  a.cudartPath = cp.c_str();
  return a;
}

}  // namespace

std::string ncclVersionString(int code) {
  int major, minor, patch;
  if (code >= 10000) {
    major = code / 10000, minor = (code / 100) % 100, patch = code % 100;
  } else {
    major = code / 1000, minor = (code / 100) % 10, patch = code % 100;
  }
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

const Api& api() {
  // Success is cached; failure is not, so fixing the environment and retrying
  // in the same process works.
  static std::mutex mu;
  static Api cached{};
  static bool ok = false;
  std::lock_guard<std::mutex> lk(mu);
  if (!ok) {
    cached = load();
    ok = true;
  }
  return cached;
}

}  // namespace gp::nccl
