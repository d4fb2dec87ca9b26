// fuzz_reply_parser.cpp: libFuzzer target for ReplyParser (RFC 5321 §4.2). The first input byte picks a split
// point; the rest is fed in two pieces and then byte by byte to a second parser. Both must agree, never crash,
// and every Ready reply must satisfy the model's invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "engine/smtp/reply.hpp"

namespace {

using sluice::smtp::Reply;
using sluice::smtp::ReplyParser;

// Aborts (a finding for the fuzzer) when a condition that must always hold does not.
void require(bool ok) {
  if (!ok) std::abort();
}

// Checks what every returned reply promises.
void checkReply(const Reply& r, const sluice::smtp::ReplyLimits& lim) {
  require(r.code >= 100 && r.code <= 999);
  require(!r.lines.empty() && r.lines.size() <= lim.maxLines);
  for (const std::string& l : r.lines) require(l.size() + 4 <= lim.maxLineLength);
  if (r.enhanced.present) {
    require(r.enhanced.cls == r.code / 100);
    require(r.enhanced.cls == 2 || r.enhanced.cls == 4 || r.enhanced.cls == 5);
    require(r.enhanced.subject <= 999 && r.enhanced.detail <= 999);
  }
  (void)r.text();
  (void)r.firstLine();
  (void)r.klass();
}

// Feeds the segments, draining after each, and records replies (as first lines) plus the final status.
std::vector<std::string> run(const std::vector<std::string_view>& parts, const sluice::smtp::ReplyLimits& lim,
                             ReplyParser::Status& last) {
  ReplyParser p(lim);
  std::vector<std::string> seen;
  last = ReplyParser::Status::NeedMore;
  std::size_t fed = 0;
  for (std::string_view s : parts) {
    p.feed(s);
    fed += s.size();
    Reply r;
    while ((last = p.next(r)) == ReplyParser::Status::Ready) {
      checkReply(r, lim);
      seen.push_back(r.firstLine() + "|" + r.text() + "|" + r.enhanced.str());
    }
    if (last == ReplyParser::Status::Error) {
      require(!p.error().empty());
      break;
    }
    require(p.buffered() <= fed);
  }
  return seen;
}

}  // namespace

// libFuzzer entry point.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t cut = all.empty() ? 0 : data[0] % (all.size() + 1);
  sluice::smtp::ReplyLimits lim;
  lim.maxLineLength = 256;  // small limits so the fuzzer reaches them
  lim.maxLines = 8;

  ReplyParser::Status a = ReplyParser::Status::NeedMore, b = ReplyParser::Status::NeedMore;
  const auto two = run({all.substr(0, cut), all.substr(cut)}, lim, a);
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < all.size(); ++i) bytes.push_back(all.substr(i, 1));
  const auto one = run(bytes, lim, b);
  require(two == one);  // segmentation never changes the result
  require(a == b);
  return 0;
}
