// test_client_session_source.cpp: bodies produced on demand (OutboundMessage::source, e.g. a 7-bit conversion of
// a stored message) through the client session: DATA dot-stuffing and BDAT chunking read the source chunk by
// chunk, each transaction reads it from the start, SIZE is checked against the produced size, and a source that
// ends before its declared size never leaves a BDAT short of octets.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "engine/smtp/client_session.hpp"
#include "engine/smtp/dotstuff.hpp"
#include "tests/smtp/test_client_session_harness.hpp"

using namespace sluice::smtp;
using namespace sluice::smtp::test;

namespace {

const std::string kGreeting = "220 mx.example ESMTP\r\n";

// A source serving `content` in reads of at most `step` octets, declaring `declared` octets (content size unless
// set otherwise); counts how often it was opened and the largest read asked of it.
class StringSource final : public BodySource {
 public:
  explicit StringSource(std::string content, std::size_t step = 1000) : content_(std::move(content)), step_(step) {
    declared_ = content_.size();
  }
  std::uint64_t size() const override { return declared_; }
  std::unique_ptr<Reader> open() const override {
    ++opens;
    return std::make_unique<R>(*this);
  }
  std::uint64_t declared_;
  mutable int opens = 0;
  mutable std::size_t largestAsk = 0;

 private:
  struct R final : Reader {
    explicit R(const StringSource& s) : src(s) {}
    std::size_t read(char* out, std::size_t max) override {
      src.largestAsk = std::max(src.largestAsk, max);
      std::size_t n = std::min({max, src.step_, src.content_.size() - pos});
      std::copy_n(src.content_.data() + pos, n, out);
      pos += n;
      return n;
    }
    const StringSource& src;
    std::size_t pos = 0;
  };
  std::string content_;
  std::size_t step_;
};

// Lines of text, some starting with a dot, about `octets` long.
std::string textBody(std::size_t octets) {
  std::string b;
  for (int i = 0; b.size() < octets; ++i) {
    b += (i % 7 == 0) ? ".dot line " : "line ";
    b += std::to_string(i) + " of a produced body\r\n";
  }
  return b;
}

ClientConfig config() {
  ClientConfig c;
  c.heloName = "client.example";
  c.tls = TlsPolicy::Never;
  return c;
}

OutboundMessage sourced(MessageHandle h, std::size_t rcpts, std::shared_ptr<const BodySource> src) {
  OutboundMessage m = makeMessage(h, rcpts, {});
  m.body.push_back("this span must be ignored when a source is set");
  m.source = std::move(src);
  return m;
}

// Feeds server lines one at a time, draining after each.
void feed(Driver& d, std::initializer_list<std::string> lines) {
  for (const std::string& s : lines) {
    d.session.onBytes(s);
    d.drain();
  }
}

}  // namespace

TEST_CASE("source body over DATA is read in bounded blocks and dot-stuffed (RFC 5321 §4.5.2)") {
  const std::string body = textBody(300 << 10);
  auto src = std::make_shared<StringSource>(body, 4096);
  ClientConfig cfg = config();
  cfg.dataBlockSize = 16 << 10;
  Driver d(cfg, true);
  d.session.submit(sourced(1, 1, src));
  d.session.onConnected();
  feed(d, {kGreeting, "250-mx.example\r\n250 8BITMIME\r\n", "250 ok\r\n", "250 ok\r\n"});
  REQUIRE(d.wire ==
          "EHLO client.example\r\nMAIL FROM:<sender@origin.example>\r\nRCPT TO:<r0@rcpt.example>\r\nDATA\r\n");
  d.wire.clear();
  feed(d, {"354 go\r\n", "250 2.0.0 ok\r\n"});
  std::string expected;
  DotStuffer st;
  st.feed(body, expected);
  st.finish(expected);
  CHECK(d.wire == expected);
  CHECK(d.wire.find("this span must be ignored") == std::string::npos);
  CHECK(src->opens == 1);
  CHECK(src->largestAsk <= cfg.dataBlockSize);  // never the whole body at once
  CHECK(d.events == std::vector<std::string>{"R m=1 i=0 D 250 2.0.0", "done m=1"});
}

TEST_CASE("source body over BDAT: chunks of bdatChunkSize copied from the source, SIZE declares the source size "
          "(RFC 3030 §2, RFC 1870 §3)") {
  const std::string body = textBody(150 << 10);
  auto src = std::make_shared<StringSource>(body, 3000);
  ClientConfig cfg = config();
  cfg.bdatChunkSize = 64 << 10;
  Driver d(cfg, true);
  OutboundMessage m = sourced(1, 1, src);
  m.params.size = body.size();
  d.session.submit(m);
  d.session.onConnected();
  feed(d, {kGreeting, "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 CHUNKING\r\n"});
  const std::string c1 = body.substr(0, 65536), c2 = body.substr(65536, 65536), c3 = body.substr(131072);
  CHECK(d.wire == "EHLO client.example\r\nMAIL FROM:<sender@origin.example> SIZE=" + std::to_string(body.size()) +
                      "\r\nRCPT TO:<r0@rcpt.example>\r\nBDAT 65536\r\n" + c1 + "BDAT 65536\r\n" + c2 + "BDAT " +
                      std::to_string(c3.size()) + " LAST\r\n" + c3);
  feed(d, {"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"});
  CHECK(src->opens == 1);
  CHECK(d.events == std::vector<std::string>{"R m=1 i=0 D 250 2.0.0", "done m=1"});
}

TEST_CASE("each transaction over a split recipient list reads the source from its start") {
  const std::string body = textBody(10 << 10);
  auto src = std::make_shared<StringSource>(body, 777);
  ClientConfig cfg = config();
  cfg.maxRecipientsPerTransaction = 1;
  Driver d(cfg, true);
  d.session.submit(sourced(1, 2, src));
  d.session.onConnected();
  feed(d, {kGreeting, "250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"});
  feed(d, {"250 ok\r\n250 ok\r\n250 2.0.0 one\r\n", "250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 two\r\n"});
  const std::string bdat = "BDAT " + std::to_string(body.size()) + " LAST\r\n" + body;
  CHECK(d.wire == "EHLO client.example\r\nMAIL FROM:<sender@origin.example>\r\nRCPT TO:<r0@rcpt.example>\r\n" +
                      bdat + "RSET\r\nMAIL FROM:<sender@origin.example>\r\nRCPT TO:<r1@rcpt.example>\r\n" + bdat);
  CHECK(src->opens == 2);
  CHECK(d.events == std::vector<std::string>{"R m=1 i=0 D 250 2.0.0", "R m=1 i=1 D 250 2.0.0", "done m=1"});
}

TEST_CASE("a produced body over the peer's SIZE limit is refused before MAIL with 552 5.3.4 (RFC 1870 §6)") {
  auto src = std::make_shared<StringSource>(textBody(2000));
  Driver d(config(), true);
  OutboundMessage m = sourced(1, 1, src);
  m.params.size = 10;  // a stale declared size must not hide the produced size
  d.session.submit(m);
  d.session.onConnected();
  feed(d, {kGreeting, "250-mx.example\r\n250 SIZE 1500\r\n"});
  CHECK(d.wire == "EHLO client.example\r\n");
  CHECK(d.events == std::vector<std::string>{"R m=1 i=0 P 552 5.3.4 synth na", "done m=1"});
  CHECK(src->opens == 0);
}

TEST_CASE("a source ending before its declared size fails the connection and never sends a short BDAT") {
  auto src = std::make_shared<StringSource>(textBody(5000));
  src->declared_ += 100;
  Driver d(config(), true);
  d.session.submit(sourced(1, 1, src));
  d.session.onConnected();
  feed(d, {kGreeting, "250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"});
  CHECK(d.wire.find("BDAT") == std::string::npos);
  REQUIRE(d.events.size() >= 2);
  CHECK(d.events[0] == "R m=1 i=0 T 451 4.4.2 synth");
  CHECK(std::find(d.events.begin(), d.events.end(), "done m=1") != d.events.end());
  CHECK(d.session.state() == ClientState::Closed);
}

TEST_CASE("a source that is not exactly its declared size never gets a message accepted: short or long, over "
          "DATA or BDAT, the connection fails before the end of data (RFC 1870 §3, RFC 3030 §2)") {
  struct Case {
    bool bdat;
    int skew;  // declared minus produced
  };
  for (const Case k : {Case{true, -100}, Case{false, 100}, Case{false, -100}}) {
    CAPTURE(k.bdat);
    CAPTURE(k.skew);
    const std::string body = textBody(3000);
    auto src = std::make_shared<StringSource>(body, 512);
    src->declared_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(body.size()) + k.skew);
    Driver d(config(), true);
    d.session.submit(sourced(1, 1, src));
    d.session.onConnected();
    if (k.bdat) {
      feed(d, {kGreeting, "250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"});
      CHECK(d.wire.find("BDAT") == std::string::npos);  // the only chunk would be the last: never announced
    } else {
      feed(d, {kGreeting, "250-mx.example\r\n250 8BITMIME\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n"});
      CHECK(d.wire.find("\r\n.\r\n") == std::string::npos);  // no end of data: the peer accepts nothing
    }
    REQUIRE_FALSE(d.events.empty());
    CHECK(d.events[0] == "R m=1 i=0 T 451 4.4.2 synth");
    CHECK(std::find(d.events.begin(), d.events.end(), "done m=1") != d.events.end());
    CHECK(d.session.state() == ClientState::Closed);
  }
}
