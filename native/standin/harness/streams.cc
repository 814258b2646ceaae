#include <dlfcn.h>

#include <cstdlib>

#include "harness.h"

namespace harness {

namespace {
template <typename T>
bool sym(void* h, const char* name, T* out, std::string* err) {
  *out = reinterpret_cast<T>(dlsym(h, name));
  if (*out == nullptr) *err += std::string(" ") + name;
  return *out != nullptr;
}

Cuda load() {
  Cuda c;
  const char* path = std::getenv("GRADPOOL_CUDART_LIB");
  // RTLD_NOLOAD: the same runtime (and the same streams) as the product's.
  void* h = path ? dlopen(path, RTLD_NOW | RTLD_NOLOAD) : nullptr;
  if (h == nullptr) {
    c.error = std::string("the CUDA runtime at GRADPOOL_CUDART_LIB=") + (path ? path : "(unset)") +
              " is not loaded in this process (create the nccl communicator first)";
    return c;
  }
  std::string missing;
  sym(h, "cudaSetDevice", &c.setDevice, &missing);
  sym(h, "cudaStreamCreateWithFlags", &c.streamCreate, &missing);
  sym(h, "cudaStreamDestroy", &c.streamDestroy, &missing);
  sym(h, "cudaStreamSynchronize", &c.streamSynchronize, &missing);
  sym(h, "cudaMalloc", &c.malloc, &missing);
  sym(h, "cudaFree", &c.free, &missing);
  sym(h, "cudaLaunchHostFunc", &c.launchHostFunc, &missing);
  c.ok = missing.empty();
  if (!c.ok) c.error = "the CUDA runtime lacks" + missing;
  return c;
}
}  // namespace

const Cuda& cuda() {
  static Cuda c = load();
  return c;
}

}  // namespace harness
