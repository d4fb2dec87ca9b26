// group_commit.cpp: the committer thread's batching loop and sync policy.
#include "queue/group_commit.hpp"

#include <algorithm>

namespace sluice::queue {

GroupCommitter::GroupCommitter(Options opts, BatchHandler handler) : opts_(opts), handler_(std::move(handler)) {
  if (opts_.maxBatch == 0) opts_.maxBatch = 1;
  thread_ = std::thread([this] { run(); });
}

GroupCommitter::~GroupCommitter() { stop(); }

void GroupCommitter::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GroupCommitter::submit(CommitItem item) {
  std::unique_lock<std::mutex> lk(mu_);
  if (exited_) {
    lk.unlock();
    std::vector<CommitItem> one;
    one.push_back(std::move(item));
    handler_(one, Status(kErrClosed, "spool is closed"));
    return;
  }
  bool wasEmpty = queue_.empty();
  if (wasEmpty) firstAt_ = std::chrono::steady_clock::now();
  bool urgent = item.urgent;
  queue_.push_back(std::move(item));
  urgent_ = urgent_ || urgent;
  bool wake = wasEmpty || urgent || queue_.size() >= opts_.maxBatch;
  lk.unlock();
  if (wake) cv_.notify_one();
}

bool GroupCommitter::failed() const {
  std::lock_guard<std::mutex> lk(mu_);
  return failed_;
}

GroupCommitter::Counters GroupCommitter::counters() const {
  std::lock_guard<std::mutex> lk(mu_);
  return counters_;
}

Status GroupCommitter::syncBatch(const std::vector<CommitItem>& batch) {
  std::vector<Segment*> segs;
  std::vector<Journal*> jrns;
  for (const auto& it : batch) {
    if (it.segment && std::find(segs.begin(), segs.end(), it.segment.get()) == segs.end())
      segs.push_back(it.segment.get());
    if (it.journal && std::find(jrns.begin(), jrns.end(), it.journal.get()) == jrns.end())
      jrns.push_back(it.journal.get());
  }
  Status first;
  std::uint64_t n = 0;
  for (Segment* s : segs) {
    Status st = s->sync();
    ++n;
    if (!st && first) first = st;
  }
  for (Journal* j : jrns) {
    Status st = j->sync();
    ++n;
    if (!st && first) first = st;
  }
  std::lock_guard<std::mutex> lk(mu_);
  counters_.syncs += n;
  return first;
}

void GroupCommitter::run() {
  std::vector<CommitItem> batch;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) {  // stopping and drained
      exited_ = true;
      break;
    }
    if (!stop_ && !urgent_ && opts_.maxDelay.count() > 0 && queue_.size() < opts_.maxBatch) {
      auto deadline = firstAt_ + opts_.maxDelay;
      cv_.wait_until(lk, deadline, [&] { return stop_ || urgent_ || queue_.size() >= opts_.maxBatch; });
    }
    batch.swap(queue_);
    urgent_ = false;
    bool alreadyFailed = failed_;
    Status prior = failure_;
    lk.unlock();

    Status st = alreadyFailed ? Status(kErrUnhealthy, "spool unhealthy after earlier failure: " + prior.message())
                              : syncBatch(batch);
    lk.lock();
    if (!st && !failed_) {
      failed_ = true;
      failure_ = st;
    }
    ++counters_.batches;
    counters_.items += batch.size();
    lk.unlock();
    handler_(batch, st);
    batch.clear();
    lk.lock();
  }
}

}  // namespace sluice::queue
