// retry.cpp: RetrySchedule (rules in retry.hpp and README.md). Pure arithmetic, any thread, no exceptions.
#include "engine/ops/retry.hpp"

#include <algorithm>

namespace sluice::ops {

namespace {

// SplitMix64 finaliser: a well-mixed 64-bit hash of x.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

RetrySchedule::RetrySchedule(const RetryConfig& config, std::uint64_t jitterSeed)
    : maxAgeMs_(config.maxAge.count()), jitter_(std::clamp(config.jitter, 0.0, 1.0)), seed_(jitterSeed) {
  for (const Millis d : config.schedule) delaysMs_.push_back(std::max<std::int64_t>(d.count(), 0));
  if (delaysMs_.empty()) delaysMs_.push_back(5 * 60 * 1000);
}

std::int64_t RetrySchedule::baseDelayMs(unsigned attemptsSoFar) const {
  const std::size_t i = attemptsSoFar == 0 ? 0 : std::min<std::size_t>(attemptsSoFar - 1, delaysMs_.size() - 1);
  return delaysMs_[i];
}

std::optional<std::int64_t> RetrySchedule::nextAttemptMs(unsigned attemptsSoFar, std::int64_t arrivalMs,
                                                         std::int64_t nowMs) const {
  const std::int64_t deadline = expiresAtMs(arrivalMs);
  if (nowMs >= deadline) return std::nullopt;
  if (attemptsSoFar == 0) return nowMs;
  std::int64_t delay = baseDelayMs(attemptsSoFar);
  if (jitter_ > 0 && delay > 0) {
    const std::uint64_t key = static_cast<std::uint64_t>(arrivalMs) ^ (std::uint64_t{attemptsSoFar} << 48);
    const std::uint64_t h = mix(seed_ ^ mix(key));
    const double unit = static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
    delay += static_cast<std::int64_t>(static_cast<double>(delay) * jitter_ * unit);
  }
  return std::min(nowMs + delay, deadline);
}

}  // namespace sluice::ops
