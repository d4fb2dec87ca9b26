// maintenance.cpp: keeping disk use tracking live data. Reclaim deletes a segment whose messages are all final;
// compaction copies the few survivors of a sparse segment forward into the active segment, syncs them, then
// deletes the old file; checkpoints rewrite the journal as a snapshot so replay at start-up stays short; the due
// heap is rebuilt when stale items (left by deferrals) outnumber live messages.
// Order of durability: an outcome is synced before a segment it finishes is deleted; a copy is synced before its
// original is deleted; a new journal is synced (with its directory) before older journals are deleted.
#include <algorithm>

#include "queue/spool.hpp"

namespace sluice::queue {

Status Spool::checkpointLocked() {
  std::uint64_t seq = lastJournalSeq_ + 1;
  auto created = Journal::create(io_, opts_.dir, seq, nextId_);
  if (!created) return created.status();
  std::shared_ptr<Journal> j = created.value();
  std::string buf;
  Status st;
  auto flushBuf = [&]() {
    if (st && !buf.empty()) st = j->append(buf);
    buf.clear();
  };
  table_.forEach([&](IndexEntry& e) {
    if (!st) return;
    JournalRecord r;
    r.id = e.id;
    r.attempts = e.attempts;
    if (e.flags & kEntryFinished) {
      r.type = JournalType::MessageFinal;
      r.outcome = Outcome::Final;
      encodeJournalRecord(r, buf);
    } else {
      r.type = JournalType::RecipientOutcome;
      for (std::uint16_t i = 0; i < e.rcptCount; ++i) {
        if (!isFinalLocked(e, i)) continue;
        r.outcome = Outcome::Final;
        r.rcpt = i;
        encodeJournalRecord(r, buf);
      }
      if (e.attempts > 0 || (e.flags & kEntryDeferred)) {
        r.outcome = Outcome::Deferred;
        r.rcpt = kAllRcpts;
        r.nextAttemptMs = e.nextAttemptMs;
        encodeJournalRecord(r, buf);
      }
    }
    if (buf.size() >= (1u << 20)) flushBuf();
  });
  JournalRecord end;
  end.type = JournalType::CheckpointEnd;
  end.outcome = Outcome::Final;
  end.id = nextId_;
  encodeJournalRecord(end, buf);
  flushBuf();
  if (st) st = j->sync();
  if (!st) {
    io_.unlink(j->path().c_str());
    return st;
  }
  lastJournalSeq_ = seq;
  if (journal_) oldJournals_.push_back(journal_->seq());
  journal_ = j;
  for (std::uint64_t old : oldJournals_) io_.unlink(joinPath(opts_.dir, Journal::fileName(old)).c_str());
  oldJournals_.clear();
  if (Status ds = syncDir(io_, opts_.dir); !ds) log(ds.message());
  ++counters_.checkpoints;
  return Status();
}

Status Spool::dropSegmentLocked(const std::shared_ptr<Segment>& seg) {
  // A file that stays must stay known: its finished entries are what keeps checkpoints saying they are finished.
  if (io_.unlink(seg->path().c_str()) != 0) return Status::fromErrno(errno, "delete segment " + seg->path());
  // Forget the finished entries that live in this segment, and the spare copies it holds.
  std::vector<MessageId> gone;
  scanSegment(
      seg->bytes(),
      [&](std::size_t off, const RecordView& v) {
        const std::pair<std::uint32_t, std::uint32_t> at{seg->id(), static_cast<std::uint32_t>(off)};
        auto [first, last] = spareCopies_.equal_range(v.id);
        for (auto it = first; it != last; ++it)
          if (it->second == at) {
            spareCopies_.erase(it);
            break;
          }
        IndexEntry* e = table_.find(v.id);
        if (e && e->segment == seg->id() && e->offset == off && (e->flags & kEntryFinished)) gone.push_back(v.id);
      },
      [](std::size_t) {});
  for (MessageId id : gone) {
    // Forgotten while a spare copy remains, the message would come back as new at the next open once no journal
    // names it: the finished entry moves to the copy instead.
    auto spare = spareCopies_.find(id);
    if (spare == spareCopies_.end()) {
      table_.erase(id);
      continue;
    }
    IndexEntry* e = table_.find(id);
    e->segment = spare->second.first;
    e->offset = spare->second.second;
    spareCopies_.erase(spare);
  }
  segments_.erase(seg->id());
  if (active_ == seg) active_.reset();
  ++counters_.segmentsReclaimed;
  return syncDir(io_, opts_.dir);
}

Status Spool::compactLocked(const std::shared_ptr<Segment>& seg) {
  std::vector<std::shared_ptr<Segment>> touched;
  Status st;
  std::uint64_t copied = 0;
  static const char zeros[kRecordAlign] = {};
  scanSegment(
      seg->bytes(),
      [&](std::size_t off, const RecordView& v) {
        if (!st) return;
        IndexEntry* e = table_.find(v.id);
        if (!e || e->segment != seg->id() || e->offset != off || (e->flags & kEntryFinished)) return;
        std::size_t padded = paddedLength(v.length);
        if (st = ensureRoomLocked(padded); !st) return;
        const char* src = v.envelope.data() - kRecordHeaderSize;
        struct iovec iov[2] = {{const_cast<char*>(src), v.length}, {const_cast<char*>(zeros), padded - v.length}};
        std::uint32_t newOff = 0;
        if (st = active_->append(iov, 2, padded, newOff); !st) {
          failLocked(Health::Failed, st);
          return;
        }
        e = table_.find(v.id);
        e->segment = active_->id();
        e->offset = newOff;
        active_->liveMessages += 1;
        active_->liveBytes += padded;
        seg->liveMessages -= 1;
        seg->liveBytes -= padded;
        if (std::find(touched.begin(), touched.end(), active_) == touched.end()) touched.push_back(active_);
        ++copied;
      },
      [](std::size_t) {});
  // Copies must be durable before the original goes (and even if copying stopped half way).
  for (const auto& t : touched) {
    if (Status ss = t->sync(); !ss) {
      failLocked(Health::Failed, ss);
      return ss;
    }
  }
  counters_.recordsCopied += copied;
  if (!st) return st;
  ++counters_.segmentsCompacted;
  return dropSegmentLocked(seg);
}

Status Spool::maintain() {
  std::lock_guard<std::mutex> lk(mu_);
  if (closed_) return Status(kErrClosed, "maintain: spool is closed");
  if (health_.state == Health::Failed) return Status(kErrUnhealthy, "maintain: spool failed: " + health_.reason);
  // Outcomes that make a segment dead must be on disk before the segment is deleted.
  if (Status st = journal_->sync(); !st) {
    failLocked(Health::Failed, st);
    return st;
  }
  std::vector<std::shared_ptr<Segment>> dead, sparse;
  for (const auto& [id, seg] : segments_) {
    if (!seg->sealed() || seg->unacked > 0) continue;
    seg->releaseFd();  // sealed and fully synced: only the mapping is still needed
    if (seg->liveMessages == 0) dead.push_back(seg);
    else if (static_cast<double>(seg->liveBytes) < opts_.compactBelowLiveRatio * static_cast<double>(seg->used()))
      sparse.push_back(seg);
  }
  Status result;
  for (const auto& seg : dead)
    if (Status st = dropSegmentLocked(seg); !st && result) result = st;
  for (const auto& seg : sparse)
    if (Status st = compactLocked(seg); !st && result) result = st;
  // Deferrals leave stale heap items behind until their time comes; rebuild when they dominate.
  if (due_.size() > 2 * counters_.liveMessages + 1024) {
    due_.clear();
    table_.forEach([&](IndexEntry& e) {
      if (!(e.flags & (kEntryInFlight | kEntryFinished))) due_.push(e.nextAttemptMs, e.id);
    });
  }
  if (journal_->size() >= opts_.checkpointJournalBytes)
    if (Status st = checkpointLocked(); !st && result) result = st;
  return result;
}

}  // namespace sluice::queue
