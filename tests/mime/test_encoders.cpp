// test_encoders.cpp: QuotedPrintableEncoder (RFC 2045 §6.7 rules 1-5) and Base64Encoder (RFC 2045 §6.8) case by
// case, round trips through the reference decoders in mime_support.hpp, measure() == the size encode() gives,
// and identical output for every 2-way split of the input and for a byte-at-a-time feed (streaming).
#include <random>

#include "mime_support.hpp"

using sluice::mime::Base64Encoder;
using sluice::mime::QuotedPrintableEncoder;
using namespace sluice::test;

namespace {

std::string qp(std::string_view in) {
  QuotedPrintableEncoder e;
  std::string out;
  e.encode(in, true, out);
  return out;
}

std::string b64(std::string_view in) {
  Base64Encoder e;
  std::string out;
  e.encode(in, true, out);
  return out;
}

// Every line (split at CRLF) of s is at most max characters.
bool linesAtMost(std::string_view s, std::size_t max) { return longestLine(s) <= max; }

// The encoder output for in is the same for every 2-way split, for a byte-at-a-time feed, and for a feed ending
// with an empty `last` call.
template <class Enc>
void checkStreaming(std::string_view in) {
  std::string whole;
  Enc().encode(in, true, whole);
  for (std::size_t k = 0; k <= in.size(); ++k) {
    Enc e;
    std::string out;
    e.encode(in.substr(0, k), false, out);
    e.encode(in.substr(k), true, out);
    REQUIRE_MESSAGE(out == whole, "split at " << k);
  }
  Enc e;
  std::string bytes;
  for (std::size_t i = 0; i < in.size(); ++i) e.encode(in.substr(i, 1), false, bytes);
  e.encode({}, true, bytes);
  CHECK(bytes == whole);
}

// Pseudo-random octets (deterministic), biased towards the characters QP treats specially.
std::string randomOctets(std::uint32_t seed, std::size_t n) {
  std::mt19937 rng(seed);
  static const char kSpecial[] = {' ', '\t', '\r', '\n', '=', '.', 'a', 'Z'};
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned r = rng();
    s.push_back((r & 3) == 0 ? static_cast<char>(r >> 8) : kSpecial[(r >> 8) % sizeof kSpecial]);
  }
  return s;
}

}  // namespace

TEST_CASE("QP rule 2: printable ASCII 33..126 except '=' stands for itself (RFC 2045 §6.7)") {
  CHECK(qp("Hello, world!") == "Hello, world!");
  CHECK(qp("a=b") == "a=3Db");
  CHECK(qp("~}{") == "~}{");
}

TEST_CASE("QP rule 1: octets >= 0x80, NUL and controls are =XX with upper-case hex (RFC 2045 §6.7)") {
  CHECK(qp("caf\xC3\xA9") == "caf=C3=A9");
  CHECK(qp(std::string("a\0b", 3)) == "a=00b");
  CHECK(qp("\x7F\x1B") == "=7F=1B");
  CHECK(qp("\xFF") == "=FF");
}

TEST_CASE("QP rule 4: CRLF is a hard line break; a lone CR or LF is encoded (RFC 2045 §6.7)") {
  CHECK(qp("a\r\nb\r\n") == "a\r\nb\r\n");
  CHECK(qp("a\nb") == "a=0Ab");
  CHECK(qp("a\rb") == "a=0Db");
  CHECK(qp("a\r") == "a=0D");
  CHECK(qp("\r\r\n") == "=0D\r\n");
  CHECK(qp("\n\r") == "=0A=0D");
}

TEST_CASE("QP rule 3: space / tab before a line break or at the very end is encoded (RFC 2045 §6.7)") {
  CHECK(qp("a b") == "a b");
  CHECK(qp("a \r\n") == "a=20\r\n");
  CHECK(qp("a\t\r\n") == "a=09\r\n");
  CHECK(qp("a  \r\n") == "a =20\r\n");
  CHECK(qp("end ") == "end=20");
  CHECK(qp("end\t") == "end=09");
  CHECK(qp(" \r") == " =0D");  // followed by an encoded CR, not by a line break
  CHECK(qp(" \n") == " =0A");
}

TEST_CASE("QP: a '.' opening a line is encoded, so the output never relies on dot-stuffing") {
  CHECK(qp(".\r\n") == "=2E\r\n");
  CHECK(qp("a\r\n.b") == "a\r\n=2Eb");
  CHECK(qp("a.b") == "a.b");
}

TEST_CASE("QP rule 5: soft line breaks keep every line at most 76 characters (RFC 2045 §6.7)") {
  const std::string longText(300, 'x');
  const std::string out = qp(longText);
  CHECK(linesAtMost(out, 76));
  CHECK(out.substr(0, 77) == std::string(75, 'x') + "=\r");
  CHECK(qpDecode(out) == longText);
  // An =XX is never split by a soft break.
  const std::string encoded(200, '\xE9');
  const std::string e = qp(encoded);
  CHECK(linesAtMost(e, 76));
  CHECK(e.find("=\r\nE9") == std::string::npos);
  CHECK(qpDecode(e) == encoded);
  // The output never ends with a soft break.
  for (std::size_t n = 70; n < 80; ++n) {
    const std::string o = qp(std::string(n, 'y'));
    CHECK(o.substr(o.size() - 3) != "=\r\n");
  }
}

TEST_CASE("QP: round trip, measure() == encoded size, same output for every split (streaming)") {
  const std::string samples[] = {
      "",
      " ",
      "\r",
      "a \r\nb\t\r\n \r\n\r\n",
      "Le c\xC5\x93ur a ses raisons que la raison ne conna\xC3\xAEt point. = ?\r\n",
      std::string(160, ' ') + "\r\n" + std::string(150, '=') + "\r\n.",
      randomOctets(1, 600),
      randomOctets(2, 333),
  };
  for (const std::string& s : samples) {
    const std::string out = qp(s);
    CHECK(qpDecode(out) == s);
    CHECK(QuotedPrintableEncoder::measure(s) == out.size());
    CHECK(linesAtMost(out, 76));
    for (const char c : out) CHECK(((c >= 33 && c <= 126) || c == ' ' || c == '\t' || c == '\r' || c == '\n'));
    checkStreaming<QuotedPrintableEncoder>(s);
  }
}

TEST_CASE("QP: random inputs keep every invariant (seeded property test)") {
  for (std::uint32_t seed = 10; seed < 60; ++seed) {
    const std::string s = randomOctets(seed, 50 + seed * 7);
    const std::string out = qp(s);
    REQUIRE(qpDecode(out) == s);
    REQUIRE(QuotedPrintableEncoder::measure(s) == out.size());
    REQUIRE(linesAtMost(out, 76));
    // No white space right before a line break (rule 3).
    CHECK(out.find(" \r\n") == std::string::npos);
    CHECK(out.find("\t\r\n") == std::string::npos);
  }
}

TEST_CASE("base64: RFC 4648 §10 vectors through the RFC 2045 §6.8 encoder") {
  CHECK(b64("") == "");
  CHECK(b64("f") == "Zg==");
  CHECK(b64("fo") == "Zm8=");
  CHECK(b64("foo") == "Zm9v");
  CHECK(b64("foob") == "Zm9vYg==");
  CHECK(b64("fooba") == "Zm9vYmE=");
  CHECK(b64("foobar") == "Zm9vYmFy");
  CHECK(b64(std::string("\0\xFF\xFE", 3)) == "AP/+");
}

TEST_CASE("base64: lines of 76 characters joined by CRLF, none after the last (RFC 2045 §6.8)") {
  const std::string in(57, 'a');  // exactly one line
  CHECK(b64(in).size() == 76);
  CHECK(b64(in).find('\r') == std::string::npos);
  const std::string two = b64(std::string(58, 'a'));
  CHECK(two.size() == 76 + 2 + 4);
  CHECK(two.substr(76, 2) == "\r\n");
  const std::string big = b64(randomOctets(3, 5000));
  std::size_t start = 0;
  while (true) {
    const std::size_t e = big.find("\r\n", start);
    if (e == std::string::npos) {
      CHECK(big.size() - start <= 76);
      break;
    }
    CHECK(e - start == 76);
    start = e + 2;
  }
}

TEST_CASE("base64: round trip, measure() == encoded size, same output for every split (streaming)") {
  for (std::size_t n : {0u, 1u, 2u, 3u, 56u, 57u, 58u, 114u, 200u, 1001u}) {
    const std::string s = randomOctets(static_cast<std::uint32_t>(n), n);
    const std::string out = b64(s);
    CHECK(b64Decode(out) == s);
    CHECK(Base64Encoder::measure(n) == out.size());
    if (n <= 200) checkStreaming<Base64Encoder>(s);
  }
}
