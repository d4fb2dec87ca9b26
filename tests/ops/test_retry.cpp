// test_retry.cpp: the retry schedule as a table (delays, repeat of the last step, the final attempt at expiry,
// giving up after max_age with 4.4.7 per RFC 3463 §3.5), and the bounded, deterministic jitter.
#include "engine/ops/retry.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace sluice::ops;

namespace {

constexpr std::int64_t kMin = 60'000;
constexpr std::int64_t kHour = 60 * kMin;
constexpr std::int64_t kDay = 24 * kHour;

RetryConfig noJitter() {
  RetryConfig c;
  c.jitter = 0;
  return c;
}

}  // namespace

TEST_CASE("default schedule: 5m 10m 20m 40m 1h 2h 4h 8h, the last step repeating, give up after 5 days") {
  const RetrySchedule s(noJitter());
  struct Row {
    unsigned attempts;
    std::int64_t arrival;
    std::int64_t now;
    std::optional<std::int64_t> next;
  };
  const std::int64_t t0 = 1'800'000'000'000;  // some unix ms
  const Row rows[] = {
      {0, t0, t0, t0},                          // never tried: now
      {1, t0, t0, t0 + 5 * kMin},
      {2, t0, t0 + 5 * kMin, t0 + 15 * kMin},
      {3, t0, t0 + 15 * kMin, t0 + 35 * kMin},
      {4, t0, t0 + 35 * kMin, t0 + 75 * kMin},
      {5, t0, t0 + 75 * kMin, t0 + 135 * kMin},
      {6, t0, t0, t0 + 2 * kHour},
      {7, t0, t0, t0 + 4 * kHour},
      {8, t0, t0, t0 + 8 * kHour},
      {9, t0, t0, t0 + 8 * kHour},              // the last step repeats
      {500, t0, t0 + kDay, t0 + kDay + 8 * kHour},
      {20, t0, t0 + 5 * kDay - kHour, t0 + 5 * kDay},  // one last attempt exactly at expiry
      {20, t0, t0 + 5 * kDay - 1, t0 + 5 * kDay},
      {20, t0, t0 + 5 * kDay, std::nullopt},    // queued max_age: give up
      {20, t0, t0 + 6 * kDay, std::nullopt},
      {0, t0, t0 + 5 * kDay, std::nullopt},     // even if never tried
  };
  for (const Row& r : rows) {
    CAPTURE(r.attempts);
    CAPTURE(r.now - r.arrival);
    CHECK(s.nextAttemptMs(r.attempts, r.arrival, r.now) == r.next);
  }
  CHECK(s.baseDelayMs(1) == 5 * kMin);
  CHECK(s.baseDelayMs(8) == 8 * kHour);
  CHECK(s.baseDelayMs(1000) == 8 * kHour);
  CHECK(s.expiresAtMs(t0) == t0 + 5 * kDay);
  CHECK(kExpiredEnhancedCode == "4.4.7");
}

TEST_CASE("a configured schedule and max_age are used as given") {
  const auto parsed = parseConfig("retry:\n  schedule: [30s, 2m]\n  max_age: 10m\n  jitter: 0\n", "t.yaml");
  REQUIRE(parsed.config);
  const RetrySchedule s(parsed.config->retry);
  CHECK(s.nextAttemptMs(1, 0, 0) == 30'000);
  CHECK(s.nextAttemptMs(2, 0, 30'000) == 150'000);
  CHECK(s.nextAttemptMs(3, 0, 150'000) == 270'000);
  CHECK(s.nextAttemptMs(9, 0, 9 * kMin) == 10 * kMin);
  CHECK(s.nextAttemptMs(10, 0, 10 * kMin) == std::nullopt);
}

TEST_CASE("jitter stretches a delay by at most the configured fraction, deterministically") {
  RetryConfig c;
  c.jitter = 0.1;
  const RetrySchedule s(c, 42);
  const RetrySchedule other(c, 43);
  std::set<std::int64_t> seen;
  int differs = 0;
  for (std::int64_t arrival = 0; arrival < 200; ++arrival) {
    const auto next = s.nextAttemptMs(1, arrival, arrival);
    REQUIRE(next);
    const std::int64_t delay = *next - arrival;
    CHECK(delay >= 5 * kMin);
    CHECK(delay <= 5 * kMin + 30'000);
    CHECK(s.nextAttemptMs(1, arrival, arrival) == next);  // same question, same answer
    seen.insert(delay);
    differs += other.nextAttemptMs(1, arrival, arrival) != next ? 1 : 0;
  }
  CHECK(seen.size() > 100);  // messages that arrived at different times spread out
  CHECK(differs > 100);      // and the seed matters
  // Jitter never pushes an attempt past the expiry time.
  CHECK(s.nextAttemptMs(8, 0, 5 * kDay - kMin) == 5 * kDay);
}
