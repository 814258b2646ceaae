// A POSIX shared-memory object mapped into this process.
//
// Space is reserved with posix_fallocate so that a too-small /dev/shm fails
// here with ENOSPC instead of killing the process with SIGBUS on first touch.
#pragma once

#include <cstddef>
#include <string>

namespace gp::shm {

class Segment {
 public:
  // Creates (O_EXCL: a fresh name per run generation) and maps `bytes`.
  static Segment* create(const std::string& name, size_t bytes);
  // Maps an existing object at its full size.
  static Segment* open(const std::string& name);
  // Removes the name; mappings stay valid. Missing names are fine.
  static void unlink(const std::string& name) noexcept;

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  Segment(std::string name, void* data, size_t size)
      : name_(std::move(name)), data_(data), size_(size) {}
  std::string name_;
  void* data_;
  size_t size_;
};

// Free bytes on the file system backing POSIX shm (normally /dev/shm).
size_t shmFreeBytes();

}  // namespace gp::shm
