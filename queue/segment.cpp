// segment.cpp: creating, appending to, syncing, sealing and reopening segment files.
#include "queue/segment.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace sluice::queue {

std::string Segment::fileName(std::uint32_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "seg-%08x.dat", id);
  return buf;
}

Result<std::shared_ptr<Segment>> Segment::create(IoOps& io, const std::string& dir, std::uint32_t id,
                                                 std::uint64_t capacity, std::int64_t nowMs) {
  std::string path = joinPath(dir, fileName(id));
  int fd = io.open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return Status::fromErrno(errno, "create segment " + path);
  std::shared_ptr<Segment> s(new Segment(io, Fd(fd), path, id));
  // On any failure the half-made file is removed: it never held an acknowledged record.
  auto fail = [&](Status st) -> Result<std::shared_ptr<Segment>> {
    io.unlink(path.c_str());
    return st;
  };
  if (io.fallocate(fd, 0, static_cast<off_t>(capacity)) != 0)
    return fail(Status::fromErrno(errno, "preallocate segment " + path));
  std::byte head[kSegmentHeaderSize];
  encodeSegmentHeader(SegmentHeader{id, nowMs, capacity}, head);
  struct iovec iov {head, sizeof head};
  if (Status st = writeFullyAt(io, fd, &iov, 1, 0, "segment " + path); !st) return fail(st);
  if (io.fdatasync(fd) != 0) return fail(Status::fromErrno(errno, "sync segment " + path));
  if (Status st = syncDir(io, dir); !st) return fail(st);
  auto m = Mapping::map(fd, capacity, "segment " + path);
  if (!m) return fail(m.status());
  s->map_ = std::move(m.value());
  s->capacity_ = capacity;
  s->end_ = kSegmentHeaderSize;
  return s;
}

Result<std::shared_ptr<Segment>> Segment::openExisting(IoOps& io, const std::string& dir, std::uint32_t id) {
  std::string path = joinPath(dir, fileName(id));
  int fd = io.open(path.c_str(), O_RDWR, 0);
  if (fd < 0) return Status::fromErrno(errno, "open segment " + path);
  std::shared_ptr<Segment> s(new Segment(io, Fd(fd), path, id));
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::fromErrno(errno, "stat segment " + path);
  auto m = Mapping::map(fd, static_cast<std::size_t>(st.st_size), "segment " + path);
  if (!m) return m.status();
  s->map_ = std::move(m.value());
  s->capacity_ = static_cast<std::uint64_t>(st.st_size);
  s->end_ = s->capacity_;
  s->sealed_ = true;
  return s;
}

Status Segment::append(const struct iovec* iov, int iovcnt, std::size_t bytes, std::uint32_t& offsetOut) {
  if (sealed_ || bytes > room()) return Status(kErrInvalid, "append to full or sealed segment " + path_);
  Status st = writeFullyAt(io_, fd_.get(), iov, iovcnt, static_cast<off_t>(end_), "segment " + path_);
  if (!st) return st;
  offsetOut = static_cast<std::uint32_t>(end_);
  end_ += bytes;
  return st;
}

Status Segment::sync() {
  std::lock_guard<std::mutex> lk(fdMu_);
  if (!syncFailure_) return syncFailure_;
  if (!fd_.valid()) return Status();
  if (io_.fdatasync(fd_.get()) != 0) syncFailure_ = Status::fromErrno(errno, "sync segment " + path_);
  return syncFailure_;
}

void Segment::releaseFd() {
  std::lock_guard<std::mutex> lk(fdMu_);
  if (sealed_) fd_ = Fd();
}

Status Segment::seal() {
  sealed_ = true;
  if (io_.ftruncate(fd_.get(), static_cast<off_t>(end_)) != 0)
    return Status::fromErrno(errno, "trim sealed segment " + path_);
  return Status();
}

Status Segment::truncateAndSeal(std::uint64_t end) {
  sealed_ = true;
  if (end > end_) return Status(kErrInvalid, "truncate past end of " + path_);
  end_ = end;
  if (io_.ftruncate(fd_.get(), static_cast<off_t>(end)) != 0)
    return Status::fromErrno(errno, "truncate torn tail of " + path_);
  if (io_.fsync(fd_.get()) != 0) return Status::fromErrno(errno, "sync truncated " + path_);
  return Status();
}

std::span<const std::byte> Segment::bytes() const {
  std::size_t n = static_cast<std::size_t>(end_ < map_.size() ? end_ : map_.size());
  return {map_.data(), n};
}

}  // namespace sluice::queue
