// memcpy bandwidth of this machine: the physical reference the all-reduce
// benchmark compares against.
#include <napi.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <cstdlib>

namespace gp {

// memcpyBandwidth(bytes, reps) -> GB/s, median-free best-effort mean of reps
// copies after one warm-up copy (which also faults the pages in).
Napi::Value MemcpyBandwidth(const Napi::CallbackInfo& info) {
  size_t bytes = size_t(info[0].ToNumber().DoubleValue());
  int reps = info.Length() > 1 ? info[1].ToNumber().Int32Value() : 5;
  void* a = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
  void* b = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
  std::memset(a, 1, bytes);
  std::memset(b, 2, bytes);
  std::memcpy(b, a, bytes);
  auto results = Napi::Array::New(info.Env());
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b, a, bytes);
    auto t1 = std::chrono::steady_clock::now();
    results.Set(uint32_t(i), Napi::Number::New(
        info.Env(), std::chrono::duration<double>(t1 - t0).count()));
  }
  std::free(a);
  std::free(b);
  return results;
}

}  // namespace gp
