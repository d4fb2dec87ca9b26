// capabilities.cpp: turns a 2xx reply to EHLO into the set of ESMTP extensions the peer offers
// (RFC 5321 §4.1.1.1; keywords per RFC 1870, 1985, 2034, 2920, 3030, 3207, 3461, 4954, 6152, 6531).
#include "engine/smtp/capabilities.hpp"

#include <algorithm>
#include <limits>
#include <string_view>

#include "engine/smtp/ascii.hpp"

namespace sluice::smtp {

namespace {

// True for the separators between EHLO tokens (RFC 5321 uses SP; tabs are tolerated).
constexpr bool isSpace(char c) { return c == ' ' || c == '\t'; }

// ASCII upper-case copy of a token.
std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = upperAscii(c);
  return out;
}

// Splits a line into whitespace-separated tokens.
std::vector<std::string_view> tokens(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && isSpace(line[i])) ++i;
    std::size_t j = i;
    while (j < line.size() && !isSpace(line[j])) ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// Adds `item` to `list` unless already there (lists are short: linear search is fine).
void addUnique(std::vector<std::string>& list, std::string item) {
  if (item.empty()) return;
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(std::move(item));
}

// Parses the SIZE argument: decimal digits, saturating at the maximum; false when it is not a number.
bool parseSize(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
      v = std::numeric_limits<std::uint64_t>::max();
    } else {
      v = v * 10 + d;
    }
  }
  out = v;
  return true;
}

// Applies one capability line (keyword and parameters) to caps.
void applyLine(Capabilities& caps, std::string_view line) {
  const std::vector<std::string_view> t = tokens(line);
  if (t.empty()) return;  // e.g. the empty final "250 " line of Postfix smtp-sink
  std::string keyword = upper(t[0]);
  std::vector<std::string_view> params(t.begin() + 1, t.end());

  // Old AUTH form (pre RFC 4954 clients and servers): "AUTH=LOGIN PLAIN".
  if (keyword.size() >= 5 && keyword.compare(0, 5, "AUTH=") == 0) {
    addUnique(caps.auth, keyword.substr(5));
    for (std::string_view p : params) addUnique(caps.auth, upper(p));
    return;
  }

  if (keyword == "PIPELINING") {
    caps.pipelining = true;
  } else if (keyword == "CHUNKING") {
    caps.chunking = true;
  } else if (keyword == "BINARYMIME") {
    caps.binaryMime = true;
  } else if (keyword == "8BITMIME") {
    caps.eightBitMime = true;
  } else if (keyword == "DSN") {
    caps.dsn = true;
  } else if (keyword == "SMTPUTF8") {
    caps.smtpUtf8 = true;
  } else if (keyword == "STARTTLS") {
    caps.startTls = true;
  } else if (keyword == "ENHANCEDSTATUSCODES") {
    caps.enhancedStatusCodes = true;
  } else if (keyword == "ETRN") {
    caps.etrn = true;
  } else if (keyword == "SIZE") {
    // RFC 1870 §4: "SIZE" alone or "SIZE 0" means no fixed limit; an unreadable number is treated the same.
    caps.size = true;
    std::uint64_t n = 0;
    caps.sizeLimit = (!params.empty() && parseSize(params[0], n)) ? n : 0;
  } else if (keyword == "AUTH") {
    for (std::string_view p : params) addUnique(caps.auth, upper(p));
  } else {
    addUnique(caps.other, std::move(keyword));
  }
}

}  // namespace

// Reads the extension keywords from every line but the first; a non-2xx reply yields an empty, non-ESMTP set.
Capabilities parseEhlo(const Reply& ehloReply) {
  Capabilities caps;
  if (ehloReply.klass() != ReplyClass::Positive) return caps;
  caps.esmtp = true;
  if (ehloReply.lines.empty()) return caps;
  const std::vector<std::string_view> first = tokens(ehloReply.lines.front());
  if (!first.empty()) caps.domain.assign(first.front());
  for (std::size_t i = 1; i < ehloReply.lines.size(); ++i) applyLine(caps, ehloReply.lines[i]);
  return caps;
}

}  // namespace sluice::smtp
