// test_command.cpp: command writers (RFC 5321 §4.1.1, §4.1.1.3: only advertised parameters), SIZE= (RFC 1870),
// BODY= (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), DSN parameters and xtext (RFC 3461 §4).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/smtp/command.hpp"

using namespace sluice::smtp;

namespace {

// A capability set with every extension on.
Capabilities allCaps() {
  Capabilities c;
  c.esmtp = c.pipelining = c.chunking = c.binaryMime = c.eightBitMime = c.dsn = c.smtpUtf8 = true;
  c.startTls = c.enhancedStatusCodes = c.size = true;
  return c;
}

// Writes MAIL FROM and returns it.
std::string mail(std::string_view path, const MailParams& p, const Capabilities& c) {
  std::string out;
  appendMail(out, path, p, c);
  return out;
}

// Writes RCPT TO and returns it.
std::string rcpt(std::string_view path, const RcptParams& p, const Capabilities& c) {
  std::string out;
  appendRcpt(out, path, p, c);
  return out;
}

}  // namespace

TEST_CASE("RFC 5321 §4.1.1.2 / §4.1.1.3: MAIL FROM writes only the parameters the peer advertised") {
  MailParams full;
  full.size = 12345;
  full.body = BodyType::EightBitMime;
  full.smtpUtf8 = true;
  full.ret = DsnRet::Headers;
  full.envid = "QQ314159";

  struct Row {
    const char* name;
    Capabilities caps;
    MailParams params;
    std::string want;
  };
  Capabilities none;  // HELO fallback: not ESMTP
  Capabilities esmtpBare;
  esmtpBare.esmtp = true;
  Capabilities helo = allCaps();
  helo.esmtp = false;  // flags set but EHLO not accepted: nothing at all
  Capabilities sizeOnly = esmtpBare;
  sizeOnly.size = true;
  Capabilities eight = esmtpBare;
  eight.eightBitMime = true;
  Capabilities binNoChunk = eight;
  binNoChunk.binaryMime = true;
  Capabilities binChunk = binNoChunk;
  binChunk.chunking = true;
  Capabilities dsnOnly = esmtpBare;
  dsnOnly.dsn = true;

  MailParams bin = full;
  bin.body = BodyType::BinaryMime;
  MailParams seven;
  seven.body = BodyType::SevenBit;
  MailParams retFull;
  retFull.ret = DsnRet::Full;

  const std::vector<Row> rows = {
      {"everything advertised", allCaps(), full,
       "MAIL FROM:<a@example.com> SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159\r\n"},
      {"HELO peer: no parameter at all", none, full, "MAIL FROM:<a@example.com>\r\n"},
      {"esmtp=false overrides every flag", helo, full, "MAIL FROM:<a@example.com>\r\n"},
      {"ESMTP without extensions", esmtpBare, full, "MAIL FROM:<a@example.com>\r\n"},
      {"SIZE only (RFC 1870 §6)", sizeOnly, full, "MAIL FROM:<a@example.com> SIZE=12345\r\n"},
      {"8BITMIME only (RFC 6152)", eight, full, "MAIL FROM:<a@example.com> BODY=8BITMIME\r\n"},
      {"BINARYMIME needs CHUNKING too (RFC 3030 §3)", binNoChunk, bin, "MAIL FROM:<a@example.com>\r\n"},
      {"BINARYMIME with CHUNKING", binChunk, bin, "MAIL FROM:<a@example.com> BODY=BINARYMIME\r\n"},
      {"BINARYMIME not offered: dropped", eight, bin, "MAIL FROM:<a@example.com>\r\n"},
      {"BODY=7BIT with 8BITMIME", eight, seven, "MAIL FROM:<a@example.com> BODY=7BIT\r\n"},
      {"BODY=7BIT without 8BITMIME: dropped", sizeOnly, seven, "MAIL FROM:<a@example.com>\r\n"},
      {"DSN only: RET and ENVID (RFC 3461 §4.3, §4.4)", dsnOnly, full,
       "MAIL FROM:<a@example.com> RET=HDRS ENVID=QQ314159\r\n"},
      {"RET=FULL", dsnOnly, retFull, "MAIL FROM:<a@example.com> RET=FULL\r\n"},
      {"defaults: nothing declared", allCaps(), MailParams{}, "MAIL FROM:<a@example.com>\r\n"},
  };
  for (const Row& row : rows) {
    const std::string label{row.name};
    CAPTURE(label);
    CHECK(mail("a@example.com", row.params, row.caps) == row.want);
  }
}

TEST_CASE("RFC 5321 §4.1.2 / §3.6.3: paths in angle brackets, null reverse-path <>") {
  const Capabilities c = allCaps();
  CHECK(mail("", MailParams{}, c) == "MAIL FROM:<>\r\n");
  CHECK(mail("<>", MailParams{}, c) == "MAIL FROM:<>\r\n");
  CHECK(mail("<a@b.example>", MailParams{}, c) == "MAIL FROM:<a@b.example>\r\n");
  CHECK(rcpt("postmaster", RcptParams{}, c) == "RCPT TO:<postmaster>\r\n");
  CHECK(rcpt("\"john doe\"@example.com", RcptParams{}, c) == "RCPT TO:<\"john doe\"@example.com>\r\n");
}

TEST_CASE("RFC 5321 §2.3.8 / §4.1.1: control octets can never split a command (no command injection)") {
  const Capabilities c = allCaps();
  CHECK(mail("a@b\r\nRCPT TO:<evil@x>", MailParams{}, c) == "MAIL FROM:<a@bRCPT TO:<evil@x>>\r\n");
  CHECK(rcpt(std::string("x\0y\n@z", 7), RcptParams{}, c) == "RCPT TO:<xy@z>\r\n");
  CHECK_FALSE(isWritablePath("a@b\r\n"));
  CHECK_FALSE(isWritablePath(std::string("a\0b", 3)));
  CHECK_FALSE(isWritablePath("a\x7f"));
  CHECK(isWritablePath("a@b.example"));
  CHECK(isWritablePath(""));
  CHECK(isWritablePath("\"x y\"@b"));
  std::string out;
  appendEhlo(out, "relay.example\r\nQUIT");
  CHECK(out == "EHLO relay.exampleQUIT\r\n");
}

TEST_CASE("RFC 3461 §4.1, §4.2: RCPT TO with NOTIFY and ORCPT only to a DSN peer") {
  Capabilities dsn;
  dsn.esmtp = dsn.dsn = true;
  Capabilities noDsn = allCaps();
  noDsn.dsn = false;

  struct Row {
    const char* name;
    std::uint8_t notify;
    std::string orcptType;
    std::string orcpt;
    std::string wantDsn;
  };
  const std::vector<Row> rows = {
      {"nothing", NotifyNone, "rfc822", "", "RCPT TO:<b@example.org>\r\n"},
      {"NEVER", NotifyNever, "rfc822", "", "RCPT TO:<b@example.org> NOTIFY=NEVER\r\n"},
      {"NEVER is exclusive of the others", NotifyNever | NotifySuccess | NotifyDelay, "rfc822", "",
       "RCPT TO:<b@example.org> NOTIFY=NEVER\r\n"},
      {"SUCCESS,FAILURE,DELAY in order", NotifyDelay | NotifySuccess | NotifyFailure, "rfc822", "",
       "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE,DELAY\r\n"},
      {"FAILURE,DELAY", NotifyDelay | NotifyFailure, "rfc822", "", "RCPT TO:<b@example.org> NOTIFY=FAILURE,DELAY\r\n"},
      {"ORCPT xtext-encoded", NotifySuccess, "rfc822", "Bob+lists=x@example.org",
       "RCPT TO:<b@example.org> NOTIFY=SUCCESS ORCPT=rfc822;Bob+2Blists+3Dx@example.org\r\n"},
      {"ORCPT utf-8 type", NotifyNone, "utf-8", "b@example.org", "RCPT TO:<b@example.org> ORCPT=utf-8;b@example.org\r\n"},
      {"ORCPT empty type defaults to rfc822", NotifyNone, "", "b@example.org",
       "RCPT TO:<b@example.org> ORCPT=rfc822;b@example.org\r\n"},
      {"ORCPT type cannot inject", NotifyNone, "rfc822 X=1\r\n", "b@example.org",
       "RCPT TO:<b@example.org> ORCPT=rfc822X1;b@example.org\r\n"},
  };
  for (const Row& row : rows) {
    const std::string label{row.name};
    CAPTURE(label);
    RcptParams p;
    p.notify = row.notify;
    p.orcptType = row.orcptType;
    p.orcpt = row.orcpt;
    CHECK(rcpt("b@example.org", p, dsn) == row.wantDsn);
    CHECK(rcpt("b@example.org", p, noDsn) == "RCPT TO:<b@example.org>\r\n");
    CHECK(rcpt("b@example.org", p, Capabilities{}) == "RCPT TO:<b@example.org>\r\n");
  }
}

TEST_CASE("RFC 3030 §2 / RFC 5321 §4.1.1: BDAT, EHLO, HELO and simple commands") {
  std::string out;
  appendBdat(out, 0, true);
  CHECK(out == "BDAT 0 LAST\r\n");
  out.clear();
  appendBdat(out, 1048576, false);
  CHECK(out == "BDAT 1048576\r\n");
  out.clear();
  appendBdat(out, UINT64_MAX, true);
  CHECK(out == "BDAT 18446744073709551615 LAST\r\n");
  out.clear();
  appendEhlo(out, "relay.example.net");
  appendHelo(out, "[192.0.2.7]");
  for (const char* verb : {"DATA", "RSET", "QUIT", "NOOP", "STARTTLS"}) appendSimple(out, verb);
  CHECK(out == "EHLO relay.example.net\r\nHELO [192.0.2.7]\r\nDATA\r\nRSET\r\nQUIT\r\nNOOP\r\nSTARTTLS\r\n");
  // Functions append: existing content is kept.
  std::string keep = "X";
  appendSimple(keep, "QUIT");
  CHECK(keep == "XQUIT\r\n");
}

TEST_CASE("RFC 3461 §4: xtext encode table") {
  struct Row {
    std::string raw;
    std::string xtext;
  };
  const std::vector<Row> rows = {
      {"", ""},
      {"abc@example.com", "abc@example.com"},
      {"a+b", "a+2Bb"},
      {"a=b", "a+3Db"},
      {"a b", "a+20b"},
      {"\r\n", "+0D+0A"},
      {std::string("\0", 1), "+00"},
      {"\x7f", "+7F"},
      {"\xc3\xa9", "+C3+A9"},
      {"!~", "!~"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.xtext);
    std::string enc = "pre:";
    xtextEncode(enc, row.raw);
    CHECK(enc == "pre:" + row.xtext);
    std::string dec = "pre:";
    CHECK(xtextDecode(row.xtext, dec));
    CHECK(dec == "pre:" + row.raw);
  }
}

TEST_CASE("RFC 3461 §4 / spec edge case 16: xtext decode is strict (upper-case hex) and leaves out untouched on failure") {
  struct Row {
    const char* in;
    bool ok;
    std::string want;
  };
  const std::vector<Row> rows = {
      {"Bob+2Blists@example.org", true, "Bob+lists@example.org"},
      {"+41+42", true, "AB"},
      {"+2b", false, ""},        // lower-case hex
      {"+2", false, ""},         // truncated
      {"+", false, ""},
      {"abc+", false, ""},
      {"+G0", false, ""},        // not hex
      {"a=b", false, ""},        // raw "="
      {"a b", false, ""},        // raw space
      {"a\x7f", false, ""},
      {"\xc3\xa9", false, ""},  // raw 8-bit
      {"a\r\n", false, ""},
  };
  for (const Row& row : rows) {
    const std::string label{row.in};
    CAPTURE(label);
    std::string out = "keep";
    CHECK(xtextDecode(row.in, out) == row.ok);
    CHECK(out == (row.ok ? "keep" + row.want : std::string("keep")));
  }
  // Round trip over every octet value.
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string enc, dec;
  xtextEncode(enc, all);
  for (char ch : enc) {
    const auto c = static_cast<unsigned char>(ch);
    CHECK((c >= 33 && c <= 126 && c != '='));
  }
  REQUIRE(xtextDecode(enc, dec));
  CHECK(dec == all);
}
