// retry.hpp: when to try a temporarily failed message again, and when to give up on it.
//
// What it is: the retry.schedule / retry.max_age / retry.jitter rules of the configuration as a value type.
// Rules (README.md, "Retry rules"): after the n-th failed attempt wait schedule[n-1] (the last entry repeats),
// stretched by a jitter of up to `jitter` of the delay; never later than arrival + max_age, so a message gets one
// last attempt at its expiry time; once a message has been queued max_age or longer, nextAttemptMs returns
// nullopt: give up and bounce with 4.4.7 (RFC 3463 "delivery time expired").
// Ownership: a copy of the schedule. Threads: const methods, any thread. Errors: none (the config is validated).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/ops/config.hpp"

namespace sluice::ops {

// The enhanced status code for a message that ran out of time (RFC 3463 §3.5, X.4.7).
inline constexpr std::string_view kExpiredEnhancedCode = "4.4.7";

class RetrySchedule {
 public:
  // Uses config.schedule, maxAge and jitter. An empty schedule behaves as a single 5-minute step.
  explicit RetrySchedule(const RetryConfig& config, std::uint64_t jitterSeed = 0);

  // When to try next (unix ms), after `attemptsSoFar` failed attempts of a message that arrived at arrivalMs,
  // asked at nowMs; nullopt when the message has been queued max_age or longer (give up, 4.4.7).
  // attemptsSoFar 0 (never tried) means now. The jitter is a pure function of (seed, arrivalMs, attemptsSoFar),
  // so asking twice gives the same answer and messages that arrived together spread out.
  std::optional<std::int64_t> nextAttemptMs(unsigned attemptsSoFar, std::int64_t arrivalMs,
                                            std::int64_t nowMs) const;

  // The delay before jitter after `attemptsSoFar` failures (>= 1).
  std::int64_t baseDelayMs(unsigned attemptsSoFar) const;
  // The deadline of a message that arrived at arrivalMs.
  std::int64_t expiresAtMs(std::int64_t arrivalMs) const { return arrivalMs + maxAgeMs_; }

 private:
  std::vector<std::int64_t> delaysMs_;
  std::int64_t maxAgeMs_;
  double jitter_;
  std::uint64_t seed_;
};

}  // namespace sluice::ops
