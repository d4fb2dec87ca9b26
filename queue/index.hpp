// index.hpp: the in-memory index of the spool. One fixed 40-byte entry per message (location in its segment,
// recipient progress, next attempt time, attempt count) in an open-addressing hash table keyed by message id, and
// a min-heap of (next attempt, id) for "what is due". Recipient strings and bodies are never held here; they are
// read from the segment mapping when needed. Not thread-safe: the spool guards it with its lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <unordered_map>
#include <vector>

#include "queue/record.hpp"

namespace sluice::queue {

enum EntryFlags : std::uint8_t {
  kEntryInFlight = 1,  // handed out by takeDue, no outcome recorded since
  kEntryFinished = 2,  // every recipient final; kept only until its segment is reclaimed or compacted
  kEntryDeferred = 4,  // a deferral was recorded: checkpoints keep its next attempt time even with 0 attempts
};

struct IndexEntry {
  MessageId id = 0;
  std::int64_t nextAttemptMs = 0;
  std::uint32_t segment = 0;
  std::uint32_t offset = 0;
  std::uint32_t length = 0;     // unpadded record length
  std::uint32_t finalBits = 0;  // bit i: recipient i is final (i < 32; higher recipients in the overflow map)
  std::uint16_t rcptCount = 0;
  std::uint16_t pending = 0;    // recipients not yet final
  std::uint16_t attempts = 0;
  std::uint8_t flags = 0;
  std::uint8_t spare = 0;
};
static_assert(sizeof(IndexEntry) == 40, "index entry must stay compact");

// Open-addressing (linear probing, backward-shift deletion) table of IndexEntry keyed by id; id 0 marks a free slot.
class MessageTable {
 public:
  MessageTable();
  // Looks up an entry; nullptr if absent. The pointer is valid until the next insert or erase.
  IndexEntry* find(MessageId id);
  // Inserts e if its id is absent; returns the stored entry and whether it was inserted.
  std::pair<IndexEntry*, bool> insert(const IndexEntry& e);
  // Removes an id; returns true if it was present.
  bool erase(MessageId id);
  // Number of entries.
  std::size_t size() const { return size_; }
  // Bytes of table memory.
  std::size_t memoryBytes() const { return cap_ * sizeof(IndexEntry); }
  // Calls fn for every entry (must not insert or erase).
  void forEach(const std::function<void(IndexEntry&)>& fn);

 private:
  // Doubles the table.
  void grow();
  std::unique_ptr<IndexEntry[]> slots_;
  std::size_t cap_ = 0;  // power of two
  std::size_t size_ = 0;
};

// Min-heap of due times; stale items (the entry moved on) are dropped lazily when they surface.
class DueQueue {
 public:
  struct Item {
    std::int64_t atMs;
    MessageId id;
    // Orders the heap by time, earliest on top.
    bool operator>(const Item& o) const { return atMs > o.atMs || (atMs == o.atMs && id > o.id); }
  };
  // Schedules id at atMs.
  void push(std::int64_t atMs, MessageId id) { heap_.push(Item{atMs, id}); }
  // True when nothing is scheduled.
  bool empty() const { return heap_.empty(); }
  // Earliest item.
  const Item& top() const { return heap_.top(); }
  // Removes the earliest item.
  void pop() { heap_.pop(); }
  // Items held (stale ones included).
  std::size_t size() const { return heap_.size(); }
  // Drops every item (and the memory they held).
  void clear() { heap_ = decltype(heap_)(); }

 private:
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap_;
};

}  // namespace sluice::queue
