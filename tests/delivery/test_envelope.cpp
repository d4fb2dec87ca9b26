// Stored ESMTP parameters <-> MailParams/RcptParams, domain extraction, and intake normalisation (inject.hpp).
#include <doctest/doctest.h>

#include "engine/delivery/envelope.hpp"
#include "engine/delivery/inject.hpp"

using namespace sluice;
using namespace sluice::delivery;

TEST_CASE("mail parameters round-trip through the stored form (RFC 1652, RFC 6531, RFC 3461 section 4.3/4.4)") {
  smtp::MailParams p;
  p.body = smtp::BodyType::EightBitMime;
  p.smtpUtf8 = true;
  p.ret = smtp::DsnRet::Headers;
  p.envid = "id+with=plus";
  std::string stored = formatMailParams(p);
  CHECK(stored == "BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2Bwith+3Dplus");
  smtp::MailParams back;
  REQUIRE(parseMailParams(stored, back));
  CHECK(back.body == smtp::BodyType::EightBitMime);
  CHECK(back.smtpUtf8);
  CHECK(back.ret == smtp::DsnRet::Headers);
  CHECK(back.envid == "id+with=plus");
  CHECK(back.size == 0);
}

TEST_CASE("empty stored parameters give defaults; unknown ones are ignored; malformed known ones are errors") {
  smtp::MailParams p;
  CHECK(parseMailParams("", p));
  CHECK(p.body == smtp::BodyType::Unspecified);
  CHECK(parseMailParams("  X-FOO=1   BODY=7bit ", p));
  CHECK(p.body == smtp::BodyType::SevenBit);
  std::string err;
  CHECK_FALSE(parseMailParams("BODY=9BIT", p, &err));
  CHECK(err.find("BODY") != std::string::npos);
  CHECK_FALSE(parseMailParams("RET=ALL", p, &err));
  CHECK_FALSE(parseMailParams("ENVID=a+zz", p, &err));
  CHECK_FALSE(parseMailParams("SMTPUTF8=yes", p, &err));
}

TEST_CASE("recipient parameters: NOTIFY lists and ORCPT (RFC 3461 section 4.1, 4.2)") {
  smtp::RcptParams r;
  r.notify = smtp::NotifySuccess | smtp::NotifyDelay;
  r.orcpt = "Jo@example.org";
  std::string stored = formatRcptParams(r);
  CHECK(stored == "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Jo@example.org");
  smtp::RcptParams back;
  REQUIRE(parseRcptParams(stored, back));
  CHECK(back.notify == (smtp::NotifySuccess | smtp::NotifyDelay));
  CHECK(back.orcptType == "rfc822");
  CHECK(back.orcpt == "Jo@example.org");

  CHECK(parseRcptParams("NOTIFY=NEVER", back));
  CHECK(back.notify == smtp::NotifyNever);
  CHECK(formatRcptParams(back) == "NOTIFY=NEVER");
  std::string err;
  CHECK_FALSE(parseRcptParams("NOTIFY=NEVER,FAILURE", back, &err));  // RFC 3461 section 4.1
  CHECK_FALSE(parseRcptParams("NOTIFY=SOMETIMES", back, &err));
  CHECK_FALSE(parseRcptParams("NOTIFY=", back, &err));
  CHECK_FALSE(parseRcptParams("ORCPT=noseparator", back, &err));
  CHECK(formatRcptParams(smtp::RcptParams{}) == "");
}

TEST_CASE("domainOf lower-cases the domain and drops a trailing dot") {
  CHECK(domainOf("User@Example.ORG") == "example.org");
  CHECK(domainOf("a@b.test.") == "b.test");
  CHECK(domainOf("\"odd@local\"@x.test") == "x.test");
  CHECK(domainOf("postmaster") == "");
  CHECK(domainOf("a@") == "");
}

TEST_CASE("intake normalises line endings to CRLF and ends the body with CRLF") {
  std::string b = "a\nb\r\nc\rd";
  normaliseLineEndings(b);
  CHECK(b == "a\r\nb\r\nc\r\nd\r\n");
  std::string clean = "x\r\n";
  normaliseLineEndings(clean);
  CHECK(clean == "x\r\n");
  std::string empty;
  normaliseLineEndings(empty);
  CHECK(empty.empty());
  std::string crAtEnd = "x\r";
  normaliseLineEndings(crAtEnd);
  CHECK(crAtEnd == "x\r\n");
}

TEST_CASE("8-bit detection and address checks") {
  CHECK_FALSE(hasEightBit("plain ascii\r\n"));
  CHECK(hasEightBit("caf\xc3\xa9"));
  CHECK(checkAddress("a@b.test").empty());
  CHECK_FALSE(checkAddress("ab.test").empty());
  CHECK_FALSE(checkAddress("a b@c.test").empty());
  CHECK_FALSE(checkAddress("<a@b.test>").empty());
  CHECK_FALSE(checkAddress("@b.test").empty());
  CHECK_FALSE(checkAddress(std::string(250, 'a') + "@b.test").empty());
}
