// fuzz_mime.cpp: libFuzzer target for engine/mime: classify() and convert() under both targets and both
// non-MIME policies, with small depth limits too. Must never crash or recurse without bound; every plan's
// output, read through cursors with varying chunk sizes, must be exactly size() octets, the same for every
// chunking, and under Target::SevenBit free of octets >= 0x80 and NUL, with lines <= 998 octets once the
// input has CRLF line endings (a header line longer than that is passed on as it is, RFC 5321 §6.4).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "engine/mime/mime.hpp"

namespace {

using sluice::mime::Conversion;

// Aborts (a finding for the fuzzer) when a condition that must always hold does not.
void require(bool ok) {
  if (!ok) std::abort();
}

// The output read in chunks whose sizes cycle through `sizes`.
std::string readAll(const std::shared_ptr<const Conversion>& c, std::size_t seed) {
  static constexpr std::size_t kSizes[] = {1, 7, 64, 3, 4096, 2, 513};
  sluice::mime::Cursor cur = c->open();
  std::string out;
  char buf[4096];
  std::size_t i = seed;
  for (;;) {
    const std::size_t want = kSizes[i++ % (sizeof kSizes / sizeof kSizes[0])];
    const std::size_t n = cur.read(buf, want);
    require(n <= want);
    if (n == 0) break;
    out.append(buf, n);
    require(out.size() <= c->size());
  }
  require(cur.done());
  return out;
}

// Every CRLF-delimited line of s longer than 998 octets also occurs in input (it was copied, not produced).
bool longLinesCopied(std::string_view s, std::string_view input) {
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    const bool end = i == s.size() || (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n');
    if (!end) continue;
    if (i - start > 998 && input.find(s.substr(start, i - start)) == std::string_view::npos) return false;
    start = i + 2;
    ++i;
  }
  return true;
}

// Bare CR and LF become CRLF, as intake does.
std::string crlf(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 8);
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\r') {
      out += "\r\n";
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else if (in[i] == '\n') {
      out += "\r\n";
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

void check(std::string_view msg, bool normalised) {
  const std::uint8_t flags = sluice::mime::classify(msg);
  require((flags & sluice::mime::kClassified) != 0);
  for (int t = 0; t < 2; ++t) {
    for (int pol = 0; pol < 2; ++pol) {
      sluice::mime::ConvertOptions o;
      o.target = t == 0 ? sluice::mime::Target::SevenBit : sluice::mime::Target::EightBit;
      o.nonMime = pol == 0 ? sluice::mime::NonMimePolicy::Bounce : sluice::mime::NonMimePolicy::WrapQuotedPrintable;
      o.maxDepth = pol == 0 ? 32 : 3;
      const sluice::mime::ConvertResult r = sluice::mime::convert(msg, o);
      if (const auto* ref = std::get_if<sluice::mime::Refusal>(&r)) {
        require(ref->code == 554 && (ref->enhanced == "5.6.3" || ref->enhanced == "5.6.7"));
        continue;
      }
      const auto& c = std::get<std::shared_ptr<const Conversion>>(r);
      const std::string a = readAll(c, msg.size());
      require(a.size() == c->size());
      require(readAll(c, msg.size() + 3) == a);
      bool high = false, nul = false;
      for (const char ch : a) {
        high = high || static_cast<unsigned char>(ch) >= 0x80;
        nul = nul || ch == 0;
      }
      require(!nul);
      require(c->eightBit() == high);
      if (o.target == sluice::mime::Target::SevenBit) require(!high);
      if (o.target == sluice::mime::Target::SevenBit && normalised) require(longLinesCopied(a, msg));
      if (msg.size() >= 2 && msg.substr(msg.size() - 2) == "\r\n") {
        require(a.size() >= 2 && a.substr(a.size() - 2) == "\r\n");
      }
    }
  }
}

}  // namespace

// libFuzzer entry point.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  check(raw, false);
  const std::string normal = crlf(raw);
  check(normal, true);
  return 0;
}
