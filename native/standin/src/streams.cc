// CUDA runtime stand-in: "device" memory (host memory, tracked per device),
// streams (a thread each, executing enqueued work in order) and events.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "internal.h"
#include "state.h"

namespace gpsi {

namespace {

void streamLoop(Stream* st) {
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  for (;;) {
    s.cv.wait(lk, [&] { return !st->queue.empty() || st->destroyed; });
    if (st->queue.empty()) {  // destroyed and drained; the Stream stays allocated
      s.streams.erase(st);
      return;
    }
    std::function<void()> item = std::move(st->queue.front());
    st->queue.pop_front();
    st->running = true;
    lk.unlock();
    item();
    lk.lock();
    st->running = false;
    s.cv.notify_all();
  }
}

// Call with the lock held.
Stream* newStream(int device) {
  auto* st = new Stream();
  st->device = device;
  state().streams.insert(st);
  std::thread(streamLoop, st).detach();
  return st;
}

// The stream behind a handle (nullptr: the legacy default stream of the
// current device). Call with the lock held; nullptr for invalid handles.
Stream* resolve(State& s, cudaStream_t h) {
  if (h == nullptr) {
    initDriver(s);
    int d = currentDevice();
    if (d >= int(s.busIds.size())) return nullptr;
    touchContext(s, d);
    Stream*& legacy = s.legacyStreams[d];
    if (legacy == nullptr) legacy = newStream(d);
    return legacy;
  }
  auto* st = reinterpret_cast<Stream*>(h);
  if (st->magic != 0x5354524d || st->destroyed) return nullptr;
  return st;
}

Event* event(cudaEvent_t h) {
  auto* e = reinterpret_cast<Event*>(h);
  return e != nullptr && e->magic == 0x45564e54 && !e->destroyed ? e : nullptr;
}

bool idle(const Stream* st) { return st->queue.empty() && !st->running; }

// No stream of `device` (of any device: -1) has work queued or running.
bool drained(const State& s, int device) {
  for (const Stream* st : s.streams) {
    if ((device < 0 || st->device == device) && !idle(st)) return false;
  }
  return true;
}

void push(State& s, Stream* st, std::function<void()> fn) {
  st->queue.push_back(std::move(fn));
  s.cv.notify_all();
}

// Device of the allocation holding [p, p + n); -2 when p is in no allocation.
int allocationDevice(State& s, const void* p, size_t n) {
  auto addr = reinterpret_cast<uintptr_t>(p);
  auto it = s.allocations.upper_bound(addr);
  if (it == s.allocations.begin()) return -2;
  --it;
  if (addr + n > it->first + it->second.bytes) return -2;
  return it->second.device;
}

// Every call that works on the current device creates its context first.
int contextDevice(State& s) {
  initDriver(s);
  int d = currentDevice();
  if (d < int(s.busIds.size())) touchContext(s, d);
  return d;
}

}  // namespace
}  // namespace gpsi

using namespace gpsi;

extern "C" {

cudaError_t cudaMalloc(void** p, size_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  int d = contextDevice(s);
  if (d >= int(s.busIds.size())) return cudaErrorNoDevice;
  void* mem = std::malloc(bytes == 0 ? 1 : bytes);
  if (mem == nullptr) return cudaErrorMemoryAllocation;
  // cudaMalloc does not clear memory: NaN bytes expose code that assumes it does.
  std::memset(mem, 0xff, bytes);
  s.allocations[reinterpret_cast<uintptr_t>(mem)] = {bytes == 0 ? 1 : bytes, d};
  *p = mem;
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  contextDevice(s);
  void* mem = std::malloc(bytes == 0 ? 1 : bytes);
  if (mem == nullptr) return cudaErrorMemoryAllocation;
  s.allocations[reinterpret_cast<uintptr_t>(mem)] = {bytes == 0 ? 1 : bytes, -1};
  *p = mem;
  return cudaSuccess;
}

static cudaError_t release(void* p, bool pinned, const char* what) {
  if (p == nullptr) return cudaSuccess;
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  int d = contextDevice(s);
  auto it = s.allocations.find(reinterpret_cast<uintptr_t>(p));
  if (it != s.allocations.end()) {
    // Like CUDA, freeing waits for the work already queued (cudaFree synchronizes): a stream
    // thread may still be copying into this memory or leaving a collective in it after an abort.
    int device = it->second.device;
    if (!s.cv.wait_for(lk, std::chrono::seconds(10), [&] { return drained(s, device); })) {
      violation(std::string(what) + " while work queued on a stream was still running after 10 s (CUDA would wait for it)");
      return cudaErrorInvalidValue;  // left allocated: never freed under a running stream
    }
    it = s.allocations.find(reinterpret_cast<uintptr_t>(p));
  }
  if (it == s.allocations.end() || (it->second.device == -1) != pinned) {
    violation(std::string(what) + " of a pointer it did not allocate");
    return cudaErrorInvalidValue;
  }
  if (!pinned && it->second.device != d) {
    // Real CUDA frees it anyway, but only after creating a context on the
    // current device (a stray context on GPU 0 of every rank): the log shows it.
    violation(std::string(what) + " of device " + std::to_string(it->second.device) +
              " memory while the current device is " + std::to_string(d));
  }
  s.allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) { return release(p, false, "cudaFree"); }
cudaError_t cudaFreeHost(void* p) { return release(p, true, "cudaFreeHost"); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* out, unsigned int) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  int d = contextDevice(s);
  if (d >= int(s.busIds.size())) return cudaErrorNoDevice;
  *out = reinterpret_cast<cudaStream_t>(newStream(d));
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t h) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  int d = contextDevice(s);
  Stream* st = h == nullptr ? nullptr : resolve(s, h);
  if (st == nullptr) return cudaErrorInvalidResourceHandle;
  if (st->device != d) {
    violation("cudaStreamDestroy of a device " + std::to_string(st->device) +
              " stream while the current device is " + std::to_string(d));
  }
  // Like CUDA: returns at once; queued work still runs, then the thread ends.
  st->destroyed = true;
  s.cv.notify_all();
  return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t h) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Stream* st = resolve(s, h);
  if (st == nullptr) return cudaErrorInvalidResourceHandle;
  return idle(st) ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaStreamSynchronize(cudaStream_t h) {
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  Stream* st = resolve(s, h);
  if (st == nullptr) return cudaErrorInvalidResourceHandle;
  s.cv.wait(lk, [&] { return idle(st); });
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  int d = contextDevice(s);
  log("\"ev\":\"deviceSynchronize\",\"device\":" + std::to_string(d));
  Stream* legacy = resolve(s, nullptr);
  s.cv.wait(lk, [&] { return legacy == nullptr || idle(legacy); });
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* out, unsigned int) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  auto* e = new Event();
  e->device = contextDevice(s);
  *out = reinterpret_cast<cudaEvent_t>(e);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* out) { return cudaEventCreateWithFlags(out, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t h) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Event* e = event(h);
  if (e == nullptr) return cudaErrorInvalidResourceHandle;
  // Pending waits on it still complete (they hold the pointer); it is never freed.
  e->destroyed = true;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t h, cudaStream_t stream) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Event* e = event(h);
  Stream* st = resolve(s, stream);
  if (e == nullptr || st == nullptr) return cudaErrorInvalidResourceHandle;
  if (e->device != st->device) return cudaErrorInvalidResourceHandle;  // as CUDA
  uint64_t gen = ++e->recorded;
  push(s, st, [e, gen] {
    State& g = state();
    std::lock_guard<std::mutex> l(g.mu);
    if (e->completed < gen) e->completed = gen;
    g.cv.notify_all();
  });
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t h) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Event* e = event(h);
  if (e == nullptr) return cudaErrorInvalidResourceHandle;
  return e->completed >= e->recorded ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventSynchronize(cudaEvent_t h) {
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  Event* e = event(h);
  if (e == nullptr) return cudaErrorInvalidResourceHandle;
  uint64_t target = e->recorded;
  s.cv.wait(lk, [&] { return e->completed >= target; });
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t h, unsigned int) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Event* e = event(h);
  Stream* st = resolve(s, stream);
  if (e == nullptr || st == nullptr) return cudaErrorInvalidResourceHandle;
  // Waits for the most recent record at the time of this call, as CUDA does.
  uint64_t target = e->recorded;
  push(s, st, [e, target] {
    State& g = state();
    std::unique_lock<std::mutex> l(g.mu);
    g.cv.wait(l, [&] { return e->completed >= target; });
  });
  return cudaSuccess;
}

cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void* user) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Stream* st = resolve(s, stream);
  if (st == nullptr) return cudaErrorInvalidResourceHandle;
  push(s, st, [fn, user] { fn(user); });
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Stream* st = resolve(s, stream);
  if (st == nullptr) return cudaErrorInvalidResourceHandle;
  bool dstDev = allocationDevice(s, dst, n) >= 0, srcDev = allocationDevice(s, src, n) >= 0;
  bool ok = kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost ||
            (kind == cudaMemcpyHostToDevice && dstDev && !srcDev) ||
            (kind == cudaMemcpyDeviceToHost && srcDev && !dstDev) ||
            (kind == cudaMemcpyDeviceToDevice && srcDev && dstDev);
  if (!ok) {
    violation("cudaMemcpyAsync kind " + std::to_string(int(kind)) +
              " does not match where its pointers live");
    return cudaErrorInvalidValue;
  }
  push(s, st, [dst, src, n] { std::memcpy(dst, src, n); });
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, nullptr);
  return e == cudaSuccess ? cudaStreamSynchronize(nullptr) : e;
}

int gpsi_stream_device(void* h) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Stream* st = resolve(s, static_cast<cudaStream_t>(h));
  return st == nullptr ? -1 : st->device;
}

int gpsi_pointer_device(const void* p, size_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  int d = allocationDevice(s, p, bytes);
  return d < 0 ? -1 : d;
}

int gpsi_enqueue(void* h, void (*fn)(void*), void* arg) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Stream* st = resolve(s, static_cast<cudaStream_t>(h));
  if (st == nullptr) return -1;
  push(s, st, [fn, arg] { fn(arg); });
  return 0;
}

}  // extern "C"
