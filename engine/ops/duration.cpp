// duration.cpp: duration text for the configuration ("250ms", "90s", "5m", "2h", "5d", or integer seconds).
// Pure functions, any thread, no exceptions.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/ops/config.hpp"

namespace sluice::ops {

namespace {

constexpr std::int64_t kMaxMs = 100LL * 365 * 24 * 3600 * 1000;  // 100 years: far past any sane setting

struct Unit {
  std::string_view suffix;
  std::int64_t ms;
};
// Longest suffix first so "ms" is not read as "m".
constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};

}  // namespace

std::optional<Millis> parseDuration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  std::int64_t n = 0;
  std::from_chars(text.data(), text.data() + digits, n);
  const std::string_view suffix = text.substr(digits);
  std::int64_t unit = 0;
  if (suffix.empty()) {
    unit = 1000;
  } else {
    for (const Unit& u : kUnits) {
      if (suffix == u.suffix) unit = u.ms;
    }
  }
  if (unit == 0 || n > kMaxMs / unit) return std::nullopt;
  return Millis(n * unit);
}

std::string formatDuration(Millis d) {
  const std::int64_t ms = d.count();
  if (ms != 0) {
    for (int i = 4; i >= 1; --i) {
      if (ms % kUnits[i].ms == 0) return std::to_string(ms / kUnits[i].ms) + std::string(kUnits[i].suffix);
    }
  }
  return std::to_string(ms) + "ms";
}

}  // namespace sluice::ops
