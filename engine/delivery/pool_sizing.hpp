// pool_sizing.hpp: how many connections a pool should open to one MX site, and when a connection is retired.
//
// Owner: the delivery engine's per-site pool calls these on its own loop thread. Pure functions of their arguments:
// no I/O, no clock (the caller passes ages in milliseconds), no state, no allocation; any thread may call them.
// Errors: none. Out-of-range states (more open connections than the limit allows, zero limits) give a defined,
// conservative answer (open nothing, retire), never an abort.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::delivery {

// Per-site connection limits (configuration; defaults are the configuration's defaults).
struct PoolLimits {
  std::size_t maxConnections = 20;         // open + connecting never exceeds this
  std::size_t maxConnecting = 8;           // connects in flight at once
  std::size_t messagesPerConnection = 32;  // ready messages one connection is expected to take; 0 is read as 1
};

// A snapshot of one site's pool and ready queue, taken by the caller.
struct PoolState {
  std::size_t ready = 0;                       // messages waiting at the site, not yet handed to a connection
  std::size_t open = 0;                        // connections established (idle ones included)
  std::size_t connecting = 0;                  // connects in flight (TCP, greeting, EHLO, TLS)
  std::size_t idle = 0;                        // open connections with nothing to do
  std::size_t consecutiveConnectFailures = 0;  // reset to 0 by the caller on the next successful connect
};

// Number of new connections to start now (0 when none). See engine/delivery/README.md, "Pool sizing":
//   - 0 when ready == 0, or when (idle + connecting) * messagesPerConnection >= ready: idle connections, and those
//     already on their way, absorb the queue;
//   - otherwise want = ceil(ready / messagesPerConnection) - idle - connecting;
//   - capped so that open + connecting + result <= maxConnections and connecting + result <= maxConnecting;
//   - after a connect failure (consecutiveConnectFailures > 0) at most one connect is in flight: a single probe.
std::size_t connectionsToOpen(const PoolLimits& limits, const PoolState& state);

// When an established connection is closed instead of being reused. A limit of 0 disables that check.
struct RetireLimits {
  std::uint64_t maxMessages = 1000;     // messages (transactions) sent on one connection
  std::int64_t maxAgeMs = 300'000;      // since the connection was established
  std::int64_t idleTimeoutMs = 30'000;  // time spent idle in the pool; well below the peer's 5 min server timeout
};

// Why a connection is retired; None means it may be kept.
enum class RetireReason { None, UsedUp, TooOld, IdleTooLong };

// The first limit reached, checked in the order used up, too old, idle too long. Each check is ">=".
RetireReason retireReason(const RetireLimits& limits, std::uint64_t messagesSent, std::int64_t ageMs,
                          std::int64_t idleMs);

// True when the connection must be closed: retireReason(...) != RetireReason::None.
bool shouldRetire(const RetireLimits& limits, std::uint64_t messagesSent, std::int64_t ageMs, std::int64_t idleMs);

// "used-up", "too-old", "idle-timeout" or "none", for logs and metrics labels.
const char* retireReasonName(RetireReason reason);

}  // namespace sluice::delivery
