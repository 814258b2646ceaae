#pragma once

#include <cstdint>
#include <ctime>

namespace gp {

// CLOCK_MONOTONIC is system-wide, so values are comparable between processes
// on one host (used for shm heartbeats) and immune to wall-clock jumps.
inline uint64_t monoMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

}  // namespace gp
