// test_capabilities.cpp: parseEhlo (RFC 5321 §4.1.1.1 and the extension RFCs), spec edge case 3 (EHLO keyword
// oddities). EHLO replies are parsed from wire bytes under every segmentation before parseEhlo sees them.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/smtp/capabilities.hpp"
#include "engine/smtp/reply.hpp"
#include "split_feed.hpp"

using sluice::smtp::Capabilities;
using sluice::smtp::parseEhlo;
using sluice::smtp::Reply;
using sluice::smtp::ReplyParser;

namespace {

// Parses wire bytes into exactly one reply (fails the test otherwise).
Reply oneReply(const sluice::test::Segments& parts) {
  ReplyParser p;
  for (std::string_view s : parts) p.feed(s);
  Reply r;
  REQUIRE(p.next(r) == ReplyParser::Status::Ready);
  CHECK(p.buffered() == 0);
  return r;
}

// Field-by-field comparison with readable failures.
void checkCaps(const Capabilities& got, const Capabilities& want) {
  CHECK(got.esmtp == want.esmtp);
  CHECK(got.pipelining == want.pipelining);
  CHECK(got.chunking == want.chunking);
  CHECK(got.binaryMime == want.binaryMime);
  CHECK(got.eightBitMime == want.eightBitMime);
  CHECK(got.dsn == want.dsn);
  CHECK(got.smtpUtf8 == want.smtpUtf8);
  CHECK(got.startTls == want.startTls);
  CHECK(got.enhancedStatusCodes == want.enhancedStatusCodes);
  CHECK(got.etrn == want.etrn);
  CHECK(got.size == want.size);
  CHECK(got.sizeLimit == want.sizeLimit);
  CHECK(got.auth == want.auth);
  CHECK(got.domain == want.domain);
  CHECK(got.other == want.other);
}

struct Row {
  const char* name;
  std::string wire;
  Capabilities want;
};

// Shorthand builder for expected capability sets.
Capabilities caps(std::string domain) {
  Capabilities c;
  c.esmtp = true;
  c.domain = std::move(domain);
  return c;
}

}  // namespace

TEST_CASE("RFC 5321 §4.1.1.1 / spec §11 edge case 3: EHLO keywords, whole tokens, case-insensitive") {
  std::vector<Row> rows;
  {
    Capabilities c = caps("mx.example.com");
    c.pipelining = c.chunking = c.binaryMime = c.eightBitMime = c.dsn = c.smtpUtf8 = c.startTls = true;
    c.enhancedStatusCodes = c.etrn = c.size = true;
    c.sizeLimit = 35882577;
    c.auth = {"PLAIN", "LOGIN"};
    rows.push_back({"everything (RFC 2920, 3030, 6152, 1870, 3461, 6531, 3207, 4954, 2034, 1985)",
                    "250-mx.example.com Hello [192.0.2.1]\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n"
                    "250-8BITMIME\r\n250-SIZE 35882577\r\n250-DSN\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n"
                    "250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250 ETRN\r\n",
                    c});
  }
  {
    Capabilities c = caps("mx.example.org");
    c.pipelining = c.eightBitMime = c.dsn = true;
    c.auth = {"LOGIN", "PLAIN", "CRAM-MD5"};
    rows.push_back({"lower case and mixed case keywords, AUTH mechanisms upper-cased",
                    "250-mx.example.org\r\n250-pipelining\r\n250-8bitMime\r\n250-dsn\r\n250 auth login Plain cram-md5\r\n",
                    c});
  }
  {
    Capabilities c = caps("dsn.example.com");
    c.pipelining = true;
    rows.push_back({"host name containing DSN is not the DSN keyword",
                    "250-dsn.example.com\r\n250 PIPELINING\r\n", c});
  }
  {
    Capabilities c = caps("DSN");
    c.other = {"XDSN", "DSNX", "X-PIPELINING"};
    rows.push_back({"keywords are whole tokens: XDSN, DSNX, X-PIPELINING are not DSN/PIPELINING",
                    "250-DSN\r\n250-XDSN\r\n250-DSNX\r\n250 X-PIPELINING\r\n", c});
  }
  {
    Capabilities c = caps("mail.example.net");
    c.auth = {"LOGIN", "PLAIN", "GSSAPI"};
    rows.push_back({"old AUTH=LOGIN form merged with AUTH, deduplicated",
                    "250-mail.example.net\r\n250-AUTH=LOGIN PLAIN\r\n250-AUTH LOGIN PLAIN GSSAPI\r\n250 auth=login\r\n",
                    c});
  }
  {
    Capabilities c = caps("a.example");
    c.size = true;
    c.sizeLimit = 0;
    rows.push_back({"bare SIZE: advertised, no fixed limit (RFC 1870 §4)", "250-a.example\r\n250 SIZE\r\n", c});
  }
  {
    Capabilities c = caps("a.example");
    c.size = true;
    c.sizeLimit = 0;
    rows.push_back({"SIZE 0: no limit", "250-a.example\r\n250 SIZE 0\r\n", c});
  }
  {
    Capabilities c = caps("a.example");
    c.size = true;
    c.sizeLimit = 0;
    rows.push_back({"SIZE with an unreadable number: advertised, no limit", "250-a.example\r\n250 SIZE lots\r\n", c});
  }
  {
    Capabilities c = caps("a.example");
    c.size = true;
    c.sizeLimit = UINT64_MAX;
    rows.push_back({"SIZE that overflows saturates", "250-a.example\r\n250 SIZE 999999999999999999999999\r\n", c});
  }
  {
    Capabilities c = caps("sink.example");
    c.pipelining = c.eightBitMime = true;
    rows.push_back({"Postfix smtp-sink: empty final \"250 \" line tolerated",
                    "250-sink.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 \r\n", c});
  }
  {
    Capabilities c = caps("t.example");
    c.pipelining = c.startTls = true;
    c.sizeLimit = 1000;
    c.size = true;
    rows.push_back({"tabs and extra spaces between tokens, bare LF line ends",
                    "250-t.example\n250-  PIPELINING  \n250-SIZE\t1000\n250 STARTTLS\n", c});
  }
  {
    Capabilities c = caps("only.example");
    rows.push_back({"single-line EHLO reply: ESMTP, no extensions", "250 only.example\r\n", c});
  }
  {
    Capabilities c = caps("");
    rows.push_back({"bare 250: ESMTP, no domain", "250\r\n", c});
  }
  {
    Capabilities c = caps("x.example");
    c.other = {"VRFY", "XCLIENT", "X-EXPS"};
    rows.push_back({"unknown keywords land in other, upper case, once",
                    "250-x.example\r\n250-VRFY\r\n250-xclient NAME ADDR\r\n250-X-EXPS GSSAPI\r\n250 vrfy\r\n", c});
  }
  {
    Capabilities c = caps("p.example");
    c.pipelining = true;
    rows.push_back({"keyword on the first line is the host name, not a keyword",
                    "250-p.example PIPELINING\r\n250 PIPELINING\r\n", c});
  }

  for (const Row& row : rows) {
    const std::string label{row.name};
    CAPTURE(label);
    sluice::test::forEachSegmentation(row.wire, [&](const sluice::test::Segments& parts, const std::string& how) {
      CAPTURE(how);
      checkCaps(parseEhlo(oneReply(parts)), row.want);
    });
  }
}

TEST_CASE("RFC 5321 §3.2 / §4.1.4: a non-2xx EHLO reply yields no ESMTP and no extensions") {
  for (const char* wire : {"500 5.5.1 Unrecognized command\r\n", "502 not implemented\r\n",
                           "421-4.7.0 closing\r\n421 PIPELINING\r\n", "554-x\r\n554 8BITMIME\r\n"}) {
    const std::string label{wire};
    CAPTURE(label);
    const Capabilities c = parseEhlo(oneReply({wire}));
    checkCaps(c, Capabilities{});
  }
}
