#include "reduce.h"

#include <algorithm>
#include <cstring>

namespace gp::shm {

namespace {

// Blocks small enough that the W inputs plus the sum stay in L1/L2: the second
// pass (copy the sum out to every rank) then writes cache-resident lines, so
// each byte crosses the memory bus once in and once out, like memcpy.
constexpr size_t kBlock = 2048;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GP_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define GP_MULTIVERSION
#endif

GP_MULTIVERSION
void sumBlock(float* __restrict out, float* const* bufs, int w, size_t off,
              size_t n, float scale) {
  const float* __restrict a = bufs[0] + off;
  const float* __restrict b = bufs[1] + off;
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
  for (int q = 2; q < w; ++q) {
    const float* __restrict c = bufs[q] + off;
    for (size_t i = 0; i < n; ++i) out[i] += c[i];
  }
  if (scale != 1.0f) {
    for (size_t i = 0; i < n; ++i) out[i] *= scale;
  }
}

}  // namespace

void reduceSlice(float* const* bufs, int w, size_t lo, size_t hi, float scale) {
  if (w == 1) {
    if (scale != 1.0f) {
      for (size_t i = lo; i < hi; ++i) bufs[0][i] *= scale;
    }
    return;
  }
  alignas(64) float tmp[kBlock];
  for (size_t off = lo; off < hi; off += kBlock) {
    size_t n = std::min(kBlock, hi - off);
    sumBlock(tmp, bufs, w, off, n, scale);
    for (int q = 0; q < w; ++q) std::memcpy(bufs[q] + off, tmp, n * sizeof(float));
  }
}

}  // namespace gp::shm
