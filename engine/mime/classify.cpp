// classify.cpp: classify() (the spool record's MIME flags, one pass over the message) and the octet scans the
// planner shares with it (scan.hpp). Pure functions; no allocation; safe from any thread.
#include <cstdint>
#include <cstring>

#include "engine/mime/mime.hpp"
#include "engine/mime/scan.hpp"

namespace sluice::mime {
namespace detail {

namespace {

constexpr std::uint64_t kHigh = 0x8080808080808080ull;
constexpr std::uint64_t kLow = 0x0101010101010101ull;

std::uint64_t load(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

}  // namespace

bool hasEightBit(std::string_view s) {
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t acc = 0;
  for (; n >= 32; p += 32, n -= 32) acc |= load(p) | load(p + 8) | load(p + 16) | load(p + 24);
  for (; n >= 8; p += 8, n -= 8) acc |= load(p);
  if (acc & kHigh) return true;
  for (; n > 0; ++p, --n) {
    if (static_cast<unsigned char>(*p) >= 0x80) return true;
  }
  return false;
}

bool hasNul(std::string_view s) {
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    const std::uint64_t w = load(p);
    if ((w - kLow) & ~w & kHigh) return true;  // some byte of w is zero
  }
  for (; n > 0; ++p, --n) {
    if (*p == 0) return true;
  }
  return false;
}

Scan scan(std::string_view s) {
  Scan r;
  r.eightBit = hasEightBit(s);
  r.nul = hasNul(s);
  // Lines end at CRLF only: a bare CR or LF does not end a line (the stricter reading).
  std::size_t lineStart = 0;
  std::size_t from = 0;
  while (from < s.size()) {
    const void* hit = std::memchr(s.data() + from, '\n', s.size() - from);
    if (hit == nullptr) break;
    const std::size_t lf = static_cast<std::size_t>(static_cast<const char*>(hit) - s.data());
    from = lf + 1;
    if (lf > lineStart && s[lf - 1] == '\r') {
      if (lf - 1 - lineStart > kMaxLine) {
        r.longLine = true;
        return r;
      }
      lineStart = lf + 1;
    } else if (lf + 1 - lineStart > kMaxLine) {
      r.longLine = true;  // already too long whatever follows
      return r;
    }
  }
  if (s.size() - lineStart > kMaxLine) r.longLine = true;
  return r;
}

}  // namespace detail

namespace {

// True when line (one header line, CRLF removed) starts the MIME-Version field.
bool isMimeVersion(std::string_view line) {
  constexpr std::string_view kName = "mime-version";
  if (line.size() < kName.size()) return false;
  for (std::size_t i = 0; i < kName.size(); ++i) {
    char c = line[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kName[i]) return false;
  }
  std::size_t i = kName.size();
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == ':';
}

}  // namespace

std::uint8_t classify(std::string_view message) {
  std::uint8_t flags = kClassified;
  // The top-level header: up to the first empty line (CRLF, or a bare LF for robustness).
  std::size_t pos = 0;
  std::size_t bodyStart = message.size();
  while (pos < message.size()) {
    const void* hit = std::memchr(message.data() + pos, '\n', message.size() - pos);
    const std::size_t lf = hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - message.data())
                               : message.size();
    std::string_view line = message.substr(pos, lf - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() && hit != nullptr) {
      bodyStart = lf + 1;
      break;
    }
    if (isMimeVersion(line)) flags |= kMime;
    if (detail::hasEightBit(line)) flags |= kEightBitHeaders;
    if (line.size() > detail::kMaxLine) flags |= kBinary;  // not even BINARYMIME carries it: convert() folds it
    pos = lf + 1;
  }
  if (bodyStart < message.size()) {
    const detail::Scan s = detail::scan(message.substr(bodyStart));
    if (s.eightBit) flags |= kEightBit;
    if (s.nul || s.longLine) flags |= kBinary;
  }
  return flags;
}

}  // namespace sluice::mime
