#include "segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../common/errors.h"

namespace gp::shm {

namespace {

std::string sysErr(const std::string& what, const std::string& name, int err) {
  return what + " '" + name + "': " + std::strerror(err);
}

void* mapFd(int fd, size_t bytes) {
  // MAP_POPULATE builds the page tables now, so the first collective does not
  // pay for hundreds of thousands of page faults.
  return mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
              fd, 0);
}

}  // namespace

size_t shmFreeBytes() {
  struct statvfs st;
  if (statvfs("/dev/shm", &st) != 0) return 0;
  return size_t(st.f_bavail) * st.f_frsize;
}

Segment* Segment::create(const std::string& name, size_t bytes) {
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    throw CollectiveError(ErrCode::Resource,
                          sysErr("shm_open(create)", name, errno));
  }
  int rc = posix_fallocate(fd, 0, off_t(bytes));
  if (rc != 0) {
    close(fd);
    shm_unlink(name.c_str());
    if (rc == ENOSPC || rc == EFBIG) {
      throw CollectiveError(
          ErrCode::Resource,
          "shared memory too small: cannot reserve " + std::to_string(bytes) +
              " bytes for '" + name + "' (/dev/shm has " +
              std::to_string(shmFreeBytes()) +
              " bytes free; enlarge it, e.g. docker run --shm-size=1g, or "
              "set a smaller GRADPOOL_SHM_CHUNK_BYTES)");
    }
    throw CollectiveError(ErrCode::Resource, sysErr("posix_fallocate", name, rc));
  }
  void* p = mapFd(fd, bytes);
  int mapErr = errno;
  close(fd);
  if (p == MAP_FAILED) {
    shm_unlink(name.c_str());
    throw CollectiveError(ErrCode::Resource, sysErr("mmap", name, mapErr));
  }
  return new Segment(name, p, bytes);
}

Segment* Segment::open(const std::string& name) {
  int fd = shm_open(name.c_str(), O_RDWR, 0600);
  if (fd < 0) {
    throw CollectiveError(ErrCode::Resource, sysErr("shm_open", name, errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    int e = errno;
    close(fd);
    throw CollectiveError(ErrCode::Resource, sysErr("fstat", name, e));
  }
  size_t bytes = size_t(st.st_size);
  void* p = mapFd(fd, bytes);
  int mapErr = errno;
  close(fd);
  if (p == MAP_FAILED) {
    throw CollectiveError(ErrCode::Resource, sysErr("mmap", name, mapErr));
  }
  return new Segment(name, p, bytes);
}

void Segment::unlink(const std::string& name) noexcept {
  shm_unlink(name.c_str());
}

Segment::~Segment() {
  if (data_ != nullptr) munmap(data_, size_);
}

}  // namespace gp::shm
