// index.cpp: the open-addressing message table.
#include "queue/index.hpp"

namespace sluice::queue {
namespace {

// Mixes an id into a well-spread hash (ids are sequential).
std::size_t hashId(MessageId id) {
  std::uint64_t x = id;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return static_cast<std::size_t>(x);
}

}  // namespace

MessageTable::MessageTable() : slots_(new IndexEntry[16]()), cap_(16) {}

IndexEntry* MessageTable::find(MessageId id) {
  if (id == 0) return nullptr;
  std::size_t mask = cap_ - 1;
  for (std::size_t i = hashId(id) & mask;; i = (i + 1) & mask) {
    if (slots_[i].id == id) return &slots_[i];
    if (slots_[i].id == 0) return nullptr;
  }
}

std::pair<IndexEntry*, bool> MessageTable::insert(const IndexEntry& e) {
  if ((size_ + 1) * 4 > cap_ * 3) grow();  // keep load at or below 3/4
  std::size_t mask = cap_ - 1;
  for (std::size_t i = hashId(e.id) & mask;; i = (i + 1) & mask) {
    if (slots_[i].id == e.id) return {&slots_[i], false};
    if (slots_[i].id == 0) {
      slots_[i] = e;
      ++size_;
      return {&slots_[i], true};
    }
  }
}

bool MessageTable::erase(MessageId id) {
  IndexEntry* e = find(id);
  if (!e) return false;
  std::size_t mask = cap_ - 1;
  std::size_t hole = static_cast<std::size_t>(e - slots_.get());
  // Backward-shift: move later members of the probe run into the hole so lookups never need tombstones.
  for (std::size_t j = (hole + 1) & mask; slots_[j].id != 0; j = (j + 1) & mask) {
    std::size_t home = hashId(slots_[j].id) & mask;
    bool movable = (j > hole) ? (home <= hole || home > j) : (home <= hole && home > j);
    if (movable) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = IndexEntry{};
  --size_;
  return true;
}

void MessageTable::forEach(const std::function<void(IndexEntry&)>& fn) {
  for (std::size_t i = 0; i < cap_; ++i)
    if (slots_[i].id != 0) fn(slots_[i]);
}

void MessageTable::grow() {
  std::size_t newCap = cap_ * 2;
  std::unique_ptr<IndexEntry[]> old = std::move(slots_);
  std::size_t oldCap = cap_;
  slots_.reset(new IndexEntry[newCap]());
  cap_ = newCap;
  size_ = 0;
  for (std::size_t i = 0; i < oldCap; ++i)
    if (old[i].id != 0) insert(old[i]);
}

}  // namespace sluice::queue
