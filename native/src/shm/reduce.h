// The inner loop of the shm all-reduce: sum one slice across all ranks and
// write the result back into every rank's buffer.
#pragma once

#include <cstddef>

namespace gp::shm {

// For i in [lo, hi): s = scale * sum_q bufs[q][i]; bufs[q][i] = s for every q.
// Deterministic summation order (rank 0 first) so all ranks get identical
// bits regardless of which rank reduced the slice.
void reduceSlice(float* const* bufs, int worldSize, size_t lo, size_t hi,
                 float scale);

}  // namespace gp::shm
