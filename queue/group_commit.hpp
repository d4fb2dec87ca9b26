// group_commit.hpp: the committer thread. Producers (append, recordOutcome) write under the spool lock and then
// submit a CommitItem naming the file(s) their bytes went to. The committer waits until maxBatch items are queued
// or maxDelay has passed since the first one, takes everything queued, fdatasyncs each distinct file once, and
// hands the batch with the sync's status to the spool's batch handler, which indexes messages and runs callbacks.
//
// A failed sync is never retried and never reported as success (after an fsync error the kernel may already have
// dropped the dirty pages): the committer fails that batch and every later one, and tells the spool once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "queue/index.hpp"
#include "queue/journal.hpp"
#include "queue/segment.hpp"

namespace sluice::queue {

// Called exactly once per accepted append or outcome: status ok means the bytes are on stable storage.
using DurableCallback = std::function<void(MessageId, const Status&)>;

// One producer's write waiting for its covering sync.
struct CommitItem {
  std::shared_ptr<Segment> segment;  // segment written to, or null
  std::shared_ptr<Journal> journal;  // journal written to, or null
  IndexEntry entry;                  // for appends: entry to index once durable (entry.id == 0: none)
  MessageId id = 0;                  // id reported to the callback
  DurableCallback callback;          // may be empty
  bool urgent = false;               // start the commit now instead of waiting out maxDelay (flush)
};

class GroupCommitter {
 public:
  using BatchHandler = std::function<void(std::vector<CommitItem>&, const Status&)>;
  struct Options {
    std::chrono::microseconds maxDelay{1000};
    std::size_t maxBatch = 1024;
  };
  struct Counters {
    std::uint64_t batches = 0;
    std::uint64_t syncs = 0;
    std::uint64_t items = 0;
  };

  // Starts the committer thread. handler runs on that thread without the committer's lock held.
  GroupCommitter(Options opts, BatchHandler handler);
  // Drains the queue (syncing it) and joins the thread.
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues an item; its bytes must already be written.
  void submit(CommitItem item);
  // Drains and stops; later submits fail their callbacks with kErrClosed.
  void stop();
  // True once a sync has failed.
  bool failed() const;
  // Snapshot of the counters.
  Counters counters() const;

 private:
  // Thread body.
  void run();
  // Syncs the distinct files of a batch; returns the first failure.
  Status syncBatch(const std::vector<CommitItem>& batch);

  Options opts_;
  BatchHandler handler_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CommitItem> queue_;
  std::chrono::steady_clock::time_point firstAt_{};
  bool stop_ = false;
  bool exited_ = false;
  bool urgent_ = false;  // an urgent item is queued
  bool failed_ = false;
  Status failure_;
  Counters counters_;
  std::thread thread_;
};

}  // namespace sluice::queue
