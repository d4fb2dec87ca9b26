// mime_support.hpp: helpers shared by the MIME tests: reading a Conversion through cursors of several chunk
// sizes, the 7-bit / line-length invariants (RFC 5321 §2.4, §4.5.3.1.6), a reference quoted-printable and base64
// decoder (RFC 2045 §6.7, §6.8) written independently of the encoders, and a tiny MIME splitter for assertions.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "engine/mime/mime.hpp"

namespace sluice::test {

using mime::Conversion;
using mime::ConvertOptions;
using mime::ConvertResult;
using mime::Refusal;

// Options for the 8-bit-safe target (8BITMIME peer without BINARYMIME).
inline ConvertOptions eightBit() {
  ConvertOptions o;
  o.target = mime::Target::EightBit;
  return o;
}

// Reads a whole Conversion through a fresh cursor in chunks of `chunk` octets.
inline std::string readAll(const std::shared_ptr<const Conversion>& c, std::size_t chunk) {
  mime::Cursor cur = c->open();
  std::string out;
  std::string buf(chunk, '\0');
  for (;;) {
    const std::size_t n = cur.read(buf.data(), chunk);
    if (n == 0) break;
    REQUIRE(n <= chunk);
    out.append(buf.data(), n);
  }
  CHECK(cur.done());
  return out;
}

// Longest line (split at CRLF), CRLF excluded.
inline std::size_t longestLine(std::string_view s) {
  std::size_t best = 0, start = 0;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] == '\r' && s[i + 1] == '\n') {
      best = std::max(best, i - start);
      start = i + 2;
      ++i;
    }
  }
  if (start < s.size()) best = std::max(best, s.size() - start);
  return best;
}

inline bool hasHighOrNul(std::string_view s) {
  for (const char c : s) {
    if (c == 0 || static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

// Reads the output in chunks of 1, 7 and 4096 octets and one big read; all must agree with each other and with
// size(); under 7-bit rules no 8-bit octet, no NUL, no line over 998; the output ends with CRLF when the input
// does. Returns the output.
inline std::string checkedOutput(const std::shared_ptr<const Conversion>& c, std::string_view input,
                                 mime::Target target) {
  const std::string big = readAll(c, static_cast<std::size_t>(c->size()) + 16);
  CHECK(big.size() == c->size());
  CHECK(readAll(c, 1) == big);
  CHECK(readAll(c, 7) == big);
  CHECK(readAll(c, 4096) == big);
  std::uint64_t sum = 0;
  for (const mime::Piece& p : c->pieces()) sum += p.outSize;
  CHECK(sum == c->size());
  if (target == mime::Target::SevenBit) {
    CHECK_FALSE(hasHighOrNul(big));
    CHECK(longestLine(big) <= 998);
    CHECK_FALSE(c->eightBit());
  } else {
    CHECK(big.find('\0') == std::string::npos);
    CHECK(longestLine(big) <= 998);  // 8BITMIME carries 8-bit octets, not long lines
    CHECK(c->eightBit() == hasHighOrNul(big));
  }
  if (input.size() >= 2 && input.substr(input.size() - 2) == "\r\n") {
    CHECK(big.size() >= 2);
    CHECK(big.substr(big.size() - 2) == "\r\n");
  }
  return big;
}

// Converts and requires success; returns the plan.
inline std::shared_ptr<const Conversion> planOk(std::string_view msg, ConvertOptions o = {}) {
  ConvertResult r = mime::convert(msg, o);
  if (auto* ref = std::get_if<Refusal>(&r)) FAIL("refused: " << ref->enhanced << " " << ref->text);
  return std::get<std::shared_ptr<const Conversion>>(r);
}

// Converts and requires a refusal.
inline Refusal refused(std::string_view msg, ConvertOptions o = {}) {
  ConvertResult r = mime::convert(msg, o);
  REQUIRE(std::holds_alternative<Refusal>(r));
  return std::get<Refusal>(r);
}

// Reference quoted-printable decoder (RFC 2045 §6.7): "=XX", soft breaks "=CRLF", CRLF kept.
inline std::string qpDecode(std::string_view s) {
  std::string out;
  auto hexv = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 < s.size() + 0 && s[i + 1] == '\r' && s[i + 2] == '\n') {
      i += 2;
      continue;
    }
    REQUIRE(i + 2 < s.size());
    const int h = hexv(s[i + 1]), l = hexv(s[i + 2]);
    REQUIRE(h >= 0);
    REQUIRE(l >= 0);
    out.push_back(static_cast<char>(h * 16 + l));
    i += 2;
  }
  return out;
}

// Reference base64 decoder (RFC 2045 §6.8); CRLF between lines skipped, anything else outside the alphabet fails.
inline std::string b64Decode(std::string_view s) {
  static const std::string kAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (const char c : s) {
    if (c == '\r' || c == '\n') continue;
    if (c == '=') break;
    const std::size_t v = kAlpha.find(c);
    REQUIRE(v != std::string::npos);
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace sluice::test
