// ttl_cache_test.cpp: the LRU + expiry cache with a caller-supplied clock.
#include "resolver/ttl_cache.hpp"

#include <doctest/doctest.h>

using sluice::resolver::TtlCache;

TEST_CASE("entries live until their expiry time, then disappear") {
  TtlCache<int> c(10);
  c.put("a", 1, 1000);
  REQUIRE(c.get("a", 999));
  CHECK(*c.get("a", 999) == 1);
  CHECK(c.get("a", 1000) == nullptr);
  CHECK(c.size() == 0);  // the expired entry was removed on access
}

TEST_CASE("the size bound evicts the least recently used entry") {
  TtlCache<int> c(2);
  c.put("a", 1, 100);
  c.put("b", 2, 100);
  REQUIRE(c.get("a", 0));  // a is now more recent than b
  c.put("c", 3, 100);
  CHECK(c.size() == 2);
  CHECK(c.get("b", 0) == nullptr);
  CHECK(c.get("a", 0) != nullptr);
  CHECK(c.get("c", 0) != nullptr);
  CHECK(c.evictions() == 1);
}

TEST_CASE("put replaces value and expiry; size 0 disables caching; clear empties") {
  TtlCache<int> c(4);
  c.put("a", 1, 100);
  c.put("a", 2, 500);
  CHECK(c.size() == 1);
  REQUIRE(c.get("a", 200));
  CHECK(*c.get("a", 200) == 2);
  c.clear();
  CHECK(c.get("a", 0) == nullptr);
  TtlCache<int> off(0);
  off.put("a", 1, 100);
  CHECK(off.get("a", 0) == nullptr);
}
