// scan.hpp (internal to engine/mime): the octet scans shared by classify() and the planner: does a slice hold
// 8-bit octets, a NUL, a line over 998 octets (lines end at CRLF; RFC 5321 §4.5.3.1.6)?
// Pure functions on views; no allocation.
#pragma once

#include <cstddef>
#include <string_view>

namespace sluice::mime::detail {

inline constexpr std::size_t kMaxLine = 998;  // octets of one line, CRLF excluded (RFC 5321 §4.5.3.1.6)

struct Scan {
  bool eightBit = false;  // an octet >= 0x80
  bool nul = false;       // a NUL octet
  bool longLine = false;  // a line (split at CRLF only) longer than kMaxLine

  // True when the slice can travel as it is: under 7-bit rules (sevenBit) also no 8-bit octet.
  bool fits(bool sevenBit) const { return !nul && !longLine && (!sevenBit || !eightBit); }
};

// Scans s for 8-bit octets, NUL and long lines.
Scan scan(std::string_view s);

// True when s has an octet >= 0x80 / a NUL (word-at-a-time).
bool hasEightBit(std::string_view s);
bool hasNul(std::string_view s);

}  // namespace sluice::mime::detail
