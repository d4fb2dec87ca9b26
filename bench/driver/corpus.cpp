// corpus.cpp: the benchmark's message generator (see corpus.hpp for the contract).
#include "bench/driver/corpus.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace sluice::bench {
namespace {

constexpr std::size_t kLineOctets = 76;      // text before CRLF in filler lines (RFC 5322 §2.1.1 recommends 78)
constexpr std::size_t kFillerOctets = 16384;  // size of the filler template (whole lines)

// A small fixed-seed generator: the same corpus on every run and every machine.
struct Lcg {
  std::uint64_t state;
  std::uint32_t next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(state >> 33);
  }
};

constexpr std::array<std::string_view, 24> kAsciiWords = {
    "delivery", "relay",  "queue",   "message", "segment", "journal", "pipeline", "chunk",
    "sender",   "domain", "receipt", "outbound", "bounce", "retry",   "connection", "transport",
    "the",      "a",      "of",      "and",     "to",      "with",    "through",  "every"};
// UTF-8 words: accented Latin, Greek, Cyrillic, CJK and a symbol, so the body exercises real 8-bit content.
constexpr std::array<std::string_view, 16> kUtf8Words = {
    "Gr\xc3\xbc\xc3\x9f" "e",         "na\xc3\xafve",        "caf\xc3\xa9",  "fa\xc3\xa7" "ade",
    "sm\xc3\xb6rg\xc3\xa5sbord",       "\xe2\x82\xac" "12",   "\xce\xb1\xce\xb2\xce\xb3",
    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
    "Z\xc3\xbcrich", "se\xc3\xb1or", "\xc3\xa5r", "delivery", "relay", "message", "queue"};

constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kRemainderText =
    "Padding text so that every message has exactly the requested size, no more and no less.";
static_assert(kRemainderText.size() >= kLineOctets + 2);

constexpr std::string_view kMixed = "=_sluice_bench_mixed";
constexpr std::string_view kAlt = "=_sluice_bench_alt";

// Builds the filler template: words wrapped at kLineOctets octets (UTF-8 sequences are never split).
std::string wrappedWords(Shape shape) {
  std::string out;
  Lcg rng{shape == Shape::Html8 ? 0x5eedu : 0x1234u};
  std::string line;
  unsigned lines = 0;
  while (out.size() < kFillerOctets) {
    std::string_view w = shape == Shape::Html8 ? kUtf8Words[rng.next() % kUtf8Words.size()]
                                               : kAsciiWords[rng.next() % kAsciiWords.size()];
    if (!line.empty() && line.size() + 1 + w.size() > kLineOctets) {
      if (shape == Shape::Html8 && ++lines % 6 == 0 && line.size() + 4 <= kLineOctets) line += "</p>";
      out += line;
      out += "\r\n";
      line.clear();
      if (shape == Shape::Html8 && lines % 6 == 0) line = "<p>";
    }
    if (!line.empty() && line != "<p>") line += ' ';
    line += w;
  }
  return out;
}

// Builds the base64 filler: pseudo-random bytes encoded in 76-character lines (57 octets each).
std::string base64Lines() {
  std::string out;
  Lcg rng{0xa77ac4u};
  while (out.size() < kFillerOctets) {
    for (std::size_t i = 0; i < kLineOctets; ++i) out += kBase64[rng.next() % 64];
    out += "\r\n";
  }
  return out;
}

void appendNumber(std::string& out, std::uint64_t v) {
  char buf[24];
  std::size_t n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) out += buf[--n];
}

}  // namespace

std::optional<Shape> parseShape(std::string_view name) {
  if (name == "plain") return Shape::Plain;
  if (name == "html8") return Shape::Html8;
  if (name == "multipart") return Shape::Multipart;
  return std::nullopt;
}

std::string_view shapeName(Shape s) {
  switch (s) {
    case Shape::Plain: return "plain";
    case Shape::Html8: return "html8";
    case Shape::Multipart: return "multipart";
  }
  return "plain";
}

std::string validate(const CorpusOptions& o) {
  if (o.size > kMaxCorpusBodySize) return "size is larger than the 64 MiB the generator builds";
  if (o.rcpts < 1 || o.rcpts > kMaxCorpusRcpts) return "recipients per message must be 1..1000";
  if (o.domains < 1 || o.domains > kMaxCorpusDomains) return "domains must be 1..1000000";
  if (o.sender.empty() || o.sender.find_first_of("<>\r\n ") != std::string::npos) return "bad sender address";
  if (o.domainSuffix.empty() || o.domainSuffix.find_first_of("<>@\r\n ") != std::string::npos)
    return "bad domain suffix";
  return "";
}

Corpus::Corpus(CorpusOptions options) : opts_(std::move(options)) {
  filler_ = opts_.shape == Shape::Multipart ? base64Lines() : wrappedWords(opts_.shape);
  for (std::size_t pos = 0; pos < filler_.size();) {
    pos = filler_.find("\r\n", pos) + 2;
    lineEnds_.push_back(pos);
  }
  // The longest head: the largest message number and domain index. Two more octets guarantee that the filler
  // always has room for at least one (possibly empty) CRLF line, so every body can be sized exactly.
  std::string number;
  appendNumber(number, std::numeric_limits<std::uint64_t>::max());
  std::string to = "r" + number + ".0@d";
  appendNumber(to, opts_.domains - 1);
  to += "." + opts_.domainSuffix;
  std::string h;
  std::string_view tail = head(number, to, h);
  minSize_ = h.size() + tail.size() + 2;
  bodySize_ = std::max(opts_.size, minSize_);
}

std::string_view Corpus::mailParams() const { return eightBit() ? "BODY=8BITMIME" : ""; }

unsigned Corpus::domainOf(std::uint64_t i, unsigned j) const {
  return static_cast<unsigned>((i * opts_.rcpts + j) % opts_.domains);
}

std::string Corpus::recipient(std::uint64_t i, unsigned j) const {
  std::string r = "r";
  appendNumber(r, i);
  r += '.';
  appendNumber(r, j);
  r += "@d";
  appendNumber(r, domainOf(i, j));
  r += '.';
  r += opts_.domainSuffix;
  return r;
}

std::string_view Corpus::head(std::string_view number, std::string_view to, std::string& out) const {
  out += "From: Sluice Bench <";
  out += opts_.sender;
  out += ">\r\nTo: <";
  out += to;
  out += opts_.rcpts > 1 ? ">, undisclosed-recipients:;\r\n" : ">\r\n";
  out += "Subject: Sluice benchmark message ";
  out += number;
  out += "\r\nDate: Sun, 01 Mar 2026 12:00:00 +0000\r\nMessage-ID: <";
  out += number;
  out += ".bench@sluice.test>\r\nMIME-Version: 1.0\r\n";
  switch (opts_.shape) {
    case Shape::Plain:
      out += "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n";
      return "";
    case Shape::Html8:
      out += "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
             "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>Gr\xc3\xbc\xc3\x9f" "e</title></head>"
             "<body>\r\n<p>";
      return "</p></body></html>\r\n";
    case Shape::Multipart:
      out += "Content-Type: multipart/mixed; boundary=\"";
      out += kMixed;
      out += "\"\r\n\r\nThis is a multi-part message in MIME format.\r\n--";
      out += kMixed;
      out += "\r\nContent-Type: multipart/alternative; boundary=\"";
      out += kAlt;
      out += "\"\r\n\r\n--";
      out += kAlt;
      out += "\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
             "This is benchmark message ";
      out += number;
      out += ";\r\nthe attachment holds pseudo-random data.\r\n--";
      out += kAlt;
      out += "\r\nContent-Type: text/html; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
             "<html><body><p>This is benchmark message ";
      out += number;
      out += ";\r\nthe attachment holds pseudo-random data.</p></body></html>\r\n--";
      out += kAlt;
      out += "--\r\n\r\n--";
      out += kMixed;
      out += "\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n"
             "Content-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
      // The closing delimiter; whatever follows it (the size remainder) is the MIME epilogue.
      return "--=_sluice_bench_mixed--\r\n";
  }
  return "";
}

void Corpus::fillText(std::size_t n, std::string& out) const {
  // Whole copies of the template, then its longest whole-line prefix that leaves at least 2 octets.
  while (n >= filler_.size() + 2) {
    out += filler_;
    n -= filler_.size();
  }
  auto it = std::upper_bound(lineEnds_.begin(), lineEnds_.end(), n - 2);
  if (it != lineEnds_.begin()) {
    std::size_t e = *(it - 1);
    out.append(filler_, 0, e);
    n -= e;
  }
  // n - 2 octets of plain text (less than one filler line plus one), then CRLF.
  out.append(kRemainderText.substr(0, n - 2));
  out += "\r\n";
}

void Corpus::body(std::uint64_t i, std::string& out) const {
  out.clear();
  std::string number;
  appendNumber(number, i);
  std::string_view tail = head(number, recipient(i, 0), out);
  std::size_t n = bodySize_ - out.size() - tail.size();  // >= 2 by the choice of minSize_
  if (opts_.shape != Shape::Multipart) {
    fillText(n, out);
    out += tail;
    return;
  }
  // Multipart: whole 78-octet base64 lines, the closing delimiter, then the remainder (2..79 octets) as one
  // epilogue line, so the attachment stays valid base64 whatever the size.
  constexpr std::size_t kLine = kLineOctets + 2;
  std::size_t lines = (n - 2) / kLine;
  for (std::size_t done = 0; done < lines;) {
    std::size_t take = std::min(lines - done, filler_.size() / kLine);
    out.append(filler_, 0, take * kLine);
    done += take;
  }
  out += tail;
  std::size_t rest = n - lines * kLine;
  out.append(kRemainderText.substr(0, rest - 2));
  out += "\r\n";
}

}  // namespace sluice::bench
