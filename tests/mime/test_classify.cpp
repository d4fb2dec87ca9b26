// test_classify.cpp: classify() sets each flag of the spool record's MIME byte for exactly its cause:
// kEightBit (body octet >= 0x80, RFC 6152), kBinary (NUL or a body line over 998 octets, RFC 3030 / RFC 5321
// §4.5.3.1.6), kEightBitHeaders (top-level header octet >= 0x80, RFC 6531), kMime (MIME-Version, RFC 2045 §4).
#include "mime_support.hpp"

using namespace sluice::mime;

TEST_CASE("classify: a plain 7-bit message has only kClassified") {
  CHECK(classify("From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n") == kClassified);
  CHECK(classify("") == kClassified);
}

TEST_CASE("classify: kEightBit for a body octet >= 0x80, not for one in the header") {
  CHECK(classify("Subject: x\r\n\r\ncaf\xC3\xA9\r\n") == (kClassified | kEightBit));
  CHECK((classify("Subject: caf\xC3\xA9\r\n\r\nplain\r\n") & kEightBit) == 0);
  // Long bodies: the 8-bit octet far from the start is still seen.
  std::string body(10000, 'a');
  body[9999] = '\x80';
  CHECK((classify("S: x\r\n\r\n" + body) & kEightBit) != 0);
}

TEST_CASE("classify: kBinary for a NUL or a body line over 998 octets (CRLF excluded)") {
  CHECK(classify(std::string("S: x\r\n\r\na\0b\r\n", 14)) == (kClassified | kBinary));
  const std::string at998 = "S: x\r\n\r\n" + std::string(998, 'a') + "\r\n";
  const std::string at999 = "S: x\r\n\r\n" + std::string(999, 'a') + "\r\n";
  CHECK(classify(at998) == kClassified);
  CHECK(classify(at999) == (kClassified | kBinary));
  // A last line without CRLF counts too.
  CHECK(classify("S: x\r\n\r\n" + std::string(999, 'a')) == (kClassified | kBinary));
  // A top-level header line over 998 octets is binary too: not even BINARYMIME carries it, so the engine converts
  // (and convert() folds it at white space, or refuses).
  CHECK(classify("S: " + std::string(1200, 'a') + "\r\n\r\nshort\r\n") == (kClassified | kBinary));
  CHECK(classify("S: " + std::string(995, 'a') + "\r\n\r\nshort\r\n") == kClassified);  // exactly 998
}

TEST_CASE("classify: kEightBitHeaders only for the top-level header") {
  CHECK(classify("Subject: \xC3\xA9t\xC3\xA9\r\n\r\nx\r\n") == (kClassified | kEightBitHeaders));
  // A body part's header is body as far as the top level is concerned.
  const std::string nested =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
      "Content-Description: \xC3\xA9\r\n\r\nx\r\n--b--\r\n";
  CHECK(classify(nested) == (kClassified | kMime | kEightBit));
}

TEST_CASE("classify: kMime for a MIME-Version field in the top-level header (any case, space before colon)") {
  CHECK(classify("MIME-Version: 1.0\r\n\r\nx\r\n") == (kClassified | kMime));
  CHECK(classify("mime-version : 1.0\r\n\r\nx\r\n") == (kClassified | kMime));
  CHECK(classify("Subject: x\r\n\r\nMIME-Version: 1.0\r\n") == kClassified);  // in the body: not a field
  CHECK(classify("X-MIME-Version: 1.0\r\n\r\n") == kClassified);
  // A message without a blank line is all header.
  CHECK(classify("MIME-Version: 1.0\r\nSubject: \xC3\xA9\r\n") == (kClassified | kMime | kEightBitHeaders));
}
