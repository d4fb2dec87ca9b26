// test_reply.cpp: ReplyParser and the reply model (RFC 5321 §4.2, §4.2.1, §4.5.3.1.5; RFC 3463 enhanced codes).
// Every byte string is fed under every segmentation (split_feed.hpp) and must give the same replies.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/smtp/reply.hpp"
#include "split_feed.hpp"

using sluice::smtp::EnhancedCode;
using sluice::smtp::Reply;
using sluice::smtp::ReplyClass;
using sluice::smtp::ReplyLimits;
using sluice::smtp::ReplyParser;
using sluice::test::Segments;

namespace {

struct Expected {
  int code;
  std::string enhanced;  // EnhancedCode::str(); "" = absent
  std::vector<std::string> lines;
};

struct Outcome {
  std::vector<Reply> replies;
  ReplyParser::Status last = ReplyParser::Status::NeedMore;
  std::string error;
  std::size_t buffered = 0;
};

// Feeds the segments one by one, draining every complete reply after each feed, as a session would.
Outcome parseSegments(const Segments& parts, ReplyLimits limits = {}) {
  ReplyParser p(limits);
  Outcome o;
  for (std::string_view part : parts) {
    p.feed(part);
    Reply r;
    for (;;) {
      o.last = p.next(r);
      if (o.last != ReplyParser::Status::Ready) break;
      o.replies.push_back(r);
    }
    if (o.last == ReplyParser::Status::Error) break;
  }
  o.error = std::string(p.error());
  o.buffered = p.buffered();
  return o;
}

// Checks `in` under every segmentation against the expected replies, final status and leftover byte count.
void checkAllSegmentations(const std::string& in, const std::vector<Expected>& want, ReplyParser::Status last,
                           std::size_t leftover, ReplyLimits limits = {}) {
  sluice::test::forEachSegmentation(in, [&](const Segments& parts, const std::string& how) {
    CAPTURE(how);
    const Outcome o = parseSegments(parts, limits);
    REQUIRE(o.replies.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      CAPTURE(i);
      CHECK(o.replies[i].code == want[i].code);
      CHECK(o.replies[i].enhanced.str() == want[i].enhanced);
      CHECK(o.replies[i].lines == want[i].lines);
    }
    CHECK(o.last == last);
    if (last != ReplyParser::Status::Error) CHECK(o.buffered == leftover);
  });
}

struct Row {
  const char* name;
  std::string input;
  std::vector<Expected> want;
  ReplyParser::Status last;
  std::size_t leftover;
};

}  // namespace

TEST_CASE("RFC 5321 §4.2.1 / §3.1: well-formed replies parse identically under every segmentation (edge case 1)") {
  using S = ReplyParser::Status;
  const std::vector<Row> rows = {
      {"greeting", "220 mx.example.com ESMTP ready\r\n", {{220, "", {"mx.example.com ESMTP ready"}}}, S::NeedMore, 0},
      {"multi-line greeting", "220-mx.example.com ESMTP\r\n220-no UCE\r\n220 ready\r\n",
       {{220, "", {"mx.example.com ESMTP", "no UCE", "ready"}}}, S::NeedMore, 0},
      {"EHLO reply glued to the next reply (pipelining)",
       "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n250 2.1.0 Sender ok\r\n",
       {{250, "", {"mx.example.com", "PIPELINING", "SIZE 10240000", "8BITMIME"}}, {250, "2.1.0", {"2.1.0 Sender ok"}}},
       S::NeedMore, 0},
      {"three pipelined replies and the start of a fourth",
       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0",
       {{250, "2.1.0", {"2.1.0 Ok"}}, {250, "2.1.5", {"2.1.5 Ok"}}, {354, "", {"End data with <CR><LF>.<CR><LF>"}}},
       S::NeedMore, 7},
      {"half a multi-line reply stays buffered", "250-mx.example.com\r\n250-PIPE", {}, S::NeedMore, 28},
      // Edge case 19.
      {"bare code", "250\r\n", {{250, "", {""}}}, S::NeedMore, 0},
      {"bare code ends a multi-line reply", "250-first\r\n250\r\n", {{250, "", {"first", ""}}}, S::NeedMore, 0},
      {"empty continuation text", "250-\r\n250 x\r\n", {{250, "", {"", "x"}}}, S::NeedMore, 0},
      {"smtp-sink style empty final line", "250-host\r\n250-PIPELINING\r\n250 \r\n",
       {{250, "", {"host", "PIPELINING", ""}}}, S::NeedMore, 0},
      {"class mismatch 550 4.2.2 -> 5.0.0", "550 4.2.2 Mailbox full\r\n", {{550, "5.0.0", {"4.2.2 Mailbox full"}}},
       S::NeedMore, 0},
      {"class mismatch 250 5.0.0 -> 2.0.0", "250 5.1.1 odd\r\n", {{250, "2.0.0", {"5.1.1 odd"}}}, S::NeedMore, 0},
      {"three-digit detail 4.7.650", "450 4.7.650 DMARC temp\r\n", {{450, "4.7.650", {"4.7.650 DMARC temp"}}},
       S::NeedMore, 0},
      {"enhanced code alone on the line", "250 2.0.0\r\n", {{250, "2.0.0", {"2.0.0"}}}, S::NeedMore, 0},
      {"enhanced code taken from the first line only", "550-5.1.1 no such user\r\n550 4.4.4 other\r\n",
       {{550, "5.1.1", {"5.1.1 no such user", "4.4.4 other"}}}, S::NeedMore, 0},
      {"code 600 parses (class Invalid)", "600 what\r\n", {{600, "", {"what"}}}, S::NeedMore, 0},
      {"non-UTF-8 text kept as bytes", "550 caf\xe9 \xff\xfe\xc3(\r\n", {{550, "", {"caf\xe9 \xff\xfe\xc3("}}},
       S::NeedMore, 0},
      {"NUL and bare CR inside text kept", std::string("250 a\0b\rc\r\n", 11), {{250, "", {std::string("a\0b\rc", 5)}}},
       S::NeedMore, 0},
      // Bare LF: lenient, a line ends at LF and one CR before it is dropped.
      {"bare LF line ends", "250-a\n250 b\n", {{250, "", {"a", "b"}}}, S::NeedMore, 0},
      {"mixed CRLF and LF", "220-a\r\n220-b\n220 c\r\n", {{220, "", {"a", "b", "c"}}}, S::NeedMore, 0},
      {"CR CR LF keeps one CR in the text", "250 a\r\r\n", {{250, "", {"a\r"}}}, S::NeedMore, 0},
  };
  for (const Row& row : rows) {
    const std::string label{row.name};
    CAPTURE(label);
    checkAllSegmentations(row.input, row.want, row.last, row.leftover);
  }
}

TEST_CASE("RFC 5321 §3.1 / edge case 1: a multi-line greeting byte at a time is Ready only at its very last byte") {
  const std::string greeting = "220-mx.example.com ESMTP\r\n220-policy text\r\n220 ready\r\n";
  ReplyParser p;
  Reply r;
  for (std::size_t i = 0; i < greeting.size(); ++i) {
    CAPTURE(i);
    p.feed(std::string_view(greeting).substr(i, 1));
    const ReplyParser::Status st = p.next(r);
    if (i + 1 < greeting.size()) {
      REQUIRE(st == ReplyParser::Status::NeedMore);
      CHECK(p.buffered() == i + 1);
    } else {
      REQUIRE(st == ReplyParser::Status::Ready);
    }
  }
  CHECK(r.code == 220);
  CHECK(r.lines == std::vector<std::string>{"mx.example.com ESMTP", "policy text", "ready"});
  CHECK(p.buffered() == 0);
  CHECK(p.next(r) == ReplyParser::Status::NeedMore);
}

TEST_CASE("RFC 5321 §4.5.3.1.5: reply lines over 512 octets are accepted up to ReplyLimits::maxLineLength") {
  const std::string text600(600, 'x');
  checkAllSegmentations("250 " + text600 + "\r\n", {{250, "", {text600}}}, ReplyParser::Status::NeedMore, 0);

  // Exactly at the cap (terminator included) is fine; one more octet is an Error.
  ReplyLimits lim;
  lim.maxLineLength = 64;
  const std::string atCap = "250 " + std::string(64 - 6, 'a') + "\r\n";
  REQUIRE(atCap.size() == 64);
  Outcome ok = parseSegments({atCap}, lim);
  CHECK(ok.last == ReplyParser::Status::NeedMore);
  CHECK(ok.replies.size() == 1);

  const std::string over = "250 " + std::string(64 - 5, 'a') + "\r\n";
  sluice::test::forEachSegmentation(over, [&](const Segments& parts, const std::string& how) {
    CAPTURE(how);
    const Outcome o = parseSegments(parts, lim);
    CHECK(o.replies.empty());
    CHECK(o.last == ReplyParser::Status::Error);
    CHECK(o.error.find("maxLineLength") != std::string::npos);
  });
}

TEST_CASE("RFC 5321 §4.5.3.1.5: an endless line without LF fails early, without waiting for the terminator") {
  ReplyParser p;  // default cap 4096
  p.feed("250 ");
  Reply r;
  std::string chunk(1000, 'z');
  ReplyParser::Status st = ReplyParser::Status::NeedMore;
  int feeds = 0;
  while (st == ReplyParser::Status::NeedMore && feeds < 100) {
    p.feed(chunk);
    st = p.next(r);
    ++feeds;
  }
  CHECK(st == ReplyParser::Status::Error);
  CHECK(feeds <= 5);
  CHECK(std::string(p.error()).find("maxLineLength") != std::string::npos);
}

TEST_CASE("RFC 5321 §4.2.1: lines-per-reply cap (ReplyLimits::maxLines)") {
  ReplyLimits lim;
  lim.maxLines = 4;
  std::string four = "250-a\r\n250-b\r\n250-c\r\n250 d\r\n";
  checkAllSegmentations(four, {{250, "", {"a", "b", "c", "d"}}}, ReplyParser::Status::NeedMore, 0, lim);

  std::string five = "250-a\r\n250-b\r\n250-c\r\n250-d\r\n250 e\r\n";
  sluice::test::forEachSegmentation(five, [&](const Segments& parts, const std::string& how) {
    CAPTURE(how);
    const Outcome o = parseSegments(parts, lim);
    CHECK(o.replies.empty());
    CHECK(o.last == ReplyParser::Status::Error);
    CHECK(o.error.find("maxLines") != std::string::npos);
  });
}

TEST_CASE("RFC 5321 §4.2 / §4.2.1: malformed replies are an Error (mismatched codes, garbage)") {
  struct Bad {
    const char* name;
    std::string input;
    std::size_t goodBefore;  // replies that parse before the bad line
    const char* errorPart;
  };
  const std::vector<Bad> rows = {
      {"mismatched codes in one reply", "250-a\r\n251 b\r\n", 0, "different codes"},
      {"mismatched codes after a good reply", "220 hi\r\n250-a\r\n550 b\r\n", 1, "different codes"},
      {"plain garbage", "hello world\r\n", 0, "three-digit"},
      {"two digits", "25\r\n", 0, "three-digit"},
      {"four digits", "2500 x\r\n", 0, "space, hyphen"},
      {"letter after code", "250x\r\n", 0, "space, hyphen"},
      {"tab after code", "250\tx\r\n", 0, "space, hyphen"},
      {"code below 100", "099 x\r\n", 0, "three-digit"},
      {"empty line", "\r\n", 0, "three-digit"},
      {"bare LF empty line between replies", "250 a\n\n250 b\n", 1, "three-digit"},
      {"letters in code", "2x0 x\r\n", 0, "three-digit"},
      {"garbage line glued after a reply", "250 ok\r\nHTTP/1.1 400\r\n", 1, "three-digit"},
  };
  for (const Bad& row : rows) {
    const std::string label{row.name};
    CAPTURE(label);
    sluice::test::forEachSegmentation(row.input, [&](const Segments& parts, const std::string& how) {
      CAPTURE(how);
      const Outcome o = parseSegments(parts);
      CHECK(o.replies.size() == row.goodBefore);
      CHECK(o.last == ReplyParser::Status::Error);
      CHECK(o.error.find(row.errorPart) != std::string::npos);
    });
  }
}

TEST_CASE("RFC 5321 §4.2: Error is sticky until reset(); reset() forgets buffered bytes") {
  ReplyParser p;
  Reply r;
  p.feed("250-a\r\n550 b\r\n");
  CHECK(p.next(r) == ReplyParser::Status::Error);
  p.feed("250 fine\r\n");
  CHECK(p.next(r) == ReplyParser::Status::Error);
  CHECK(p.next(r) == ReplyParser::Status::Error);
  CHECK_FALSE(p.error().empty());

  p.reset();
  CHECK(p.error().empty());
  CHECK(p.buffered() == 0);
  p.feed("220 again\r\n");
  REQUIRE(p.next(r) == ReplyParser::Status::Ready);
  CHECK(r.code == 220);
  CHECK(r.lines == std::vector<std::string>{"again"});

  // RFC 3207 §4.2 (spec §8): after STARTTLS the session resets the parser; injected plaintext is gone.
  p.feed("220 2.0.0 go ahead\r\n250 injected\r\n");
  REQUIRE(p.next(r) == ReplyParser::Status::Ready);
  CHECK(p.buffered() == 14);
  p.reset();
  CHECK(p.buffered() == 0);
  CHECK(p.next(r) == ReplyParser::Status::NeedMore);
}

TEST_CASE("RFC 5321 §4.2: buffered() counts bytes not yet returned, including a half-assembled reply") {
  ReplyParser p;
  Reply r;
  CHECK(p.buffered() == 0);
  p.feed("250-a\r\n250-b");
  CHECK(p.next(r) == ReplyParser::Status::NeedMore);
  CHECK(p.buffered() == 12);
  p.feed("\r\n250 c\r\n250 next");
  CHECK(p.next(r) == ReplyParser::Status::Ready);
  CHECK(r.lines.size() == 3);
  CHECK(p.buffered() == 8);
  CHECK(p.next(r) == ReplyParser::Status::NeedMore);
  CHECK(p.buffered() == 8);
}

TEST_CASE("RFC 5321 §4.2: a long pipelined stream fed in 5-byte pieces yields every reply in order") {
  std::string stream;
  for (int i = 0; i < 5000; ++i) stream += (i % 2 ? "250 2.1.5 Ok\r\n" : "250-x\r\n250 2.1.0 y\r\n");
  ReplyParser p;
  Reply r;
  int n = 0;
  for (std::size_t off = 0; off < stream.size(); off += 5) {
    p.feed(std::string_view(stream).substr(off, 5));
    while (p.next(r) == ReplyParser::Status::Ready) {
      CHECK(r.code == 250);
      CHECK(r.lines.size() == (n % 2 ? 1u : 2u));
      ++n;
    }
  }
  CHECK(n == 5000);
  CHECK(p.buffered() == 0);
}

TEST_CASE("RFC 5321 §4.2.1: reply class by first digit; text() and firstLine()") {
  struct ClassRow {
    int code;
    ReplyClass want;
  };
  const std::vector<ClassRow> rows = {{100, ReplyClass::Invalid}, {199, ReplyClass::Invalid},
                                      {220, ReplyClass::Positive}, {354, ReplyClass::Intermediate},
                                      {421, ReplyClass::Transient}, {554, ReplyClass::Permanent},
                                      {600, ReplyClass::Invalid},  {999, ReplyClass::Invalid}};
  for (const ClassRow& row : rows) {
    CAPTURE(row.code);
    Reply r;
    r.code = row.code;
    CHECK(r.klass() == row.want);
  }
  Reply r;
  r.code = 250;
  r.lines = {"mx.example.com", "PIPELINING"};
  CHECK(r.text() == "mx.example.com\nPIPELINING");
  CHECK(r.firstLine() == "250 mx.example.com");
  r.lines = {""};
  CHECK(r.firstLine() == "250");
  CHECK(r.text() == "");
}

TEST_CASE("RFC 3463 §2 / RFC 2034: parseEnhancedCode") {
  struct CodeRow {
    const char* in;
    bool ok;
    const char* str;
    std::size_t consumed;
  };
  const std::vector<CodeRow> rows = {
      {"5.1.1 User unknown", true, "5.1.1", 5},
      {"4.7.650 x", true, "4.7.650", 7},
      {"2.0.0", true, "2.0.0", 5},
      {"5.123.456 x", true, "5.123.456", 9},
      {"5.1234.1 x", false, "", 0},   // subject has 4 digits
      {"5.1.1234 x", false, "", 0},   // detail has 4 digits
      {"3.0.0 x", false, "", 0},      // class must be 2, 4 or 5
      {"1.0.0", false, "", 0},
      {"25.0.0 x", false, "", 0},     // class is one digit
      {"5.1.1Ok", false, "", 0},      // must be followed by space or end
      {"5.1. x", false, "", 0},
      {"5..1 x", false, "", 0},
      {"5.1", false, "", 0},
      {"", false, "", 0},
      {"Ok 5.1.1", false, "", 0},
  };
  for (const CodeRow& row : rows) {
    const std::string label{row.in};
    CAPTURE(label);
    EnhancedCode ec;
    std::size_t used = 0;
    CHECK(sluice::smtp::parseEnhancedCode(row.in, ec, used) == row.ok);
    if (row.ok) {
      CHECK(ec.present);
      CHECK(ec.str() == row.str);
      CHECK(used == row.consumed);
    }
  }
  EnhancedCode none;
  CHECK(none.str() == "");
}

TEST_CASE("RFC 3463: an enhanced code on a 3xx reply is dropped (no class 3 exists)") {
  checkAllSegmentations("354 2.0.0 go ahead\r\n", {{354, "", {"2.0.0 go ahead"}}}, ReplyParser::Status::NeedMore, 0);
  checkAllSegmentations("250 2.1.1234 no\r\n", {{250, "", {"2.1.1234 no"}}}, ReplyParser::Status::NeedMore, 0);
}
