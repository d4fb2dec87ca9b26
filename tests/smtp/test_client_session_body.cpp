// test_client_session_body.cpp: message content through the client session: DATA dot-stuffing and line-ending
// repair across body span boundaries, long lines, bounded DATA blocks, and zero-copy BDAT (write requests point
// into the caller's body memory).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/smtp/client_session.hpp"
#include "tests/smtp/test_client_session_harness.hpp"

using namespace sluice::smtp;
using namespace sluice::smtp::test;

namespace {

const std::string kGreeting = "220 mx.example ESMTP\r\n";
const std::string kEhloBasic = "250-mx.example\r\n250 8BITMIME\r\n";
const std::string kEhloChunk = "250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
const std::string kPrefix = "EHLO client.example\r\nMAIL FROM:<sender@origin.example>\r\nRCPT TO:<r0@rcpt.example>\r\n";

// A config with our name and no STARTTLS.
ClientConfig baseConfig() {
  ClientConfig c;
  c.heloName = "client.example";
  c.tls = TlsPolicy::Never;
  return c;
}

// Sends one single-recipient message over DATA (no pipelining) and returns the content bytes written after 354.
std::string sendOverData(const std::vector<std::string_view>& body, const ClientConfig& cfg,
                         std::size_t* maxWrite = nullptr) {
  Driver d(cfg, true);
  d.session.submit(makeMessage(1, 1, body));
  d.session.onConnected();
  for (const std::string& s : {kGreeting, kEhloBasic, std::string("250 ok\r\n"), std::string("250 ok\r\n")}) {
    d.session.onBytes(s);
    d.drain();
  }
  REQUIRE(d.wire == kPrefix + "DATA\r\n");
  d.wire.clear();
  d.session.onBytes("354 go\r\n");
  // Drain by hand to see each write's size.
  for (;;) {
    bool any = false;
    while (auto w = d.session.takeWrite()) {
      any = true;
      if (maxWrite != nullptr) *maxWrite = std::max(*maxWrite, w->bytes);
      for (const IoSlice& s : w->slices) d.wire.append(s.data, s.size);
      d.session.onWritten();
    }
    if (!any) break;
  }
  d.session.onBytes("250 2.0.0 ok\r\n");
  d.drain();
  CHECK(d.events == std::vector<std::string>{"R m=1 i=0 D 250 2.0.0", "done m=1"});
  return d.wire;
}

}  // namespace

TEST_CASE(
    "DATA content: dot-stuffing, missing final CRLF, CRLF.CRLF look-alikes, bare LF / CR repaired (RFC 5321 §4.5.2, "
    "§2.3.8)") {
  struct Row {
    std::string body;
    std::string wire;
  };
  const std::vector<Row> rows = {
      {".\r\n", "..\r\n.\r\n"},
      {"..\r\n", "...\r\n.\r\n"},
      {". x\r\n", ".. x\r\n.\r\n"},
      {"no final CRLF", "no final CRLF\r\n.\r\n"},
      {"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},  // CRLF.CRLF inside the body never ends it
      {"a\r\n.\r\n.\r\n", "a\r\n..\r\n..\r\n.\r\n"},
      {"a\n.\nb\n", "a\r\n..\r\nb\r\n.\r\n"},    // bare LF: nothing but CRLF on the wire
      {"a\r.\rb\r\n", "a\r\n..\r\nb\r\n.\r\n"},  // bare CR likewise
      {"", ".\r\n"},
      {"x.\r\n.y\r\n", "x.\r\n..y\r\n.\r\n"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.body);
    // The body split into two caller spans at every offset, including between CR and LF.
    for (std::size_t k = 0; k <= row.body.size(); ++k) {
      CAPTURE(k);
      std::string_view b(row.body);
      std::vector<std::string_view> spans = {b.substr(0, k), b.substr(k)};
      CHECK(sendOverData(spans, baseConfig()) == row.wire);
    }
  }
}

TEST_CASE(
    "lines of 998, 999 and 5000 octets pass through DATA and BDAT unchanged, in bounded blocks (RFC 5321 §4.5.3.1.6)") {
  for (std::size_t len : {998u, 999u, 5000u}) {
    CAPTURE(len);
    const std::string body = std::string(len, 'x') + "\r\n" + std::string(len, 'y') + "\r\n";
    ClientConfig cfg = baseConfig();
    cfg.dataBlockSize = 256;
    std::size_t maxWrite = 0;
    CHECK(sendOverData({body}, cfg, &maxWrite) == body + ".\r\n");
    CHECK(maxWrite <= cfg.dataBlockSize + 5);  // never the whole message at once

    Driver d(baseConfig(), true);
    d.session.submit(makeMessage(1, 1, {body}));
    d.session.onConnected();
    d.session.onBytes(kGreeting);
    d.session.onBytes(kEhloChunk);
    d.drain();
    CHECK(d.wire == kPrefix + "BDAT " + std::to_string(body.size()) + " LAST\r\n" + body);
  }
}

TEST_CASE("DATA blocks in flight are bounded by maxDataBlocksInFlight (architecture invariant 2)") {
  ClientConfig cfg = baseConfig();
  cfg.dataBlockSize = 64;
  cfg.maxDataBlocksInFlight = 1;
  const std::string body(1000, 'z');
  Driver d(cfg, true);
  d.session.submit(makeMessage(1, 1, {body}));
  d.session.onConnected();
  for (const char* s : {"220 hi\r\n", "250 hi\r\n", "250 ok\r\n", "250 ok\r\n"}) {
    d.session.onBytes(s);
    d.drain();
  }
  d.wire.clear();
  d.session.onBytes("354 go\r\n");
  std::size_t blocks = 0;
  for (;;) {
    std::size_t got = 0;
    while (auto w = d.session.takeWrite()) {
      ++got;
      CHECK(w->bytes <= cfg.dataBlockSize + 5);
      for (const IoSlice& sl : w->slices) d.wire.append(sl.data, sl.size);
    }
    CHECK(got <= 1);  // the next block waits for the previous one's completion
    if (got == 0) break;
    ++blocks;
    CHECK(d.session.deadline().after == cfg.timeouts.dataBlock);
    d.session.onBytes("");  // no progress without an acknowledgement
    CHECK_FALSE(d.session.takeWrite().has_value());
    d.session.onWritten();
  }
  CHECK(blocks > 10);  // 1000 octets in blocks of at most 64
  CHECK(d.wire == body + "\r\n.\r\n");
  CHECK(d.session.deadline().after == cfg.timeouts.dataEnd);
}

TEST_CASE(
    "zero copy: BDAT write requests point into the caller's body memory (architecture invariant 2, RFC 3030 §2)") {
  ClientConfig cfg = baseConfig();
  cfg.bdatChunkSize = 6;
  // Two caller spans, as two slices of a spool mapping would be.
  const std::string part1 = "Subject: zero\r\n";
  const std::string part2 = "\r\ncopy\r\n";
  ClientSession s(cfg);
  s.submit(makeMessage(1, 1, {part1, part2}));
  s.onConnected();
  s.onBytes(kGreeting);
  while (auto w = s.takeWrite()) s.onWritten();
  s.onBytes(kEhloChunk);
  std::vector<const char*> ptrs;
  std::vector<std::size_t> sizes;
  std::string wire;
  std::vector<std::size_t> pending;
  while (auto w = s.takeWrite()) {
    for (const IoSlice& sl : w->slices) {
      wire.append(sl.data, sl.size);
      bool inPart1 = sl.data >= part1.data() && sl.data < part1.data() + part1.size();
      bool inPart2 = sl.data >= part2.data() && sl.data < part2.data() + part2.size();
      if (inPart1 || inPart2) {
        ptrs.push_back(sl.data);
        sizes.push_back(sl.size);
      }
    }
    s.onWritten();
  }
  CHECK(wire ==
        "MAIL FROM:<sender@origin.example>\r\nRCPT TO:<r0@rcpt.example>\r\nBDAT 6\r\nSubjecBDAT 6\r\nt: zer"
        "BDAT 6\r\no\r\n\r\ncBDAT 5 LAST\r\nopy\r\n");
  // Every body octet on the wire came from a slice pointing into part1 / part2 (same data pointers).
  std::vector<const char*> want = {part1.data(), part1.data() + 6, part1.data() + 12, part2.data(), part2.data() + 3};
  CHECK(ptrs == want);
  CHECK(sizes == std::vector<std::size_t>{6, 6, 3, 3, 5});
  std::size_t total = 0;
  for (std::size_t n : sizes) total += n;
  CHECK(total == part1.size() + part2.size());
  // MessageDone only after the reply and once no write references the body.
  s.onBytes("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 ok\r\n");
  std::vector<std::string> ev;
  while (auto e = s.nextEvent()) ev.push_back(describe(*e));
  CHECK(ev == std::vector<std::string>{"R m=1 i=0 D 250 2.0.0", "done m=1"});
}

TEST_CASE("zero copy: MessageDone waits until the last write pointing into the body completes") {
  ClientSession s(baseConfig());
  const std::string body = "hello\r\n";
  s.submit(makeMessage(1, 1, {body}));
  s.onConnected();
  s.onBytes(kGreeting);
  while (auto w = s.takeWrite()) s.onWritten();
  s.onBytes(kEhloChunk);
  auto w = s.takeWrite();
  REQUIRE(w.has_value());
  bool pointsIntoBody = false;
  for (const IoSlice& sl : w->slices) pointsIntoBody |= sl.data == body.data();
  CHECK(pointsIntoBody);
  s.onBytes("250 ok\r\n250 ok\r\n250 2.0.0 ok\r\n");  // the peer answered before our write completed
  std::vector<std::string> ev;
  while (auto e = s.nextEvent()) ev.push_back(describe(*e));
  CHECK(ev == std::vector<std::string>{"R m=1 i=0 D 250 2.0.0"});
  s.onWritten();
  auto e = s.nextEvent();
  REQUIRE(e.has_value());
  CHECK(describe(*e) == "done m=1");
}

TEST_CASE("the BDAT window: no more than maxUnackedBdatBytes handed out ahead of completions") {
  ClientConfig cfg = baseConfig();
  cfg.bdatChunkSize = 10;
  cfg.maxUnackedBdatBytes = 20;
  const std::string body(100, 'b');
  Driver d(cfg, false);
  d.session.submit(makeMessage(1, 1, {body}));
  d.session.onConnected();
  d.session.onBytes(kGreeting);
  d.session.onBytes(kEhloChunk);
  d.drain();
  std::size_t bodyOctets = 0;
  for (char c : d.wire) bodyOctets += c == 'b';
  CHECK(bodyOctets == 20);
  d.ackAll();
  d.ackAll();
  bodyOctets = 0;
  for (char c : d.wire) bodyOctets += c == 'b';
  CHECK(bodyOctets == 100);
}

TEST_CASE(
    "a NUL byte and a header line over 998 octets are carried, not repaired: a relay does not fix mail (RFC 5321 "
    "§6.4)") {
  const std::string body =
      std::string("X-Long: ") + std::string(1200, 'h') + "\r\n\r\nnul:" + std::string(1, '\0') + ":end\r\n";
  CHECK(sendOverData({body}, baseConfig()) == body + ".\r\n");
  Driver d(baseConfig(), true);
  d.session.submit(makeMessage(1, 1, {body}));
  d.session.onConnected();
  d.session.onBytes(kGreeting);
  d.session.onBytes(kEhloChunk);
  d.drain();
  CHECK(d.wire == kPrefix + "BDAT " + std::to_string(body.size()) + " LAST\r\n" + body);
}
