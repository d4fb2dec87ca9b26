// test_dotstuff.cpp: DotStuffer (RFC 5321 §4.5.2 transparency, §2.3.8 CRLF only, §4.1.1.4 end of data), spec edge
// cases 11 and 12, every input fed under every segmentation, plus a seeded round-trip property test.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/smtp/dotstuff.hpp"
#include "split_feed.hpp"

using sluice::smtp::DotStuffer;
using sluice::test::Segments;

namespace {

// Encodes the segments with a fresh stuffer and finishes the message.
std::string stuff(const Segments& parts) {
  DotStuffer d;
  std::string out;
  for (std::string_view s : parts) d.feed(s, out);
  d.finish(out);
  return out;
}

// Reference normalisation: CRLF stays, bare CR and bare LF become CRLF, a non-empty last line gets its CRLF.
std::string normalise(std::string_view in) {
  std::string out;
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
  if (!out.empty() && (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0)) out += "\r\n";
  return out;
}

// The receiving side's view: reads CRLF lines up to the lone "." line, removing one leading "." from the others.
// Fails (returns false) on a bare CR or LF, on missing terminator, or on bytes after the terminator.
bool unstuff(std::string_view wire, std::string& body) {
  body.clear();
  std::size_t i = 0;
  for (;;) {
    const std::size_t eol = wire.find("\r\n", i);
    if (eol == std::string_view::npos) return false;
    std::string_view line = wire.substr(i, eol - i);
    if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) return false;
    i = eol + 2;
    if (line == ".") return i == wire.size();  // the terminator must be the very end
    if (!line.empty() && line[0] == '.') line.remove_prefix(1);
    body.append(line.data(), line.size());
    body += "\r\n";
  }
}

}  // namespace

TEST_CASE("RFC 5321 §4.5.2 / §2.3.8 / spec edge cases 11, 12: dot-stuffing table under every segmentation") {
  struct Row {
    const char* name;
    std::string in;
    std::string want;
  };
  const std::vector<Row> rows = {
      {"empty body", "", ".\r\n"},
      {"plain lines", "Subject: x\r\n\r\nhello\r\n", "Subject: x\r\n\r\nhello\r\n.\r\n"},
      {"lone dot line", ".\r\n", "..\r\n.\r\n"},
      {"lone dot without CRLF", ".", "..\r\n.\r\n"},
      {"two dots", "..\r\n", "...\r\n.\r\n"},
      {"dot space x", ". x\r\n", ".. x\r\n.\r\n"},
      {"final line without CRLF", "no newline", "no newline\r\n.\r\n"},
      {"CRLF.CRLF look-alike inside the body", "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
      {"look-alike then text without CRLF", "x\r\n.\r\ny", "x\r\n..\r\ny\r\n.\r\n"},
      {"body ends with a dot line start", "a\r\n.", "a\r\n..\r\n.\r\n"},
      {"dots not at line start untouched", "a.b\r\n x.\r\n", "a.b\r\n x.\r\n.\r\n"},
      {"empty lines", "\r\n\r\n", "\r\n\r\n.\r\n"},
      {"blank line then dot", "a\r\n\r\n.\r\n", "a\r\n\r\n..\r\n.\r\n"},
      // Edge case 12: bare LF and bare CR become CRLF, so "\n.\n" can never end DATA downstream.
      {"bare LF", "a\nb\n", "a\r\nb\r\n.\r\n"},
      {"bare LF dot bare LF (smuggling look-alike)", "a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},
      {"bare CR dot bare CR", "a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"},
      {"lone LF", "\n", "\r\n.\r\n"},
      {"lone CR", "\r", "\r\n.\r\n"},
      {"CR CR LF", "\r\r\n", "\r\n\r\n.\r\n"},
      {"LF CR", "\n\r", "\r\n\r\n.\r\n"},
      {"CRLF then bare LF", "\r\n\n", "\r\n\r\n.\r\n"},
      {"LF dot CRLF", "x\n.\r\n", "x\r\n..\r\n.\r\n"},
      {"CR at the very end", "a\r", "a\r\n.\r\n"},
      {"NUL and 8-bit pass through", std::string("\0\xff\xc3\xa9\r\n", 6), std::string("\0\xff\xc3\xa9\r\n.\r\n", 9)},
      {"dot lines in a row", ".\r\n.\r\n.", "..\r\n..\r\n..\r\n.\r\n"},
      {"long line then dot", std::string(100, 'q') + "\r\n.a", std::string(100, 'q') + "\r\n..a\r\n.\r\n"},
  };
  for (const Row& row : rows) {
    const std::string label{row.name};
    CAPTURE(label);
    sluice::test::forEachSegmentation(row.in, [&](const Segments& parts, const std::string& how) {
      CAPTURE(how);
      CHECK(stuff(parts) == row.want);
    });
  }
}

TEST_CASE("RFC 5321 §4.5.2: finish() resets, so the next message starts clean; reset() drops a pending CR") {
  DotStuffer d;
  std::string out;
  d.feed("abc", out);
  d.finish(out);
  d.feed(".x\r", out);
  d.finish(out);
  d.feed("\n", out);  // a new message: this LF is not the tail of the previous CR
  d.finish(out);
  CHECK(out == "abc\r\n.\r\n..x\r\n.\r\n\r\n.\r\n");

  out.clear();
  d.feed("mid", out);
  d.reset();
  d.feed(".y", out);
  d.finish(out);
  CHECK(out == "mid..y\r\n.\r\n");

  out = "keep:";
  d.feed("z", out);  // feed appends
  CHECK(out == "keep:z");
  d.reset();
}

TEST_CASE("RFC 5321 §4.5.2 / §2.3.8: round trip, un-stuffing gives the CRLF-normalised input (seeded random)") {
  std::mt19937_64 rng(20261129);
  const char alphabet[] = {'.', '.', '.', '\r', '\r', '\n', '\n', 'a', 'b', ' ', '\0', '\xff'};
  for (int round = 0; round < 3000; ++round) {
    std::string in;
    const std::size_t len = rng() % 300;
    for (std::size_t i = 0; i < len; ++i) in.push_back(alphabet[rng() % sizeof(alphabet)]);
    const std::string want = normalise(in);
    CAPTURE(round);
    // Whole, a random 2-way split and a random segmentation; the full matrix runs in the table test.
    const std::size_t cut = len == 0 ? 0 : rng() % (len + 1);
    const std::vector<Segments> ways = {
        Segments{in},
        Segments{std::string_view(in).substr(0, cut), std::string_view(in).substr(cut)},
        sluice::test::randomSegments(in, static_cast<std::uint64_t>(round) + 7, 5),
    };
    std::string first;
    for (const Segments& parts : ways) {
      const std::string wire = stuff(parts);
      if (first.empty()) first = wire;
      CHECK(wire == first);
      std::string body;
      REQUIRE(unstuff(wire, body));
      CHECK(body == want);
    }
  }
}

TEST_CASE("RFC 5321 §4.5.2: a 1 MiB body in uneven chunks matches the one-shot encoding") {
  std::string in;
  std::mt19937 rng(7);
  while (in.size() < (1u << 20)) {
    const int kind = static_cast<int>(rng() % 10);
    if (kind == 0) in += ".dotted line\r\n";
    else if (kind == 1) in += "bare lf line\n";
    else in += "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
  }
  const std::string oneShot = stuff({in});
  std::string body;
  REQUIRE(unstuff(oneShot, body));
  CHECK(body == normalise(in));
  Segments parts;
  for (std::size_t off = 0; off < in.size();) {
    const std::size_t n = 1 + rng() % 4096;
    parts.push_back(std::string_view(in).substr(off, n));
    off += n;
  }
  CHECK(stuff(parts) == oneShot);
}
