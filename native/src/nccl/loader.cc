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

// The file a handle was loaded from (for describe() and error messages).
std::string loadedFrom(void* handle, const char* symbol, const std::string& fallback) {
  Dl_info info{};
  void* s = dlsym(handle, symbol);
  if (s != nullptr && dladdr(s, &info) != 0 && info.dli_fname != nullptr) return info.dli_fname;
  return fallback;
}

// An explicit path from the environment is the only candidate. Otherwise a
// copy some other library already loaded wins (libtorch brings its own
// cudart and NCCL: a second copy would be a second runtime in the process),
// then the candidates in order.
Lib openFirst(const char* envVar, const std::vector<std::string>& defaults, const char* probeSym) {
  Lib lib;
  if (const char* e = std::getenv(envVar); e != nullptr && *e != '\0') {
    lib.handle = dlopen(e, RTLD_NOW | RTLD_GLOBAL);
    if (lib.handle != nullptr) {
      lib.path = loadedFrom(lib.handle, probeSym, e);
    } else {
      const char* err = dlerror();
      lib.errors += "\n    " + std::string(e) + ": " + (err ? err : "not found");
    }
    return lib;
  }
  for (const auto& c : defaults) {
    lib.handle = dlopen(c.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    if (lib.handle != nullptr) {
      lib.path = loadedFrom(lib.handle, probeSym, c) + " (already loaded)";
      return lib;
    }
  }
  for (const auto& c : defaults) {
    // RTLD_GLOBAL: NCCL's plugins expect to find the runtime's symbols.
    lib.handle = dlopen(c.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (lib.handle != nullptr) {
      lib.path = loadedFrom(lib.handle, probeSym, c);
      return lib;
    }
    const char* err = dlerror();
    lib.errors += "\n    " + c + ": " + (err ? err : "not found");
  }
  return lib;
}

std::vector<std::string> cudartCandidates() {
  std::vector<std::string> v = {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"};
  std::string home = std::getenv("CUDA_HOME") ? std::getenv("CUDA_HOME") : "/usr/local/cuda";
  for (const char* so : {"libcudart.so.13", "libcudart.so.12"}) v.push_back(home + "/lib64/" + so);
  v.push_back("libcudart.so");  // unversioned last: a toolkit's, not necessarily libtorch's
  return v;
}

template <typename T>
void sym(void* h, const char* name, T* out, std::string* missing, bool required = true) {
  *out = reinterpret_cast<T>(dlsym(h, name));
  if (*out == nullptr && required) *missing += std::string(" ") + name;
}

void loadSymbols(Api& a, void* n, void* c, std::string* missing) {
  sym(n, "ncclGetVersion", &a.ncclGetVersion, missing);
  sym(n, "ncclGetUniqueId", &a.ncclGetUniqueId, missing);
  sym(n, "ncclCommInitRankConfig", &a.ncclCommInitRankConfig, missing);
  sym(n, "ncclCommFinalize", &a.ncclCommFinalize, missing);
  sym(n, "ncclCommDestroy", &a.ncclCommDestroy, missing);
  sym(n, "ncclCommAbort", &a.ncclCommAbort, missing);
  sym(n, "ncclCommGetAsyncError", &a.ncclCommGetAsyncError, missing);
  sym(n, "ncclGetErrorString", &a.ncclGetErrorString, missing);
  sym(n, "ncclGetLastError", &a.ncclGetLastError, missing, false);
  sym(n, "ncclAllReduce", &a.ncclAllReduce, missing);
  sym(n, "ncclBroadcast", &a.ncclBroadcast, missing);
  sym(c, "cudaGetDeviceCount", &a.cudaGetDeviceCount, missing);
  sym(c, "cudaSetDevice", &a.cudaSetDevice, missing);
  sym(c, "cudaGetDevice", &a.cudaGetDevice, missing);
  sym(c, "cudaStreamCreateWithFlags", &a.cudaStreamCreateWithFlags, missing);
  sym(c, "cudaStreamDestroy", &a.cudaStreamDestroy, missing);
  sym(c, "cudaStreamQuery", &a.cudaStreamQuery, missing);
  sym(c, "cudaStreamSynchronize", &a.cudaStreamSynchronize, missing);
  sym(c, "cudaStreamWaitEvent", &a.cudaStreamWaitEvent, missing);
  sym(c, "cudaEventCreateWithFlags", &a.cudaEventCreateWithFlags, missing);
  sym(c, "cudaEventRecord", &a.cudaEventRecord, missing);
  sym(c, "cudaEventQuery", &a.cudaEventQuery, missing);
  sym(c, "cudaEventDestroy", &a.cudaEventDestroy, missing);
  sym(c, "cudaMalloc", &a.cudaMalloc, missing);
  sym(c, "cudaFree", &a.cudaFree, missing);
  sym(c, "cudaHostAlloc", &a.cudaHostAlloc, missing);
  sym(c, "cudaFreeHost", &a.cudaFreeHost, missing);
  sym(c, "cudaMemcpyAsync", &a.cudaMemcpyAsync, missing);
  sym(c, "cudaGetErrorString", &a.cudaGetErrorString, missing);
  sym(c, "cudaRuntimeGetVersion", &a.cudaRuntimeGetVersion, missing);
  sym(c, "cudaDriverGetVersion", &a.cudaDriverGetVersion, missing);
  sym(c, "cudaDeviceGetPCIBusId", &a.cudaDeviceGetPCIBusId, missing);
}

// The CUDA runtime is loaded once and shared by api() and cudaDevices().
std::mutex gCudartMu;
Lib gCudart;
std::string gCudartEnv;  // GRADPOOL_CUDART_LIB when gCudart was opened

Lib cudartLib() {
  std::lock_guard<std::mutex> lk(gCudartMu);
  const char* env = std::getenv("GRADPOOL_CUDART_LIB");
  if (gCudart.handle == nullptr || gCudartEnv != (env ? env : "")) {
    gCudartEnv = env ? env : "";
    // Device ordinals in nvidia-smi's order, so "GPU 1" means the same GPU in
    // every tool. Only effective before the first CUDA call in the process
    // (the driver reads it once); a value the user set is kept.
    setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 0);
    gCudart = openFirst("GRADPOOL_CUDART_LIB", cudartCandidates(), "cudaGetDeviceCount");
  }
  return gCudart;
}

Api load() {
  Lib cudart = cudartLib();
  Lib nccl = openFirst("GRADPOOL_NCCL_LIB", {"libnccl.so.2", "libnccl.so"}, "ncclGetVersion");
  std::string msg;
  if (nccl.handle == nullptr) {
    msg += "\n  - NCCL (libnccl.so.2) could not be loaded; install it (apt install libnccl2, "
           "or pip install nvidia-nccl-cu13) or set GRADPOOL_NCCL_LIB=/path/to/libnccl.so.2. "
           "Tried:" + nccl.errors;
  }
  if (cudart.handle == nullptr) {
    msg += "\n  - the CUDA runtime (libcudart.so.*) could not be loaded; install the CUDA "
           "runtime or set GRADPOOL_CUDART_LIB=/path/to/libcudart.so.13. Tried:" +
           cudart.errors;
  }
  if (!msg.empty()) {
    throw CollectiveError(ErrCode::Unavailable, "nccl backend unavailable:" + msg);
  }
  Api a{};
  std::string missing;
  loadSymbols(a, nccl.handle, cudart.handle, &missing);
  if (!missing.empty()) {
    throw CollectiveError(ErrCode::Unavailable,
                          "nccl backend unavailable: " + nccl.path + " / " + cudart.path +
                              " lack symbols:" + missing + " (NCCL >= 2.14 is required)");
  }
  a.ncclGetVersion(&a.ncclVersion);
  a.cudaRuntimeGetVersion(&a.cudartVersion);
  static std::string np, cp;
  np = nccl.path;
  cp = cudart.path;
  a.ncclPath = np.c_str();
  a.cudartPath = cp.c_str();
  return a;
}

}  // namespace

Devices cudaDevices() {
  Devices d;
  Lib lib = cudartLib();
  if (lib.handle == nullptr) {
    d.error = "the CUDA runtime (libcudart.so.*) could not be loaded:" + lib.errors;
    return d;
  }
  d.library = lib.path;
  PFN_cudaGetDeviceCount count = nullptr;
  PFN_cudaDeviceGetPCIBusId bus = nullptr;
  PFN_cudaGetErrorString text = nullptr;
  std::string missing;
  sym(lib.handle, "cudaGetDeviceCount", &count, &missing);
  sym(lib.handle, "cudaDeviceGetPCIBusId", &bus, &missing);
  sym(lib.handle, "cudaGetErrorString", &text, &missing);
  if (!missing.empty()) {
    d.error = lib.path + " lacks" + missing;
    return d;
  }
  int n = 0;
  if (cudaError_t e = count(&n); e != cudaSuccess) {
    d.error = std::string("no usable CUDA device: ") + text(e);
    return d;
  }
  for (int i = 0; i < n; ++i) {
    char id[64] = {0};
    bus(id, sizeof(id), i);
    d.busIds.push_back(id);
  }
  d.ok = true;
  return d;
}

std::string ncclVersionString(int code) {
  int major, minor, patch;
  if (code >= 10000) {
    major = code / 10000, minor = (code / 100) % 100, patch = code % 100;
  } else {
    major = code / 1000, minor = (code / 100) % 10, patch = code % 100;
  }
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string ncclErrorText(const Api& a, ncclResult_t r, ncclComm_t comm) {
  std::string text = a.ncclGetErrorString(r);
  if (a.ncclGetLastError != nullptr) {
    const char* last = a.ncclGetLastError(comm);
    if (last != nullptr && *last != '\0') text += ": " + std::string(last);
  }
  return text;
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
