/*
 * gradpool collectives C ABI, version 1.
 *
 * Lets another native module (the libtorch engine's addon) start all-reduces
 * on a gradpool communicator directly from C/C++, e.g. one per gradient
 * bucket from autograd hooks during backward, without going through
 * JavaScript. The collectives addon hands out a `const gp_coll_abi*` inside a
 * JS External (`Communicator.collectiveAbi()`), type-tagged with
 * GP_COLL_ABI_TYPE_TAG_*; the consumer checks the tag, the version and the
 * size, then calls through the function pointers. Header only: include it,
 * link nothing.
 *
 * Ordering: all_reduce calls on one communicator run in the order they are
 * made (one FIFO with the communicator's JavaScript-API calls), so every rank
 * must make them in the same order, with the same counts. They return at
 * once; completion is reported through the callback, `test` and `wait`.
 *
 * Memory: `memory` says where buffers must live. GP_COLL_MEMORY_CUDA (nccl):
 * device memory on `cuda_device`; the all-reduce is ordered after the work
 * enqueued so far on `after_stream` (a cudaStream_t; NULL = the legacy
 * default stream) by an event the call records there, and runs on the
 * communicator's own stream; no host or device-wide synchronisation. Use
 * `stream_wait` to make a stream (e.g. the one running the optimizer) wait
 * for the result on the device. GP_COLL_MEMORY_HOST (shm, gloo): host
 * memory; `after_stream` must be NULL; the buffer must stay untouched until
 * completion.
 *
 * Threads: every function may be called from any thread. The done callback
 * runs exactly once per accepted all_reduce, on an internal thread of the
 * communicator; it must return quickly and must not call `wait`.
 *
 * Failures: after any failure the communicator is broken (like the JS API):
 * pending and later operations fail with GP_COLL_BROKEN or the first error.
 * A dead peer, a timeout or `abort` fail the pending work within seconds.
 */
#ifndef GRADPOOL_COLLECTIVES_ABI_H_
#define GRADPOOL_COLLECTIVES_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GP_COLL_ABI_VERSION 1u

/* napi_type_tag of the External holding a `const gp_coll_abi*`. */
#define GP_COLL_ABI_TYPE_TAG_LOWER 0x9a1c3e5f0b7d2468ULL
#define GP_COLL_ABI_TYPE_TAG_UPPER 0x67726164706f6f6cULL /* "gradpool" */

typedef struct gp_coll_comm gp_coll_comm; /* a communicator (reference counted) */
typedef struct gp_coll_work gp_coll_work; /* one submitted operation */

typedef enum gp_coll_status {
  GP_COLL_OK = 0,
  GP_COLL_PENDING = 1,     /* not finished yet (test, or wait's timeout) */
  GP_COLL_TIMEOUT = 2,     /* a peer did not arrive within the communicator's timeout */
  GP_COLL_PEER_DIED = 3,   /* a peer process is gone (rank_at_fault names it) */
  GP_COLL_ABORTED = 4,     /* abort() here or on a peer */
  GP_COLL_MISMATCH = 5,    /* ranks disagree on the operation */
  GP_COLL_RESOURCE = 6,    /* out of memory or shared memory */
  GP_COLL_UNAVAILABLE = 7, /* a library or device is missing */
  GP_COLL_BROKEN = 8,      /* failed earlier or destroyed; rebuild the communicator */
  GP_COLL_BACKEND = 9,     /* anything else the backend reported */
  GP_COLL_INVALID = 10     /* bad arguments; nothing was started */
} gp_coll_status;

/* The status' name as the JS API spells its error codes ("PEER_DIED"), for messages. */
static inline const char* gp_coll_status_name(gp_coll_status s) {
  static const char* const names[] = {"OK",       "PENDING",     "TIMEOUT", "PEER_DIED", "ABORTED", "MISMATCH",
                                      "RESOURCE", "UNAVAILABLE", "BROKEN",  "BACKEND",   "INVALID"};
  return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

typedef enum gp_coll_op { GP_COLL_SUM = 0, GP_COLL_AVG = 1 } gp_coll_op;

typedef enum gp_coll_memory { GP_COLL_MEMORY_HOST = 0, GP_COLL_MEMORY_CUDA = 1 } gp_coll_memory;

/* rank_at_fault: -1 when unknown. message: valid during the call only. */
typedef void (*gp_coll_done_fn)(void* user, gp_coll_status status, int32_t rank_at_fault,
                                const char* message);

typedef struct gp_coll_abi {
  uint32_t version;    /* GP_COLL_ABI_VERSION of the provider */
  uint32_t size;       /* sizeof(gp_coll_abi) of the provider; fields only ever get appended */
  gp_coll_comm* comm;  /* the communicator this table belongs to */
  const char* backend; /* "nccl", "shm" or "gloo" */
  int32_t rank;
  int32_t world_size;
  int32_t memory;      /* gp_coll_memory */
  int32_t cuda_device; /* CUDA ordinal of the communicator (nccl), else -1 */

  /* The External holds one reference; take your own to keep comm beyond it. */
  void (*retain)(gp_coll_comm* comm);
  void (*release)(gp_coll_comm* comm);

  /*
   * Starts an in-place all-reduce of `count` floats at `buf` and returns at
   * once: GP_COLL_OK when started, else an error (err filled) and nothing
   * started, no callback. `done` may be NULL; `work` may be NULL (no handle)
   * or receives a handle to release with work_release.
   */
  gp_coll_status (*all_reduce)(gp_coll_comm* comm, float* buf, size_t count, gp_coll_op op,
                               void* after_stream, gp_coll_done_fn done, void* user,
                               gp_coll_work** work, char* err, size_t err_len);

  /* CUDA memory only: `stream` (cudaStream_t) waits on the device for work; returns at once. */
  gp_coll_status (*stream_wait)(gp_coll_work* work, void* stream, char* err, size_t err_len);

  /* Blocks up to timeout_ms (< 0: no limit): the work's status, or GP_COLL_PENDING. */
  gp_coll_status (*wait)(gp_coll_work* work, int64_t timeout_ms, int32_t* rank_at_fault,
                         char* err, size_t err_len);

  /* The work's status now, without blocking. */
  gp_coll_status (*test)(gp_coll_work* work);

  /* Drops the handle; the operation itself continues. */
  void (*work_release)(gp_coll_work* work);

  /* Fails pending and later operations here and (shm, nccl) on the peers. */
  void (*abort)(gp_coll_comm* comm, const char* reason);
} gp_coll_abi;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GRADPOOL_COLLECTIVES_ABI_H_ */
