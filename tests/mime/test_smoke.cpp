// test_smoke.cpp: first end-to-end checks of convert() and the Cursor (grows into test_convert.cpp).
#include "mime_support.hpp"

using namespace sluice;
using namespace sluice::test;

TEST_CASE("smoke: 8-bit text/plain under 7-bit becomes quoted-printable (RFC 6152 §3, RFC 2045 §6.7)") {
  const std::string msg =
      "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xC3\xA9 cr\xC3\xA8me\r\n";
  auto c = planOk(msg);
  const std::string out = checkedOutput(c, msg, mime::Target::SevenBit);
  MESSAGE(out);
  CHECK(c->quotedPrintableLeaves() == 1);
}
