// io.cpp: default system-call implementation of IoOps and the fd / mapping wrappers.
#include "queue/io.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

namespace sluice::queue {

int IoOps::open(const char* path, int flags, mode_t mode) { return ::open(path, flags | O_CLOEXEC, mode); }
ssize_t IoOps::pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  return ::pwritev(fd, iov, iovcnt, offset);
}
int IoOps::fdatasync(int fd) { return ::fdatasync(fd); }
int IoOps::fsync(int fd) { return ::fsync(fd); }
int IoOps::fallocate(int fd, off_t offset, off_t len) {
  int rc = ::posix_fallocate(fd, offset, len);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  return 0;
}
int IoOps::ftruncate(int fd, off_t len) { return ::ftruncate(fd, len); }
int IoOps::rename(const char* from, const char* to) { return ::rename(from, to); }
int IoOps::unlink(const char* path) { return ::unlink(path); }

IoOps& IoOps::system() {
  static IoOps ops;
  return ops;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Mapping::~Mapping() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

Mapping::Mapping(Mapping&& o) noexcept : data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

Result<Mapping> Mapping::map(int fd, std::size_t len, const std::string& what) {
  Mapping m;
  if (len == 0) return m;
  void* p = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Status::fromErrno(errno, "mmap " + what);
  m.data_ = static_cast<const std::byte*>(p);
  m.size_ = len;
  return m;
}

Status writeFullyAt(IoOps& io, int fd, const struct iovec* iov, int iovcnt, off_t offset, const std::string& what) {
  std::vector<struct iovec> v(iov, iov + iovcnt);
  std::size_t idx = 0;
  while (idx < v.size()) {
    ssize_t n = io.pwritev(fd, v.data() + idx, static_cast<int>(v.size() - idx), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "write " + what);
    }
    if (n == 0) return Status(EIO, "write " + what + ": wrote nothing");
    offset += n;
    auto left = static_cast<std::size_t>(n);
    while (idx < v.size() && left >= v[idx].iov_len) {
      left -= v[idx].iov_len;
      ++idx;
    }
    if (idx < v.size()) {
      v[idx].iov_base = static_cast<char*>(v[idx].iov_base) + left;
      v[idx].iov_len -= left;
    }
  }
  return Status();
}

Status syncDir(IoOps& io, const std::string& dir) {
  int fd = io.open(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return Status::fromErrno(errno, "open directory " + dir);
  Fd guard(fd);
  if (io.fsync(fd) != 0) return Status::fromErrno(errno, "fsync directory " + dir);
  return Status();
}

std::string joinPath(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

}  // namespace sluice::queue
