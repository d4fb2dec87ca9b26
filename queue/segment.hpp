// segment.hpp: one segment file. Created preallocated to a fixed capacity, appended to with pwritev under the
// spool's lock, mapped read-only (MAP_SHARED) from creation so readers see appended records without remapping, and
// sealed (trimmed to its used length) when full. A sealed segment is never written again.
//
// Lifetime: the spool holds each segment through a shared_ptr; a MessageView holds another, so a segment that
// compaction or reclaim drops stays mapped until the last view is gone (the file is already unlinked by then).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "queue/io.hpp"
#include "queue/record.hpp"
#include "queue/status.hpp"

namespace sluice::queue {

class Segment {
 public:
  // Creates segment id in dir: O_EXCL create, preallocate capacity, write and sync the header, sync the directory.
  static Result<std::shared_ptr<Segment>> create(IoOps& io, const std::string& dir, std::uint32_t id,
                                                 std::uint64_t capacity, std::int64_t nowMs);
  // Opens an existing segment file for recovery and maps its whole current length. Does not validate records.
  static Result<std::shared_ptr<Segment>> openExisting(IoOps& io, const std::string& dir, std::uint32_t id);
  // File name for a segment id.
  static std::string fileName(std::uint32_t id);

  // Writes iov at the current end and advances it; caller holds the spool lock and checked room().
  Status append(const struct iovec* iov, int iovcnt, std::size_t bytes, std::uint32_t& offsetOut);
  // Bytes still free for records.
  std::uint64_t room() const { return capacity_ > end_ ? capacity_ - end_ : 0; }
  // Makes all appended bytes durable (fdatasync). After releaseFd() there is nothing left to sync: returns ok.
  // Once a sync has failed, every later call returns that failure without syncing again: a retried fdatasync can
  // succeed after the kernel dropped the dirty pages, and must not be taken as proof of durability.
  Status sync();
  // Closes the file descriptor of a sealed segment whose every write is already synced; the mapping stays. Keeps a
  // large spool from needing one descriptor per segment. Caller holds the spool lock.
  void releaseFd();
  // Marks the segment immutable and trims the file to its used length.
  Status seal();
  // Recovery: trims the file to end (dropping a torn tail), syncs it and marks the segment sealed.
  Status truncateAndSeal(std::uint64_t end);

  // The mapped bytes [0, used length).
  std::span<const std::byte> bytes() const;
  // The segment id.
  std::uint32_t id() const { return id_; }
  // Used length in bytes (header included).
  std::uint64_t used() const { return end_; }
  // True once sealed.
  bool sealed() const { return sealed_; }
  // Full path.
  const std::string& path() const { return path_; }

  // Accounting kept by the spool under its lock.
  std::uint64_t liveMessages = 0;   // indexed messages with pending recipients
  std::uint64_t liveBytes = 0;      // their padded record bytes
  std::uint64_t unacked = 0;        // appended, durability not yet reported

 private:
  Segment(IoOps& io, Fd fd, std::string path, std::uint32_t id) : io_(io), fd_(std::move(fd)), path_(std::move(path)), id_(id) {}
  IoOps& io_;
  std::mutex fdMu_;  // guards fd_ and syncFailure_ between the committer's sync(), maintenance and releaseFd()
  Fd fd_;
  Status syncFailure_;  // the first failed sync, returned by every later one
  Mapping map_;
  std::string path_;
  std::uint32_t id_;
  std::uint64_t capacity_ = 0;
  std::uint64_t end_ = 0;
  bool sealed_ = false;
};

}  // namespace sluice::queue
