// journal.cpp: journal record encoding, file creation, appending with chunked preallocation, and replay.
#include "queue/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "queue/bytes.hpp"
#include "queue/crc32c.hpp"

namespace sluice::queue {
namespace {

constexpr std::uint32_t kJournalRecordMagic = 0x524A5153u;  // "SQJR"
constexpr char kJournalMagic[8] = {'S', 'L', 'Q', 'J', 'R', 'N', '0', '1'};
constexpr std::uint64_t kJournalChunk = 1u << 20;  // preallocation step

}  // namespace

void encodeJournalRecord(const JournalRecord& r, std::string& out) {
  std::string_view reply = r.reply.substr(0, kMaxReplyBytes);
  std::size_t len = kJournalRecordHeader + reply.size();
  std::size_t padded = paddedLength(len);
  std::size_t base = out.size();
  out.resize(base + padded, '\0');
  char* p = out.data() + base;
  storeLe<std::uint32_t>(p, kJournalRecordMagic);
  storeLe<std::uint16_t>(p + 8, static_cast<std::uint16_t>(len));
  p[10] = static_cast<char>(r.type);
  p[11] = static_cast<char>(r.outcome);
  storeLe<std::uint16_t>(p + 12, r.rcpt);
  storeLe<std::uint16_t>(p + 14, r.attempts);
  storeLe<std::uint64_t>(p + 16, r.id);
  storeLe<std::int64_t>(p + 24, r.nextAttemptMs);
  storeLe<std::uint16_t>(p + 32, static_cast<std::uint16_t>(reply.size()));
  if (!reply.empty()) std::memcpy(p + kJournalRecordHeader, reply.data(), reply.size());
  storeLe<std::uint32_t>(p + 4, crc32c(0, p + 8, len - 8));
}

long decodeJournalRecord(std::string_view b, JournalRecord& out) {
  if (b.size() < 4) return 0;
  std::uint32_t magic = loadLe<std::uint32_t>(b.data());
  if (magic == 0) return 0;
  if (magic != kJournalRecordMagic || b.size() < kJournalRecordHeader) return -1;
  std::uint16_t len = loadLe<std::uint16_t>(b.data() + 8);
  if (len < kJournalRecordHeader || len > b.size()) return -1;
  if (loadLe<std::uint32_t>(b.data() + 4) != crc32c(0, b.data() + 8, len - 8u)) return -1;
  std::uint16_t replyLen = loadLe<std::uint16_t>(b.data() + 32);
  if (kJournalRecordHeader + replyLen != len) return -1;
  auto type = static_cast<std::uint8_t>(b[10]);
  auto outcome = static_cast<std::uint8_t>(b[11]);
  if (type < 1 || type > 3 || outcome < 1 || outcome > 4) return -1;
  out.type = static_cast<JournalType>(type);
  out.outcome = static_cast<Outcome>(outcome);
  out.rcpt = loadLe<std::uint16_t>(b.data() + 12);
  out.attempts = loadLe<std::uint16_t>(b.data() + 14);
  out.id = loadLe<std::uint64_t>(b.data() + 16);
  out.nextAttemptMs = loadLe<std::int64_t>(b.data() + 24);
  out.reply = b.substr(kJournalRecordHeader, replyLen);
  std::size_t padded = paddedLength(len);
  return static_cast<long>(padded <= b.size() ? padded : b.size());
}

Result<JournalReplay> replayJournal(const std::string& path, const std::function<void(const JournalRecord&)>& fn) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::fromErrno(errno, "open journal " + path);
  Fd guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::fromErrno(errno, "stat journal " + path);
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::fromErrno(errno, "read journal " + path);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  JournalReplay r;
  if (data.size() < kJournalHeaderSize || std::memcmp(data.data(), kJournalMagic, 8) != 0 ||
      loadLe<std::uint32_t>(data.data() + 8) != crc32c(0, data.data() + 12, kJournalHeaderSize - 12))
    return Status(kErrCorrupt, "journal " + path + ": bad header");
  r.seq = loadLe<std::uint64_t>(data.data() + 16);
  r.nextIdAtCreate = loadLe<std::uint64_t>(data.data() + 24);
  std::string_view all(data);
  std::size_t off = kJournalHeaderSize;
  JournalRecord rec;
  while (off < all.size()) {
    long n = decodeJournalRecord(all.substr(off), rec);
    if (n == 0) break;
    if (n > 0) {
      ++r.records;
      if (rec.type == JournalType::CheckpointEnd) {
        r.complete = true;
        r.nextIdAtCheckpoint = rec.id;
      } else if (rec.id > r.maxId) {
        r.maxId = rec.id;
      }
      fn(rec);
      off += static_cast<std::size_t>(n);
      r.validEnd = off;
      continue;
    }
    // Bad record: skip it if a good record follows, else it is the torn tail.
    std::size_t next = 0;
    for (std::size_t q = off + kRecordAlign; q + kJournalRecordHeader <= all.size(); q += kRecordAlign)
      if (loadLe<std::uint32_t>(all.data() + q) == kJournalRecordMagic && decodeJournalRecord(all.substr(q), rec) > 0) {
        next = q;
        break;
      }
    if (next == 0) {
      r.tornTail = true;
      break;
    }
    ++r.corrupt;
    off = next;
  }
  return r;
}

std::string Journal::fileName(std::uint64_t seq) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "journal-%016llx.log", static_cast<unsigned long long>(seq));
  return buf;
}

Result<std::shared_ptr<Journal>> Journal::create(IoOps& io, const std::string& dir, std::uint64_t seq,
                                                 std::uint64_t nextId) {
  std::string path = joinPath(dir, fileName(seq));
  int fd = io.open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Status::fromErrno(errno, "create journal " + path);
  std::shared_ptr<Journal> j(new Journal(io, Fd(fd), path, seq));
  char head[kJournalHeaderSize] = {};
  std::memcpy(head, kJournalMagic, 8);
  storeLe<std::uint64_t>(head + 16, seq);
  storeLe<std::uint64_t>(head + 24, nextId);
  storeLe<std::uint32_t>(head + 8, crc32c(0, head + 12, kJournalHeaderSize - 12));
  struct iovec iov {head, sizeof head};
  Status s = writeFullyAt(io, fd, &iov, 1, 0, "journal " + path);
  if (s && io.fdatasync(fd) != 0) s = Status::fromErrno(errno, "sync journal " + path);
  if (s) s = syncDir(io, dir);
  if (!s) {
    io.unlink(path.c_str());
    return s;
  }
  return j;
}

Status Journal::append(std::string_view encoded) {
  if (end_ + encoded.size() > allocated_) {
    // Preallocate a chunk ahead so most syncs need no metadata update; on a nearly full disk settle for exactly
    // what this write needs (a checkpoint at start-up must still fit when a full disk stopped the last run).
    std::uint64_t want = ((end_ + encoded.size()) / kJournalChunk + 1) * kJournalChunk;
    if (io_.fallocate(fd_.get(), static_cast<off_t>(allocated_), static_cast<off_t>(want - allocated_)) != 0) {
      want = end_ + encoded.size();
      if (errno != ENOSPC ||
          io_.fallocate(fd_.get(), static_cast<off_t>(allocated_), static_cast<off_t>(want - allocated_)) != 0)
        return Status::fromErrno(errno, "preallocate journal " + path_);
    }
    allocated_ = want;
  }
  struct iovec iov {const_cast<char*>(encoded.data()), encoded.size()};
  Status s = writeFullyAt(io_, fd_.get(), &iov, 1, static_cast<off_t>(end_), "journal " + path_);
  if (s) end_ += encoded.size();
  return s;
}

Status Journal::sync() {
  std::lock_guard<std::mutex> lk(syncMu_);
  if (!syncFailure_) return syncFailure_;
  if (io_.fdatasync(fd_.get()) != 0) syncFailure_ = Status::fromErrno(errno, "sync journal " + path_);
  return syncFailure_;
}

}  // namespace sluice::queue
