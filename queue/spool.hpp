// spool.hpp: the durable spool, the queue's public interface (documented in queue/README.md).
//
// What it is: append-only segment files holding messages (envelope + body), a per-recipient state journal, group
// commit, crash recovery, reclaim/compaction, and a compact in-memory index.
// Ownership: the Spool owns its directory (locked with flock on <dir>/LOCK) and every file in it.
// Threads: every method is thread-safe. Durable callbacks run on the spool's committer thread, without any spool
// lock held; they should be short (post to your own loop). They may call append, recordOutcome, lookup, takeDue
// and stats, but never flush() or the destructor (both wait for the committer thread: a deadlock).
// Errors: every failure is a Status value with context; nothing on these paths throws.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "queue/group_commit.hpp"
#include "queue/index.hpp"
#include "queue/io.hpp"
#include "queue/journal.hpp"
#include "queue/record.hpp"
#include "queue/segment.hpp"
#include "queue/status.hpp"

namespace sluice::queue {

struct SpoolOptions {
  std::string dir;                                   // spool directory (created if missing)
  std::uint64_t segmentBytes = 64ull << 20;          // preallocated size of each segment (<= 4 GiB)
  std::chrono::microseconds maxCommitDelay{0};       // longest a write waits for company before its commit starts;
                                                     // 0: commit when the committer is free (see README)
  std::size_t maxCommitBatch = 1024;                 // a commit starts at once when this many writes wait
  std::uint64_t checkpointJournalBytes = 16ull << 20;  // maintain() checkpoints once the journal is this big
  double compactBelowLiveRatio = 0.25;               // compact a sealed segment whose live bytes fall below this
  IoOps* io = nullptr;                               // fault-injection seam; nullptr = plain system calls
  std::function<void(std::string_view)> log;         // recovery and fault messages; nullptr = stderr
  std::function<std::int64_t()> clockMs;             // unix ms; nullptr = system clock (tests pass a fake)
};

enum class Health {
  Ok,        // accepting writes
  DiskFull,  // the last segment or journal preallocation failed (ENOSPC): writes refused until space returns
  Failed,    // a write or sync failed (EIO, ...): read-only until restart; nothing more is acknowledged
};

struct HealthReport {
  Health state = Health::Ok;
  std::string reason;  // the error that caused a non-Ok state
};

struct SpoolStats {
  std::uint64_t liveMessages = 0;       // messages with pending recipients
  std::uint64_t pendingRecipients = 0;  // recipients not yet final
  std::uint64_t indexedEntries = 0;     // live + finished-but-not-yet-reclaimed
  std::uint64_t segments = 0;
  std::uint64_t segmentBytes = 0;       // bytes used in segment files
  std::uint64_t liveBytes = 0;          // padded bytes of live records
  std::uint64_t journalBytes = 0;
  std::uint64_t indexMemoryBytes = 0;   // table + due heap + overflow maps
  std::uint64_t appends = 0;
  std::uint64_t outcomes = 0;
  std::uint64_t commitBatches = 0;
  std::uint64_t syncs = 0;
  std::uint64_t segmentsReclaimed = 0;
  std::uint64_t segmentsCompacted = 0;
  std::uint64_t recordsCopied = 0;      // by compaction
  std::uint64_t checkpoints = 0;
  std::uint64_t recoveredMessages = 0;  // at open
  std::uint64_t corruptRecordsSkipped = 0;  // at open (segments and journal)
  std::uint64_t tornTailsTruncated = 0;     // at open (segments and journal)
};

// A message read through the mapping. The views stay valid while this object (which pins the segment mapping)
// lives, even if compaction moves the message or reclaim deletes the segment meanwhile.
class MessageView {
 public:
  // The message id.
  MessageId id() const { return rec_.id; }
  // Arrival time (unix ms) as given to append().
  std::int64_t arrivalMs() const { return rec_.arrivalMs; }
  // The engine's flags byte as given to append().
  std::uint8_t flags() const { return rec_.flags; }
  // The reverse-path (may be empty), a view into the mapping.
  std::string_view reversePath() const { return reversePath_; }
  // The opaque MAIL parameters string, a view into the mapping.
  std::string_view mailParams() const { return mailParams_; }
  // Number of recipients.
  std::size_t recipientCount() const { return rec_.rcptCount; }
  // Recipient i (address and RCPT parameters), read from the mapping; i < recipientCount().
  RecipientView recipient(std::size_t i) const;
  // True when recipient i had no final outcome at lookup time.
  bool recipientPending(std::size_t i) const;
  // The body bytes, a slice of the read-only mapping: hand it to writev/send directly.
  std::string_view body() const { return rec_.body; }
  // The whole record as stored (header + envelope + body).
  std::string_view rawRecord() const;
  // Delivery attempts recorded so far (the largest attempt count journaled).
  std::uint16_t attempts() const { return attempts_; }
  // When the message is next due (unix ms); the arrival time until a deferral is recorded.
  std::int64_t nextAttemptMs() const { return nextAttemptMs_; }

 private:
  friend class Spool;
  std::shared_ptr<const Segment> pin_;
  RecordView rec_;
  std::string_view reversePath_, mailParams_;
  std::vector<bool> pending_;
  std::uint16_t attempts_ = 0;
  std::int64_t nextAttemptMs_ = 0;
};

class Spool {
 public:
  // Opens (or creates) the spool: locks it, recovers segments and journal, writes a checkpoint, starts the
  // committer. Fails with a clear error if the directory is locked, unreadable or read-only.
  static Result<std::unique_ptr<Spool>> open(SpoolOptions opts);
  // Makes everything pending durable (callbacks run), stops the committer, releases the lock.
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Writes a message. On success returns its id and later calls onDurable(id, ok) after the covering sync, or
  // onDurable(id, error) if that sync failed. On an immediate error the callback is never called.
  Result<MessageId> append(const MessageIn& msg, DurableCallback onDurable);
  // Records one recipient's outcome in the journal. Deferred sets the message's next attempt time and attempt
  // count; Delivered/Bounced make the recipient final. onDurable (optional) runs after the journal sync.
  Status recordOutcome(MessageId id, std::uint16_t rcpt, Outcome outcome, std::int64_t nextAttemptMs,
                       std::uint16_t attempts, std::string_view lastReply, DurableCallback onDurable = {});
  // Reads a live, durable message through the mapping.
  Result<MessageView> lookup(MessageId id) const;
  // Appends up to max ids of messages due at nowMs (next attempt <= now, not in flight) to out and marks them in
  // flight until an outcome is recorded or release() is called. Returns how many were added.
  std::size_t takeDue(std::int64_t nowMs, std::size_t max, std::vector<MessageId>& out);
  // Returns an in-flight message to the schedule at nextAttemptMs without journaling anything.
  Status release(MessageId id, std::int64_t nextAttemptMs);
  // Blocks until everything written before the call is durable (or failed); returns the sync status. Starts the
  // commit at once rather than waiting out maxCommitDelay. Never call it from a durable callback.
  Status flush();
  // Housekeeping the owner runs periodically: deletes segments whose messages are all final, compacts sparse
  // segments, and checkpoints the journal when it has grown.
  Status maintain();
  // A snapshot of the counters.
  SpoolStats stats() const;
  // Current health and the error that caused it.
  HealthReport health() const;

 private:
  explicit Spool(SpoolOptions opts);
  // Recovery steps (recovery.cpp).
  Status recover();
  Status recoverSegments(std::vector<std::uint32_t> ids);
  Status recoverJournal(std::vector<std::uint64_t> seqs);
  // Applies one journal record to the index (no journaling).
  void applyJournal(const JournalRecord& r);
  // Writes a new journal file holding a snapshot of the index, then drops older journals. Caller holds mu_.
  Status checkpointLocked();
  // Makes room for a record of padded size, rolling to a new segment if needed. Caller holds mu_.
  Status ensureRoomLocked(std::size_t padded);
  // Marks one recipient final in an entry; returns true when the message became finished. Caller holds mu_.
  bool markFinalLocked(IndexEntry& e, std::uint16_t rcpt);
  // True if recipient rcpt of e is final. Caller holds mu_.
  bool isFinalLocked(const IndexEntry& e, std::uint16_t rcpt) const;
  // Moves an entry to finished state, updating segment accounting. Caller holds mu_.
  void finishLocked(IndexEntry& e);
  // Handles one committed batch (committer thread).
  void onBatch(std::vector<CommitItem>& batch, const Status& st);
  // Records a fault: sets health and logs. Caller holds mu_.
  void failLocked(Health h, const Status& st);
  // Records a failed write, create or preallocation: DiskFull for ENOSPC/EDQUOT, else Failed. Caller holds mu_.
  void failWriteLocked(const Status& st);
  // Deletes one segment file and forgets its finished entries. Caller holds mu_.
  Status dropSegmentLocked(const std::shared_ptr<Segment>& seg);
  // Copies a sparse segment's live records forward, then drops it. Caller holds mu_.
  Status compactLocked(const std::shared_ptr<Segment>& seg);
  // Emits a log line.
  void log(std::string_view line) const;
  // Current unix ms.
  std::int64_t nowMs() const;

  SpoolOptions opts_;
  IoOps& io_;
  Fd lock_;
  mutable std::mutex mu_;
  MessageTable table_;
  DueQueue due_;
  std::unordered_map<MessageId, std::vector<bool>> overflow_;  // finality of recipients >= 32
  // Spare copies (segment, offset) of indexed messages, left in later segments by an interrupted compaction and
  // found at open. A finished entry whose own segment is deleted moves to its spare copy instead of being
  // forgotten, so checkpoints keep naming it finished and the copy cannot bring it back at the next open.
  std::unordered_multimap<MessageId, std::pair<std::uint32_t, std::uint32_t>> spareCopies_;
  std::map<std::uint32_t, std::shared_ptr<Segment>> segments_;
  std::shared_ptr<Segment> active_;
  std::shared_ptr<Journal> journal_;
  std::uint32_t nextSegmentId_ = 1;
  MessageId nextId_ = 1;
  HealthReport health_;
  SpoolStats counters_;
  std::string scratch_;  // encode buffer, guarded by mu_
  bool closed_ = false;
  bool recovering_ = false;
  std::uint64_t lastJournalSeq_ = 0;
  std::vector<std::uint64_t> oldJournals_;  // journal seqs to delete after the next checkpoint
  std::unique_ptr<GroupCommitter> committer_;
};

}  // namespace sluice::queue
