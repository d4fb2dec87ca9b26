// test_pool_sizing.cpp: connectionsToOpen() and the retirement checks, as tables (pure functions, no clock).
// Each row says in its comment which rule of engine/delivery/README.md ("Pool sizing") it exercises.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "engine/delivery/pool_sizing.hpp"

using sluice::delivery::connectionsToOpen;
using sluice::delivery::PoolLimits;
using sluice::delivery::PoolState;
using sluice::delivery::retireReason;
using sluice::delivery::retireReasonName;
using sluice::delivery::RetireLimits;
using sluice::delivery::RetireReason;
using sluice::delivery::shouldRetire;

namespace {

constexpr std::size_t kHuge = std::numeric_limits<std::size_t>::max();

struct OpenRow {
  PoolLimits limits;
  PoolState state;  // ready, open, connecting, idle, consecutiveConnectFailures
  std::size_t expected;
};

}  // namespace

TEST_CASE("connectionsToOpen: table") {
  const PoolLimits def{};              // 20 / 8 / 32
  const PoolLimits small{4, 2, 10};    // room for few connections
  const PoolLimits perOne{100, 100, 1};
  const OpenRow rows[] = {
      // Nothing to send: nothing to open, whatever the pool looks like.
      {def, {0, 0, 0, 0, 0}, 0},
      {def, {0, 5, 0, 5, 0}, 0},
      {def, {0, 0, 0, 0, 3}, 0},
      // One message, empty pool: one connection.
      {def, {1, 0, 0, 0, 0}, 1},
      // Exactly one connection's worth: still one.
      {def, {32, 0, 0, 0, 0}, 1},
      // One message over a connection's worth: ceil(33 / 32) = 2.
      {def, {33, 0, 0, 0, 0}, 2},
      // 100 messages: ceil(100 / 32) = 4.
      {def, {100, 0, 0, 0, 0}, 4},
      // An idle connection absorbs up to 32 ready messages: nothing to open.
      {def, {32, 1, 0, 1, 0}, 0},
      {def, {1, 3, 0, 1, 0}, 0},
      // Two idle connections absorb 64, one more message needs one more connection.
      {def, {65, 2, 0, 2, 0}, 1},
      // 100 ready, 1 idle: 4 needed, 3 beyond the idle one.
      {def, {100, 1, 0, 1, 0}, 3},
      // Busy (open, not idle) connections do not absorb: 100 ready with 5 busy still wants 4 more.
      {def, {100, 5, 0, 0, 0}, 4},
      // Connects already in flight count as coming capacity: 100 ready, 4 connecting -> nothing more.
      {def, {100, 0, 4, 0, 0}, 0},
      // 100 ready, 2 connecting, 1 idle -> 4 - 3 = 1.
      {def, {100, 1, 2, 1, 0}, 1},
      // maxConnecting caps a burst: 1000 ready would want 32, at most 8 connects in flight.
      {def, {1000, 0, 0, 0, 0}, 8},
      // ... minus those already connecting: 6 in flight leaves room for 2.
      {def, {1000, 0, 6, 0, 0}, 2},
      // maxConnecting reached: nothing until a connect completes.
      {def, {1000, 0, 8, 0, 0}, 0},
      // maxConnections caps open + connecting: 15 open + 3 connecting leaves room for 2.
      {def, {10000, 15, 3, 0, 0}, 2},
      // maxConnections reached by open connections alone.
      {def, {10000, 20, 0, 0, 0}, 0},
      // Inconsistent snapshot beyond the limit (limit lowered at reload): nothing, no underflow.
      {def, {10000, 25, 3, 0, 0}, 0},
      // Both caps at once: the tighter one (maxConnections: 20 - 17 - 1 = 2; maxConnecting: 8 - 1 = 7) wins.
      {def, {10000, 17, 1, 0, 0}, 2},
      // After a connect failure only one probe: an empty pool opens one connection, not eight.
      {def, {1000, 0, 0, 0, 1}, 1},
      // A probe already in flight: nothing more while it runs.
      {def, {1000, 0, 1, 0, 1}, 0},
      // Many failures in a row: still exactly one probe.
      {def, {1000, 0, 0, 0, 57}, 1},
      // A failure with established connections left: the probe rule limits connects, open ones still work.
      {def, {1000, 5, 0, 0, 2}, 1},
      // A failure but idle connections absorb the queue: nothing to probe for.
      {def, {10, 2, 0, 2, 1}, 0},
      // A failure and maxConnecting = 0: the configuration forbids connects, the probe too.
      {{20, 0, 32}, {1000, 0, 0, 0, 1}, 0},
      // maxConnecting = 0 without failures: never open.
      {{20, 0, 32}, {1000, 0, 0, 0, 0}, 0},
      // Small site: 4 connections total, 2 connecting at most; 35 ready / 10 per connection = 4, capped to 2.
      {small, {35, 0, 0, 0, 0}, 2},
      // Small site with 3 open busy: only 1 slot left under maxConnections.
      {small, {35, 3, 0, 0, 0}, 1},
      // Small site, 2 idle of 3 open absorb 20 messages, 21 wants 1 more.
      {small, {21, 3, 0, 2, 0}, 1},
      // One message per connection: ready 7, 2 idle, 1 connecting -> 4 more.
      {perOne, {7, 2, 1, 2, 0}, 4},
      // messagesPerConnection = 0 is read as 1 (no division by zero): 3 ready -> 3.
      {{20, 8, 0}, {3, 0, 0, 0, 0}, 3},
      // Near-overflow ready count: no wrap-around in the ceiling, capped by maxConnecting.
      {def, {kHuge, 0, 0, 0, 0}, 8},
      // Near-overflow idle count: absorbs everything without overflowing idle * messagesPerConnection.
      {def, {kHuge, 0, 0, kHuge / 2, 0}, 0},
      // Huge limits: the ceiling itself is the answer (kHuge / 32 rounded up).
      {{kHuge, kHuge, 32}, {kHuge, 0, 0, 0, 0}, kHuge / 32 + 1},
  };
  int i = 0;
  for (const OpenRow& row : rows) {
    CAPTURE(i);
    CHECK(connectionsToOpen(row.limits, row.state) == row.expected);
    ++i;
  }
}

TEST_CASE("connectionsToOpen: the result never breaks a limit") {
  // Exhaustive over a small space: whatever the state, adding the result keeps open + connecting <= maxConnections,
  // connecting <= maxConnecting, and connecting <= 1 after a failure (when the state was within them before).
  const PoolLimits limits{6, 3, 4};
  for (std::size_t ready = 0; ready <= 30; ++ready)
    for (std::size_t open = 0; open <= 6; ++open)
      for (std::size_t connecting = 0; connecting + open <= 6 && connecting <= 3; ++connecting)
        for (std::size_t idle = 0; idle <= open; ++idle)
          for (std::size_t failures = 0; failures <= 1; ++failures) {
            if (failures > 0 && connecting > 1) continue;
            const PoolState s{ready, open, connecting, idle, failures};
            const std::size_t n = connectionsToOpen(limits, s);
            CAPTURE(ready);
            CAPTURE(open);
            CAPTURE(connecting);
            CAPTURE(idle);
            CAPTURE(failures);
            CHECK(open + connecting + n <= limits.maxConnections);
            CHECK(connecting + n <= limits.maxConnecting);
            if (failures > 0) CHECK(connecting + n <= 1);
            // Never more than the queue needs.
            const std::size_t needed = (ready + limits.messagesPerConnection - 1) / limits.messagesPerConnection;
            CHECK(idle + connecting + n <= std::max(needed, idle + connecting));
            if (ready == 0) CHECK(n == 0);
          }
}

namespace {

struct RetireRow {
  RetireLimits limits;
  std::uint64_t messagesSent;
  std::int64_t ageMs;
  std::int64_t idleMs;
  RetireReason expected;
};

}  // namespace

TEST_CASE("shouldRetire / retireReason: table") {
  const RetireLimits def{};  // 1000 messages, 300 s age, 30 s idle
  const RetireLimits tight{5, 10'000, 2'000};
  const RetireLimits noLimits{0, 0, 0};
  const RetireRow rows[] = {
      // A fresh connection is kept.
      {def, 0, 0, 0, RetireReason::None},
      // Just under every limit: kept.
      {def, 999, 299'999, 29'999, RetireReason::None},
      // Message count reached exactly: used up.
      {def, 1000, 0, 0, RetireReason::UsedUp},
      // Message count exceeded: used up.
      {def, 5000, 0, 0, RetireReason::UsedUp},
      // Age reached exactly: too old.
      {def, 1, 300'000, 0, RetireReason::TooOld},
      // Idle time reached exactly: idle too long.
      {def, 1, 10, 30'000, RetireReason::IdleTooLong},
      // Several limits at once: used up is reported first.
      {def, 1000, 300'000, 30'000, RetireReason::UsedUp},
      // Too old and idle: too old first.
      {def, 10, 400'000, 40'000, RetireReason::TooOld},
      // Tight limits: 4 messages, 9.9 s old, 1.9 s idle: kept.
      {tight, 4, 9'900, 1'900, RetireReason::None},
      // Tight limits: the fifth message uses it up.
      {tight, 5, 100, 0, RetireReason::UsedUp},
      // Tight limits: idle 2 s.
      {tight, 0, 2'000, 2'000, RetireReason::IdleTooLong},
      // Zero limits disable every check, even for huge values.
      {noLimits, std::numeric_limits<std::uint64_t>::max(), std::numeric_limits<std::int64_t>::max(),
       std::numeric_limits<std::int64_t>::max(), RetireReason::None},
      // Only the message limit set: age and idle are ignored.
      {{3, 0, 0}, 2, 1'000'000'000, 1'000'000'000, RetireReason::None},
      {{3, 0, 0}, 3, 0, 0, RetireReason::UsedUp},
      // Negative durations (a clock step backwards at the caller) never retire by time.
      {def, 0, -5'000, -1, RetireReason::None},
  };
  int i = 0;
  for (const RetireRow& row : rows) {
    CAPTURE(i);
    CHECK(retireReason(row.limits, row.messagesSent, row.ageMs, row.idleMs) == row.expected);
    CHECK(shouldRetire(row.limits, row.messagesSent, row.ageMs, row.idleMs) == (row.expected != RetireReason::None));
    ++i;
  }
}

TEST_CASE("retireReasonName: stable labels for logs") {
  CHECK(std::string(retireReasonName(RetireReason::None)) == "none");
  CHECK(std::string(retireReasonName(RetireReason::UsedUp)) == "used-up");
  CHECK(std::string(retireReasonName(RetireReason::TooOld)) == "too-old");
  CHECK(std::string(retireReasonName(RetireReason::IdleTooLong)) == "idle-timeout");
}
