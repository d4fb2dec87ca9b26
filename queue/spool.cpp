// spool.cpp: the spool's data path: append, durable notification, outcomes, lookup, due iteration, statistics.
// Recovery lives in recovery.cpp, reclaim/compaction/checkpoints in maintenance.cpp.
#include "queue/spool.hpp"

#include <cstdio>
#include <future>

namespace sluice::queue {

RecipientView MessageView::recipient(std::size_t i) const {
  RecipientView out;
  forEachRecipient(rec_.envelope, [&](std::size_t k, const RecipientView& r) {
    if (k == i) out = r;
  });
  return out;
}

bool MessageView::recipientPending(std::size_t i) const { return i < pending_.size() && pending_[i]; }

std::string_view MessageView::rawRecord() const {
  const char* start = rec_.envelope.data() - kRecordHeaderSize;
  return std::string_view(start, rec_.length);
}

Spool::Spool(SpoolOptions opts) : opts_(std::move(opts)), io_(opts_.io ? *opts_.io : IoOps::system()) {}

Spool::~Spool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
  }
  if (committer_) committer_->stop();
  // Trim the active segment so a clean shutdown leaves no preallocated tail behind.
  std::lock_guard<std::mutex> lk(mu_);
  if (active_ && !active_->sealed() && health_.state != Health::Failed) {
    if (Status st = active_->seal(); !st) log(st.message());
  }
}

void Spool::log(std::string_view line) const {
  if (opts_.log) {
    opts_.log(line);
  } else {
    std::fprintf(stderr, "spool: %.*s\n", static_cast<int>(line.size()), line.data());
  }
}

std::int64_t Spool::nowMs() const {
  if (opts_.clockMs) return opts_.clockMs();
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void Spool::failWriteLocked(const Status& st) {
  failLocked(st.code() == ENOSPC || st.code() == EDQUOT ? Health::DiskFull : Health::Failed, st);
}

void Spool::failLocked(Health h, const Status& st) {
  if (health_.state == Health::Failed) return;  // Failed is terminal
  if (health_.state != h) log("health " + std::string(h == Health::Failed ? "FAILED" : "DISK FULL") + ": " +
                              st.message());
  health_.state = h;
  health_.reason = st.message();
}

Status Spool::ensureRoomLocked(std::size_t padded) {
  if (active_ && !active_->sealed() && active_->room() >= padded) return Status();
  if (active_ && !active_->sealed()) {
    // Trimming is an optimisation: a failure leaves zeros past the end, which recovery reads as a clean end.
    if (Status st = active_->seal(); !st) log(st.message());
  }
  for (int tries = 0;; ++tries) {
    auto seg = Segment::create(io_, opts_.dir, nextSegmentId_, opts_.segmentBytes, nowMs());
    if (seg) {
      ++nextSegmentId_;
      active_ = seg.value();
      segments_[active_->id()] = active_;
      if (health_.state == Health::DiskFull) health_ = HealthReport{};
      return Status();
    }
    Status st = seg.status();
    if (st.code() == EEXIST && tries < 16) {  // a stray file with that name: skip the id
      ++nextSegmentId_;
      continue;
    }
    failWriteLocked(st);
    return st;
  }
}

Result<MessageId> Spool::append(const MessageIn& msgIn, DurableCallback onDurable) {
  auto len = measureRecord(msgIn);
  if (!len) return len.status();
  std::size_t padded = paddedLength(len.value());
  if (padded + kSegmentHeaderSize > opts_.segmentBytes)
    return Status(kErrTooLarge, "append: message of " + std::to_string(len.value()) +
                                    " bytes does not fit in a segment of " + std::to_string(opts_.segmentBytes));
  MessageIn m = msgIn;
  if (m.arrivalMs == 0) m.arrivalMs = nowMs();

  std::lock_guard<std::mutex> lk(mu_);
  if (closed_) return Status(kErrClosed, "append: spool is closed");
  if (health_.state == Health::Failed) return Status(kErrUnhealthy, "append refused, spool failed: " + health_.reason);
  if (Status st = ensureRoomLocked(padded); !st) return st;
  MessageId id = nextId_;
  encodeHead(id, m, scratch_);
  static const char zeros[kRecordAlign] = {};
  struct iovec iov[3] = {{scratch_.data(), scratch_.size()},
                         {const_cast<char*>(m.body.data()), m.body.size()},
                         {const_cast<char*>(zeros), padded - len.value()}};
  std::uint32_t offset = 0;
  if (Status st = active_->append(iov, 3, padded, offset); !st) {
    // The end offset did not move, so the next append overwrites whatever part of this one reached the file.
    failWriteLocked(st);
    return st;
  }
  if (health_.state == Health::DiskFull) health_ = HealthReport{};  // a write fitted again
  ++nextId_;
  ++active_->unacked;
  ++counters_.appends;
  CommitItem item;
  item.segment = active_;
  item.id = id;
  item.entry.id = id;
  item.entry.nextAttemptMs = m.arrivalMs;
  item.entry.segment = active_->id();
  item.entry.offset = offset;
  item.entry.length = len.value();
  item.entry.rcptCount = static_cast<std::uint16_t>(m.recipients.size());
  item.entry.pending = item.entry.rcptCount;
  item.callback = std::move(onDurable);
  committer_->submit(std::move(item));
  return id;
}

void Spool::onBatch(std::vector<CommitItem>& batch, const Status& st) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& it : batch) {
      if (it.entry.id == 0) continue;
      if (it.segment->unacked > 0) --it.segment->unacked;
      if (!st) continue;
      auto [e, inserted] = table_.insert(it.entry);
      if (!inserted) continue;
      it.segment->liveMessages += 1;
      it.segment->liveBytes += paddedLength(e->length);
      counters_.liveMessages += 1;
      counters_.pendingRecipients += e->pending;
      if (!recovering_) due_.push(e->nextAttemptMs, e->id);
    }
    if (!st && st.code() != kErrClosed) failLocked(Health::Failed, st);
  }
  for (auto& it : batch)
    if (it.callback) it.callback(it.id, st);
}

bool Spool::isFinalLocked(const IndexEntry& e, std::uint16_t rcpt) const {
  if (rcpt < 32) return (e.finalBits >> rcpt) & 1u;
  auto it = overflow_.find(e.id);
  return it != overflow_.end() && rcpt < it->second.size() && it->second[rcpt];
}

bool Spool::markFinalLocked(IndexEntry& e, std::uint16_t rcpt) {
  if (rcpt >= e.rcptCount || isFinalLocked(e, rcpt)) return false;
  if (rcpt < 32) {
    e.finalBits |= 1u << rcpt;
  } else {
    auto& v = overflow_[e.id];
    if (v.size() < e.rcptCount) v.resize(e.rcptCount);
    v[rcpt] = true;
  }
  --e.pending;
  --counters_.pendingRecipients;
  return e.pending == 0;
}

void Spool::finishLocked(IndexEntry& e) {
  e.flags = kEntryFinished;
  counters_.pendingRecipients -= e.pending;
  e.pending = 0;
  --counters_.liveMessages;
  overflow_.erase(e.id);
  auto it = segments_.find(e.segment);
  if (it != segments_.end()) {
    it->second->liveMessages -= 1;
    it->second->liveBytes -= paddedLength(e.length);
  }
}

void Spool::applyJournal(const JournalRecord& r) {
  if (r.type == JournalType::CheckpointEnd) return;
  IndexEntry* e = table_.find(r.id);
  if (!e || (e->flags & kEntryFinished)) return;  // unknown ids belong to reclaimed segments
  if (r.attempts > e->attempts) e->attempts = r.attempts;
  if (r.type == JournalType::MessageFinal) {
    finishLocked(*e);
    return;
  }
  if (r.outcome == Outcome::Deferred) {
    e->nextAttemptMs = r.nextAttemptMs;
    e->flags = static_cast<std::uint8_t>((e->flags & ~kEntryInFlight) | kEntryDeferred);
    if (!recovering_) due_.push(e->nextAttemptMs, e->id);
    return;
  }
  bool done = false;
  if (r.rcpt == kAllRcpts) {
    for (std::uint16_t i = 0; i < e->rcptCount; ++i) done = markFinalLocked(*e, i) || done;
  } else {
    done = markFinalLocked(*e, r.rcpt);
  }
  if (done || e->pending == 0) finishLocked(*e);
}

Status Spool::recordOutcome(MessageId id, std::uint16_t rcpt, Outcome outcome, std::int64_t nextAttemptMs,
                            std::uint16_t attempts, std::string_view lastReply, DurableCallback onDurable) {
  if (outcome == Outcome::Final) return Status(kErrInvalid, "recordOutcome: Final is reserved for checkpoints");
  std::lock_guard<std::mutex> lk(mu_);
  if (closed_) return Status(kErrClosed, "recordOutcome: spool is closed");
  if (health_.state == Health::Failed)
    return Status(kErrUnhealthy, "recordOutcome refused, spool failed: " + health_.reason);
  IndexEntry* e = table_.find(id);
  if (!e || (e->flags & kEntryFinished)) return Status(kErrNotFound, "recordOutcome: no live message " + std::to_string(id));
  if (rcpt != kAllRcpts && rcpt >= e->rcptCount)
    return Status(kErrInvalid, "recordOutcome: recipient index out of range for message " + std::to_string(id));
  JournalRecord r{JournalType::RecipientOutcome, outcome, rcpt, attempts, id, nextAttemptMs, lastReply};
  scratch_.clear();
  encodeJournalRecord(r, scratch_);
  if (Status st = journal_->append(scratch_); !st) {
    failWriteLocked(st);
    return st;
  }
  if (health_.state == Health::DiskFull) health_ = HealthReport{};
  applyJournal(r);
  ++counters_.outcomes;
  CommitItem item;
  item.journal = journal_;
  item.id = id;
  item.callback = std::move(onDurable);
  committer_->submit(std::move(item));
  return Status();
}

Result<MessageView> Spool::lookup(MessageId id) const {
  MessageView v;
  IndexEntry e;
  std::span<const std::byte> bytes;
  {
    std::lock_guard<std::mutex> lk(mu_);
    const IndexEntry* p = const_cast<MessageTable&>(table_).find(id);
    if (!p || (p->flags & kEntryFinished)) return Status(kErrNotFound, "lookup: no live message " + std::to_string(id));
    e = *p;
    auto it = segments_.find(e.segment);
    if (it == segments_.end()) return Status(kErrCorrupt, "lookup: segment of message " + std::to_string(id) + " missing");
    v.pin_ = it->second;
    bytes = it->second->bytes();  // the used length changes under the lock only
    v.pending_.resize(e.rcptCount);
    for (std::uint16_t i = 0; i < e.rcptCount; ++i) v.pending_[i] = !isFinalLocked(e, i);
  }
  // Decode (and re-verify the checksum) outside the lock: the pin keeps the mapping alive.
  if (static_cast<std::size_t>(e.offset) + e.length > bytes.size())
    return Status(kErrCorrupt, "lookup: message " + std::to_string(id) + " lies past the end of its segment");
  if (decodeRecord(bytes.subspan(e.offset, e.length), v.rec_) != DecodeOutcome::Ok || v.rec_.id != id)
    return Status(kErrCorrupt, "lookup: message " + std::to_string(id) + " failed its checksum in " + v.pin_->path());
  envelopeSender(v.rec_.envelope, v.reversePath_, v.mailParams_);
  v.attempts_ = e.attempts;
  v.nextAttemptMs_ = e.nextAttemptMs;
  return v;
}

std::size_t Spool::takeDue(std::int64_t now, std::size_t max, std::vector<MessageId>& out) {
  std::lock_guard<std::mutex> lk(mu_);
  std::size_t n = 0;
  while (n < max && !due_.empty() && due_.top().atMs <= now) {
    DueQueue::Item item = due_.top();
    due_.pop();
    IndexEntry* e = table_.find(item.id);
    if (!e || (e->flags & (kEntryInFlight | kEntryFinished)) || e->nextAttemptMs != item.atMs) continue;  // stale
    e->flags |= kEntryInFlight;
    out.push_back(item.id);
    ++n;
  }
  return n;
}

Status Spool::release(MessageId id, std::int64_t nextAttemptMs) {
  std::lock_guard<std::mutex> lk(mu_);
  IndexEntry* e = table_.find(id);
  if (!e || (e->flags & kEntryFinished)) return Status(kErrNotFound, "release: no live message " + std::to_string(id));
  e->flags &= static_cast<std::uint8_t>(~kEntryInFlight);
  e->nextAttemptMs = nextAttemptMs;
  due_.push(nextAttemptMs, id);
  return Status();
}

Status Spool::flush() {
  auto done = std::make_shared<std::promise<Status>>();
  auto fut = done->get_future();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (closed_) return Status(kErrClosed, "flush: spool is closed");
    CommitItem item;
    item.segment = active_;
    item.journal = journal_;
    item.callback = [done](MessageId, const Status& st) { done->set_value(st); };
    item.urgent = true;
    committer_->submit(std::move(item));
  }
  return fut.get();
}

SpoolStats Spool::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  SpoolStats s = counters_;
  s.indexedEntries = table_.size();
  s.segments = segments_.size();
  for (const auto& [id, seg] : segments_) {
    s.segmentBytes += seg->used();
    s.liveBytes += seg->liveBytes;
  }
  s.journalBytes = journal_ ? journal_->size() : 0;
  std::size_t overflowBytes = 0;
  for (const auto& [id, v] : overflow_) overflowBytes += 64 + v.size() / 8;
  s.indexMemoryBytes = table_.memoryBytes() + due_.size() * sizeof(DueQueue::Item) + overflowBytes;
  if (committer_) {
    auto c = committer_->counters();
    s.commitBatches = c.batches;
    s.syncs = c.syncs;
  }
  return s;
}

HealthReport Spool::health() const {
  std::lock_guard<std::mutex> lk(mu_);
  return health_;
}

}  // namespace sluice::queue
