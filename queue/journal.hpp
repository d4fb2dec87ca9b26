// journal.hpp: the per-recipient state journal. An append-only file of small checksummed records (delivered,
// bounced, deferred until T with attempt count and last reply), synced by group commit. Each journal file starts
// with a snapshot of every message that has state (a checkpoint), closed by a marker record; recovery replays the
// newest file whose marker is present, so start-up replay is bounded by one snapshot plus the outcomes since.
//
// Not thread-safe: the spool serialises appends under its lock; sync() may run on the committer thread at the same
// time as appends (fdatasync and pwrite on one fd are safe together).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "queue/io.hpp"
#include "queue/record.hpp"
#include "queue/status.hpp"

namespace sluice::queue {

// A recipient's outcome. Final is used only in snapshots (final, kind no longer kept in memory).
enum class Outcome : std::uint8_t { Delivered = 1, Bounced = 2, Deferred = 3, Final = 4 };

enum class JournalType : std::uint8_t {
  RecipientOutcome = 1,  // one recipient's outcome (rcpt = index), or a message-level deferral (rcpt = kAllRcpts)
  MessageFinal = 2,      // snapshot: every recipient of the message is final
  CheckpointEnd = 3,     // snapshot complete; id carries the next message id to assign
};

inline constexpr std::uint16_t kAllRcpts = 0xFFFF;
inline constexpr std::size_t kMaxReplyBytes = 512;  // longer replies are cut in the journal
inline constexpr std::size_t kJournalHeaderSize = 32;
inline constexpr std::size_t kJournalRecordHeader = 34;

// One journal record in memory (reply points into the caller's or the file's bytes).
struct JournalRecord {
  JournalType type = JournalType::RecipientOutcome;
  Outcome outcome = Outcome::Deferred;
  std::uint16_t rcpt = 0;
  std::uint16_t attempts = 0;
  MessageId id = 0;
  std::int64_t nextAttemptMs = 0;
  std::string_view reply;
};

// Appends the encoded, padded record to out.
void encodeJournalRecord(const JournalRecord& r, std::string& out);
// Decodes one record at the start of bytes; returns the padded size consumed, 0 at a clean end, -1 if bad.
long decodeJournalRecord(std::string_view bytes, JournalRecord& out);

// What replaying one journal file found.
struct JournalReplay {
  std::uint64_t seq = 0;
  std::uint64_t nextIdAtCreate = 0;
  std::uint64_t nextIdAtCheckpoint = 0;
  bool complete = false;     // the checkpoint marker was found
  std::size_t records = 0;   // good records, marker included
  std::size_t corrupt = 0;   // bad records skipped (a good record followed)
  bool tornTail = false;     // the file ends in a bad record
  MessageId maxId = 0;       // largest message id named by any record
  std::uint64_t validEnd = kJournalHeaderSize;  // offset just past the last good record
};

// Reads a journal file and calls fn for each good record after the header, in order.
Result<JournalReplay> replayJournal(const std::string& path, const std::function<void(const JournalRecord&)>& fn);

// An open journal file being appended to.
class Journal {
 public:
  // Creates journal file seq in dir (header written and synced, directory synced).
  static Result<std::shared_ptr<Journal>> create(IoOps& io, const std::string& dir, std::uint64_t seq,
                                                 std::uint64_t nextId);
  // File name for a sequence number.
  static std::string fileName(std::uint64_t seq);

  // Writes already-encoded records at the end of the file (preallocating in chunks).
  Status append(std::string_view encoded);
  // Makes every append so far durable. Once a sync has failed, every later call returns that failure without
  // syncing again (a retried fdatasync can succeed after the kernel dropped the dirty pages).
  Status sync();
  // Bytes of records written.
  std::uint64_t size() const { return end_; }
  // The file's sequence number.
  std::uint64_t seq() const { return seq_; }
  // Full path of the file.
  const std::string& path() const { return path_; }

 private:
  Journal(IoOps& io, Fd fd, std::string path, std::uint64_t seq) : io_(io), fd_(std::move(fd)), path_(std::move(path)), seq_(seq) {}
  IoOps& io_;
  Fd fd_;
  std::mutex syncMu_;   // sync() runs on the committer thread and under the spool lock (maintenance)
  Status syncFailure_;  // the first failed sync, returned by every later one
  std::string path_;
  std::uint64_t seq_;
  std::uint64_t end_ = kJournalHeaderSize;
  std::uint64_t allocated_ = 0;
};

}  // namespace sluice::queue
