#include "group.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <thread>

namespace gpsi {

namespace {
constexpr uint64_t kGroupMagic = 0x67707369636f6d6dULL;
constexpr size_t kPage = 4096;

size_t stagingOffset() { return (sizeof(GroupHeader) + kPage - 1) / kPage * kPage; }
size_t segmentBytes(int nranks) { return stagingOffset() + size_t(nranks) * kChunkBytes; }
}  // namespace

bool waitUntil(const std::function<bool()>& done, const std::function<bool()>& stop) {
  for (int i = 0;; ++i) {
    if (done()) return true;
    if (stop()) return false;
    if (i > 200) std::this_thread::sleep_for(std::chrono::microseconds(i > 20000 ? 1000 : 50));
  }
}

bool Group::attach(const std::string& name, int rank, int nranks,
                   const std::function<bool()>& stop, std::string* err) {
  name_ = name;
  nranks_ = nranks;
  const size_t bytes = segmentBytes(nranks);
  int fd = -1;
  if (rank == 0) {
    fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, off_t(bytes)) != 0) {
      *err = "shm_open/ftruncate " + name + ": " + std::strerror(errno);
      if (fd >= 0) close(fd);
      return false;
    }
  } else {
    // Like NCCL's bootstrap, a rank waits for the root without a deadline.
    bool found = waitUntil(
        [&] {
          fd = shm_open(name.c_str(), O_RDWR, 0600);
          if (fd < 0) return false;
          struct stat st {};
          if (fstat(fd, &st) == 0 && size_t(st.st_size) >= bytes) return true;
          close(fd);
          fd = -1;
          return false;
        },
        stop);
    if (!found) return false;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    *err = "mmap " + name + ": " + std::strerror(errno);
    return false;
  }
  base_ = static_cast<char*>(p);
  hdr_ = static_cast<GroupHeader*>(p);
  if (rank == 0) {
    new (hdr_) GroupHeader();
    hdr_->nranks = nranks;
    hdr_->magic.store(kGroupMagic, std::memory_order_release);
  } else if (!waitUntil([&] { return hdr_->magic.load(std::memory_order_acquire) == kGroupMagic; },
                        stop)) {
    return false;
  }
  if (hdr_->nranks != nranks) {
    *err = "rank " + std::to_string(rank) + " has nranks " + std::to_string(nranks) +
           ", rank 0 has " + std::to_string(hdr_->nranks);
    return false;
  }
  return true;
}

void Group::unlinkName() {
  if (!name_.empty()) shm_unlink(name_.c_str());
}

bool Group::waitJoined(const std::function<bool()>& stop) {
  return waitUntil(
      [&] {
        for (int q = 0; q < nranks_; ++q) {
          if (hdr_->slots[q].joined.load(std::memory_order_acquire) == 0) return false;
        }
        return true;
      },
      stop);
}

bool Group::barrier(const std::function<bool()>& stop) {
  uint32_t gen = hdr_->barrierGen.load(std::memory_order_acquire);
  if (hdr_->barrierCount.fetch_add(1, std::memory_order_acq_rel) + 1 == uint32_t(nranks_)) {
    hdr_->barrierCount.store(0, std::memory_order_relaxed);
    hdr_->barrierGen.fetch_add(1, std::memory_order_acq_rel);
    return true;
  }
  return waitUntil([&] { return hdr_->barrierGen.load(std::memory_order_acquire) != gen; }, stop);
}

float* Group::staging(int rank) const {
  return reinterpret_cast<float*>(base_ + stagingOffset() + size_t(rank) * kChunkBytes);
}

}  // namespace gpsi
