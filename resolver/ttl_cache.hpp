// ttl_cache.hpp: a size-bounded LRU map whose entries expire at an absolute time, for the resolver's caches.
//
// Time comes from the caller (milliseconds on any monotonic clock), so tests drive it with a fake clock.
// Single-threaded: owned by one resolver on one loop. Never throws beyond std::bad_alloc.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

namespace sluice::resolver {

template <class V>
class TtlCache {
 public:
  // maxEntries 0 disables the cache: put() stores nothing.
  explicit TtlCache(std::size_t maxEntries) : max_(maxEntries) {}

  // Returns the live value for key and marks it recently used; an expired entry is removed and nullptr returned.
  const V* get(const std::string& key, std::uint64_t nowMs) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    if (it->second->expiresAtMs <= nowMs) {
      lru_.erase(it->second);
      index_.erase(it);
      return nullptr;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->value;
  }

  // Inserts or replaces key, valid until expiresAtMs; evicts least recently used entries past the bound.
  void put(const std::string& key, V value, std::uint64_t expiresAtMs) {
    if (max_ == 0) return;
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->value = std::move(value);
      it->second->expiresAtMs = expiresAtMs;
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    lru_.push_front(Node{key, std::move(value), expiresAtMs});
    index_.emplace(key, lru_.begin());
    while (index_.size() > max_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
      ++evictions_;
    }
  }

  // Removes every entry.
  void clear() {
    index_.clear();
    lru_.clear();
  }

  // Number of entries held (expired ones included until touched).
  std::size_t size() const { return index_.size(); }

  // How many entries the size bound pushed out.
  std::uint64_t evictions() const { return evictions_; }

 private:
  struct Node {
    std::string key;
    V value;
    std::uint64_t expiresAtMs;
  };
  std::size_t max_;
  std::list<Node> lru_;  // front = most recently used
  std::unordered_map<std::string, typename std::list<Node>::iterator> index_;
  std::uint64_t evictions_ = 0;
};

}  // namespace sluice::resolver
