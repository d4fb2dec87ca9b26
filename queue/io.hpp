// io.hpp: the thin file-operation layer under the spool. Every system call that writes, syncs, allocates or
// creates goes through IoOps so tests can inject faults (EIO on sync, ENOSPC on preallocation, EROFS on create)
// without root or special mounts. The default implementation calls POSIX directly. Also: an owning fd wrapper and
// a read-only mapping wrapper. All functions return errors as values; errno is captured immediately.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "queue/status.hpp"

namespace sluice::queue {

// System-call seam. Each method returns the call's result and leaves errno set on failure, like the call itself.
class IoOps {
 public:
  virtual ~IoOps() = default;
  // open(2).
  virtual int open(const char* path, int flags, mode_t mode);
  // pwritev(2).
  virtual ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset);
  // fdatasync(2).
  virtual int fdatasync(int fd);
  // fsync(2), used for directories and metadata.
  virtual int fsync(int fd);
  // posix_fallocate-style preallocation; returns 0 or sets errno and returns -1.
  virtual int fallocate(int fd, off_t offset, off_t len);
  // ftruncate(2).
  virtual int ftruncate(int fd, off_t len);
  // rename(2).
  virtual int rename(const char* from, const char* to);
  // unlink(2).
  virtual int unlink(const char* path);

  // The process-wide default (plain system calls).
  static IoOps& system();
};

// Owns a file descriptor; closes it on destruction.
class Fd {
 public:
  Fd() = default;
  // Takes ownership of fd (may be -1).
  explicit Fd(int fd) : fd_(fd) {}
  // Closes the descriptor, if one is held.
  ~Fd();
  // Takes over o's descriptor; o is left empty.
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  // Closes the descriptor held, then takes over o's.
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  // The raw descriptor (-1 when empty).
  int get() const { return fd_; }
  // True when a descriptor is held.
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A read-only shared mapping of a file range; unmapped on destruction.
class Mapping {
 public:
  Mapping() = default;
  // Unmaps the range, if one is mapped.
  ~Mapping();
  // Takes over o's mapping; o is left empty.
  Mapping(Mapping&& o) noexcept;
  // Unmaps the range held, then takes over o's.
  Mapping& operator=(Mapping&& o) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  // Maps len bytes of fd from offset 0 read-only (MAP_SHARED, so later pwrites are visible).
  static Result<Mapping> map(int fd, std::size_t len, const std::string& what);
  // Start of the mapping (nullptr when empty).
  const std::byte* data() const { return data_; }
  // Mapped length in bytes.
  std::size_t size() const { return size_; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Writes the whole iovec at offset, retrying short writes and EINTR; returns an error with context on failure.
Status writeFullyAt(IoOps& io, int fd, const struct iovec* iov, int iovcnt, off_t offset, const std::string& what);
// fsyncs a directory so a create, rename or unlink in it is durable.
Status syncDir(IoOps& io, const std::string& dir);
// Joins a directory and a file name.
std::string joinPath(const std::string& dir, const std::string& name);

}  // namespace sluice::queue
