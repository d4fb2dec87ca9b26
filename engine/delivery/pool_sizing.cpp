// pool_sizing.cpp: connectionsToOpen() and the retirement checks (see pool_sizing.hpp).
#include "engine/delivery/pool_sizing.hpp"

#include <algorithm>

namespace sluice::delivery {

namespace {

// a - b, or 0 when b >= a (counts never go negative, even from an inconsistent snapshot).
std::size_t minusOrZero(std::size_t a, std::size_t b) { return a > b ? a - b : 0; }

}  // namespace

std::size_t connectionsToOpen(const PoolLimits& limits, const PoolState& state) {
  if (state.ready == 0) return 0;
  const std::size_t perConn = std::max<std::size_t>(limits.messagesPerConnection, 1);
  // Connections needed for the whole queue, rounded up; written so that it cannot overflow near SIZE_MAX.
  const std::size_t needed = state.ready / perConn + (state.ready % perConn != 0 ? 1 : 0);
  // Idle connections take messages now and connecting ones will shortly: only the rest needs new connects.
  // (idle + connecting) * perConn >= ready  <=>  idle + connecting >= needed, without the overflow.
  const std::size_t coming = state.idle + state.connecting;
  std::size_t want = minusOrZero(needed, coming);
  if (want == 0) return 0;

  want = std::min(want, minusOrZero(limits.maxConnections, state.open + state.connecting));
  const std::size_t connectCap = state.consecutiveConnectFailures > 0 ? std::min<std::size_t>(limits.maxConnecting, 1)
                                                                      : limits.maxConnecting;
  want = std::min(want, minusOrZero(connectCap, state.connecting));
  return want;
}

RetireReason retireReason(const RetireLimits& limits, std::uint64_t messagesSent, std::int64_t ageMs,
                          std::int64_t idleMs) {
  if (limits.maxMessages > 0 && messagesSent >= limits.maxMessages) return RetireReason::UsedUp;
  if (limits.maxAgeMs > 0 && ageMs >= limits.maxAgeMs) return RetireReason::TooOld;
  if (limits.idleTimeoutMs > 0 && idleMs >= limits.idleTimeoutMs) return RetireReason::IdleTooLong;
  return RetireReason::None;
}

bool shouldRetire(const RetireLimits& limits, std::uint64_t messagesSent, std::int64_t ageMs, std::int64_t idleMs) {
  return retireReason(limits, messagesSent, ageMs, idleMs) != RetireReason::None;
}

const char* retireReasonName(RetireReason reason) {
  switch (reason) {
    case RetireReason::None: return "none";
    case RetireReason::UsedUp: return "used-up";
    case RetireReason::TooOld: return "too-old";
    case RetireReason::IdleTooLong: return "idle-timeout";
  }
  return "none";
}

}  // namespace sluice::delivery
