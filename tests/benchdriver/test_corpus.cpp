// test_corpus.cpp: the benchmark's message generator (bench/driver/corpus.hpp): every shape gives bodies of exactly
// the requested size at many sizes and message numbers, CRLF-clean with short lines, 7-bit except html8 (valid
// UTF-8 with 8-bit octets), well-formed MIME for multipart (boundaries, whole base64 lines), deterministic, and
// recipients spread over the requested number of domains.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "bench/driver/corpus.hpp"

using namespace sluice::bench;

namespace {

// True when every CR is followed by LF and every LF preceded by CR, and no line exceeds maxLine octets.
bool crlfClean(std::string_view s, std::size_t maxLine) {
  std::size_t lineStart = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      if (i + 1 >= s.size() || s[i + 1] != '\n') return false;
      if (i - lineStart > maxLine) return false;
      lineStart = i + 2;
      ++i;
    } else if (s[i] == '\n') {
      return false;
    }
  }
  return lineStart == s.size();  // ends with CRLF
}

bool sevenBit(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80 || c == 0) return false;
  return true;
}

// Strict UTF-8 check (no overlongs, no surrogates, at most U+10FFFF).
bool validUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
    if (n == 9 || i + n >= s.size() + (n == 0 ? 1 : 0)) return false;
    std::uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
    for (std::size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 2) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

std::string bodyOf(const Corpus& c, std::uint64_t i) {
  std::string out;
  c.body(i, out);
  return out;
}

}  // namespace

TEST_CASE("shape names round-trip and unknown names are refused") {
  for (Shape s : {Shape::Plain, Shape::Html8, Shape::Multipart}) CHECK(parseShape(shapeName(s)) == s);
  CHECK_FALSE(parseShape("html").has_value());
  CHECK_FALSE(parseShape("").has_value());
}

TEST_CASE("every shape gives bodies of exactly the requested size, CRLF-clean, lines within 80 octets") {
  for (Shape s : {Shape::Plain, Shape::Html8, Shape::Multipart}) {
    CorpusOptions o;
    o.shape = s;
    o.domains = 997;
    Corpus probe(o);
    std::size_t min = probe.minimumSize();
    // Sizes around the minimum, around line and template boundaries, and large ones.
    for (std::size_t size : {min, min + 1, min + 2, min + 3, min + 77, min + 78, min + 79, std::size_t{5120},
                             std::size_t{16384 + 900}, std::size_t{40000}, std::size_t{1} << 20}) {
      o.size = size;
      Corpus c(o);
      for (std::uint64_t i : {std::uint64_t{0}, std::uint64_t{7}, std::uint64_t{123456},
                              std::uint64_t{18446744073709551615ull}}) {
        std::string b = bodyOf(c, i);
        CAPTURE(shapeName(s));
        CAPTURE(size);
        CAPTURE(i);
        CHECK(b.size() == size);
        CHECK(crlfClean(b, 80));
      }
    }
  }
}

TEST_CASE("a size below the minimum is raised to the minimum, never cut") {
  CorpusOptions o;
  o.size = 10;
  Corpus c(o);
  CHECK(c.bodySize() == c.minimumSize());
  CHECK(c.minimumSize() > 10);
  CHECK(bodyOf(c, 5).size() == c.minimumSize());
}

TEST_CASE("plain and multipart are 7-bit; html8 is valid UTF-8 with 8-bit octets and asks for 8BITMIME") {
  CorpusOptions o;
  o.size = 8000;
  o.shape = Shape::Plain;
  Corpus plain(o);
  CHECK(sevenBit(bodyOf(plain, 3)));
  CHECK_FALSE(plain.eightBit());
  CHECK(plain.mailParams().empty());
  o.shape = Shape::Multipart;
  Corpus multi(o);
  CHECK(sevenBit(bodyOf(multi, 3)));
  CHECK(multi.mailParams().empty());
  o.shape = Shape::Html8;
  Corpus html(o);
  std::string h = bodyOf(html, 3);
  CHECK_FALSE(sevenBit(h));
  CHECK(validUtf8(h));
  CHECK(html.eightBit());
  CHECK(html.mailParams() == "BODY=8BITMIME");
  CHECK(h.find("Content-Type: text/html; charset=utf-8\r\n") != std::string::npos);
  CHECK(h.find("</html>\r\n") == h.size() - 9);
}

TEST_CASE("multipart: mixed and alternative boundaries, whole base64 lines, closing delimiter present") {
  CorpusOptions o;
  o.shape = Shape::Multipart;
  o.size = 5120;
  Corpus c(o);
  std::string b = bodyOf(c, 42);
  CHECK(b.find("Content-Type: multipart/mixed; boundary=\"=_sluice_bench_mixed\"\r\n") != std::string::npos);
  CHECK(b.find("\r\n--=_sluice_bench_alt\r\nContent-Type: text/plain") != std::string::npos);
  CHECK(b.find("\r\n--=_sluice_bench_alt\r\nContent-Type: text/html") != std::string::npos);
  CHECK(b.find("\r\n--=_sluice_bench_alt--\r\n") != std::string::npos);
  std::size_t att = b.find("Content-Transfer-Encoding: base64\r\n\r\n");
  std::size_t close = b.find("\r\n--=_sluice_bench_mixed--\r\n");
  REQUIRE(att != std::string::npos);
  REQUIRE(close != std::string::npos);
  REQUIRE(close > att);
  // Between them: whole 76-character base64 lines only (each a multiple of 4 characters).
  std::string_view data(b.data() + att + 37, close + 2 - (att + 37));
  CHECK(data.size() % 78 == 0);
  CHECK(data.size() > 4000);
  for (std::size_t p = 0; p < data.size(); p += 78) {
    for (std::size_t k = 0; k < 76; ++k) {
      char ch = data[p + k];
      bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
                ch == '/';
      REQUIRE(ok);
    }
    REQUIRE(data.substr(p + 76, 2) == "\r\n");
  }
}

TEST_CASE("bodies are deterministic and differ per message only in their headers and text parts") {
  CorpusOptions o;
  o.size = 5120;
  Corpus a(o), b(o);
  CHECK(bodyOf(a, 99) == bodyOf(b, 99));
  CHECK(bodyOf(a, 99) != bodyOf(a, 100));
  CHECK(bodyOf(a, 99).find("Message-ID: <99.bench@sluice.test>\r\n") != std::string::npos);
  CHECK(bodyOf(a, 99).find("To: <r99.0@d0.bench.test>\r\n") != std::string::npos);
}

TEST_CASE("recipients are spread evenly over the domains, distinct per message and index") {
  CorpusOptions o;
  o.rcpts = 3;
  o.domains = 7;
  Corpus c(o);
  std::set<std::string> all;
  unsigned perDomain[7] = {};
  for (std::uint64_t i = 0; i < 70; ++i) {
    for (unsigned j = 0; j < 3; ++j) {
      all.insert(c.recipient(i, j));
      ++perDomain[c.domainOf(i, j)];
    }
  }
  CHECK(all.size() == 210);
  for (unsigned d : perDomain) CHECK(d == 30);
  CHECK(c.recipient(5, 2) == "r5.2@d3.bench.test");  // (5 * 3 + 2) % 7 == 3
}

TEST_CASE("validate refuses out-of-range options") {
  CorpusOptions o;
  CHECK(validate(o).empty());
  o.rcpts = 0;
  CHECK_FALSE(validate(o).empty());
  o = {};
  o.domains = 0;
  CHECK_FALSE(validate(o).empty());
  o = {};
  o.size = kMaxCorpusBodySize + 1;
  CHECK_FALSE(validate(o).empty());
  o = {};
  o.sender = "a b@c";
  CHECK_FALSE(validate(o).empty());
}
