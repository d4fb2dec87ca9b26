// peers_sinkmaildir.cpp: end to end through `sluice sink --maildir`, run in-process (sink::Sink with SinkOptions,
// the same object the sub-command runs). The engine (tls: opportunistic) delivers 50 messages of mixed sizes and
// shapes; the sink keeps each accepted message as one Maildir file: its X-Sluice-Envelope header (sender,
// recipients, BODY=, transport BDAT/DATA, tls yes/no) and then the bytes it received, dot-unstuffed for DATA and raw
// for BDAT. Every file is checked against the queued message, with the delivery log's transport fields, once with
// the sink's defaults (STARTTLS with its self-signed certificate, CHUNKING) and once with the equivalents of
// --no-chunking --no-starttls.
//
// Each test owns its sink (stopped on destruction) and its temp spool (EngineHarness). Threads: the sink's worker
// thread and the engine's loop; the test thread only reads after the drained run. Errors: a sink that cannot start
// fails the test with its message.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/sink/sink.hpp"
#include "tests/engine/harness.hpp"

namespace sluice::enginetest {
namespace {

namespace fs = std::filesystem;

// One queued message and what the sink must record for it.
struct Shaped {
  std::string from;
  std::vector<std::string> to;
  std::string body;  // already CRLF-normalised: stored as queued
  bool eightBit = false;
};

// A body of exactly `size` octets: a header block, then printable lines of varying length, some starting with ".".
std::string filler(const std::string& subject, std::size_t size, std::size_t seed) {
  std::string b = "Subject: " + subject + "\r\n\r\n";
  for (std::size_t i = 0; b.size() + 100 < size; ++i) {
    std::string line = ((i + seed) % 9 == 0 ? "." : "") + std::to_string(i) + ":";
    const std::size_t len = 10 + (i * 37 + seed) % 70;
    while (line.size() < len) line += static_cast<char>('a' + (i + line.size()) % 26);
    b += line + "\r\n";
  }
  while (b.size() + 2 < size) b += 'q';
  b += "\r\n";
  return b;
}

// The shapes that stress framing: dot lines (stuffed for DATA, raw for BDAT), CRLF.CRLF look-alikes that are not a
// terminator, 8-bit text, and the empty message.
std::string shapeBody(std::size_t k, std::size_t i) {
  const std::string id = "Subject: shape " + std::to_string(i) + "\r\n";
  switch (k) {
    case 0: return "";  // empty: BDAT 0 LAST / DATA with the terminator alone
    case 1: return id + "\r\n.\r\n..\r\n...\r\n. \r\n.x\r\nend\r\n";
    case 2:  // look-alikes inside lines: a dot between spaces, a dot before the line end, "\r\n.\r\n" spelled out
      return id + "\r\ntext . more\r\ndot at end.\r\nliteral \\r\\n.\\r\\n here\r\n \t.\r\nx.\r\n.y.\r\n";
    case 3:  // 8-bit (UTF-8 and a Latin-1 byte): goes with BODY=8BITMIME
      return id + "Content-Type: text/plain; charset=utf-8\r\n\r\nK\xC3\xB6ln \xE2\x82\xAC caf\xC3\xA9\r\n"
                  ".\xC3\xA9 dot then 8-bit\r\nlatin \xE9 byte\r\n";
    case 4: return id + "\r\nlast line is a lone dot\r\n.\r\n";
    case 5: return ".first line starts with a dot\r\nno header\r\n";
    default: return id + "\r\nplain\r\n";
  }
}

// Fifty messages: the shapes above repeated, plus sizes from a few octets to 1.5 MiB; some with several
// recipients (five of them also in a second domain) and one with the null reverse-path.
std::vector<Shaped> fiftyMessages() {
  std::vector<Shaped> v;
  const std::size_t sizes[] = {200, 1024, 5 * 1024, 64 * 1024, 300 * 1024, 1536 * 1024};
  for (std::size_t i = 0; i < 50; ++i) {
    Shaped m;
    m.from = i == 17 ? "" : "sender" + std::to_string(i % 3) + "@origin.test";
    m.to.push_back("r" + std::to_string(i) + "@sink.test");
    if (i % 10 == 4) m.to.push_back("r" + std::to_string(i) + "-cc@other.test");
    if (i % 10 == 8) {
      m.to.push_back("r" + std::to_string(i) + "-b@sink.test");
      m.to.push_back("r" + std::to_string(i) + "-c@sink.test");
    }
    if (i < 14) {
      m.body = shapeBody(i % 7, i);
    } else {
      m.body = filler("size " + std::to_string(i), sizes[i % 6], i);
      if (i % 5 == 0) m.body += "8-bit tail \xC3\xBC\xC3\x9F\r\n";
    }
    delivery::normaliseLineEndings(m.body);
    for (char c : m.body) m.eightBit = m.eightBit || (static_cast<unsigned char>(c) & 0x80) != 0;
    v.push_back(std::move(m));
  }
  return v;
}

// The transactions the engine makes of the messages: one per message and destination site. Every domain here
// routes to the one sink, so a message to sink.test and other.test is still one transaction, its recipients
// grouped by domain in order of first appearance (the engine resolves per domain, then merges at the site).
std::vector<Shaped> transactionsOf(const std::vector<Shaped>& msgs) {
  std::vector<Shaped> out;
  for (const auto& m : msgs) {
    std::vector<std::string> domains;
    for (const auto& r : m.to) {
      const std::string d = r.substr(r.find('@'));
      if (std::find(domains.begin(), domains.end(), d) == domains.end()) domains.push_back(d);
    }
    Shaped t = m;
    t.to.clear();
    for (const auto& d : domains)
      for (const auto& r : m.to)
        if (r.substr(r.find('@')) == d) t.to.push_back(r);
    out.push_back(std::move(t));
  }
  return out;
}

// The X-Sluice-Envelope line the sink writes for m (without "X-Sluice-Envelope: " and CRLF).
std::string expectedEnvelope(const Shaped& m, bool chunking, bool tls) {
  std::string to;
  for (const auto& r : m.to) to += (to.empty() ? "<" : ",<") + r + ">";
  return "from=<" + m.from + ">; to=" + to + "; body=" + (m.eightBit ? "8BITMIME" : "none") +
         "; smtputf8=no; transport=" + (chunking ? "BDAT" : "DATA") + "; tls=" + (tls ? "yes" : "no");
}

// One Maildir file split at the end of the sink's header line.
struct Stored {
  std::string envelope;  // the header value
  std::string body;      // the bytes after the header line
};

// Reads DIR/new; files whose first line is not the sink's header are kept with an empty envelope (a failure).
std::vector<Stored> readMaildir(const fs::path& dir) {
  std::vector<Stored> out;
  const std::string prefix = "X-Sluice-Envelope: ";
  for (const auto& f : interop::listFiles(dir / "new")) {
    const std::string text = interop::readFile(f);
    Stored s;
    const std::size_t eol = text.find("\r\n");
    if (text.compare(0, prefix.size(), prefix) == 0 && eol != std::string::npos) {
      s.envelope = text.substr(prefix.size(), eol - prefix.size());
      s.body = text.substr(eol + 2);
    } else {
      s.body = text;
    }
    out.push_back(std::move(s));
  }
  return out;
}

// The first recipient named in an envelope value ("...; to=<r1>,<r2>; ..." -> "r1").
std::string firstRecipient(const std::string& envelope) {
  const std::size_t at = envelope.find("; to=<");
  if (at == std::string::npos) return "";
  const std::size_t start = at + 6;
  const std::size_t end = envelope.find('>', start);
  return end == std::string::npos ? "" : envelope.substr(start, end - start);
}

// Starts a sink on an ephemeral loopback port keeping messages in `maildir`, drains the fifty messages into it with
// tls: opportunistic, and checks the engine's counters and log, the sink's counters and every stored file.
void runThroughSink(const fs::path& maildir, bool chunking, bool startTls) {
  sink::SinkOptions o;
  o.listen = "127.0.0.1:0";
  o.maildir = maildir.string();
  o.chunking = chunking;
  o.startTls = startTls;
  o.quiet = true;
  if (startTls && !sink::tlsAvailable()) FAIL("this build has no TLS for the sink");
  auto sk = std::make_unique<sink::Sink>(o);
  std::string error;
  REQUIRE_MESSAGE(sk->start(&error), error);

  ops::EngineConfig cfg = testConfig(loopback(sk->port()));
  cfg.tls = smtp::TlsPolicy::Opportunistic;
  EngineHarness h(cfg);
  const std::vector<Shaped> msgs = fiftyMessages();
  const std::vector<Shaped> txns = transactionsOf(msgs);
  std::size_t recipients = 0;
  std::size_t octets = 0;
  std::size_t eightBit = 0;
  for (const auto& m : msgs) {
    h.add({m.from, m.to, m.body, {}});
    recipients += m.to.size();
  }
  for (const auto& t : txns) {
    octets += t.body.size();
    eightBit += t.eightBit ? 1 : 0;
  }
  REQUIRE(txns.size() == msgs.size());  // one transaction per message, also for those spanning two domains
  REQUIRE(std::any_of(msgs.begin(), msgs.end(), [](const Shaped& m) {
    return std::any_of(m.to.begin(), m.to.end(), [&](const std::string& r) {
      return r.substr(r.find('@')) != m.to.front().substr(m.to.front().find('@'));
    });
  }));
  REQUIRE(eightBit >= 5);

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == recipients);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.messagesDone == msgs.size());
  CHECK(r.spool.liveMessages == 0);
  CHECK(r.progress.transactionsTls == (startTls ? txns.size() : 0));
  CHECK(r.progress.transactionsBdat == (chunking ? txns.size() : 0));
  CHECK(r.progress.transactionsData == (chunking ? 0 : txns.size()));
  CHECK(r.progress.transactions8bit == eightBit);
  CHECK(r.progress.bodyBytes == octets);

  REQUIRE(r.log.size() == recipients);
  for (const LogLine& l : r.log) {
    INFO(l.raw);
    CHECK(l.status == "delivered");
    CHECK(l.code == 250);
    CHECK(l.tls == startTls);
    CHECK(l.chunking == chunking);
    CHECK(l.pipelined);
  }

  // The sink's view: one accepted message per queued one, handshakes only when STARTTLS was offered.
  const sink::SinkCounters c = sk->counters();
  CHECK(c.messages == txns.size());
  CHECK(c.recipients == recipients);
  CHECK(c.messagesBdat == (chunking ? txns.size() : 0));
  CHECK(c.messagesData == (chunking ? 0 : txns.size()));
  CHECK(c.bytes == octets);
  CHECK(c.maildirErrors == 0);
  if (startTls) {
    CHECK(c.tls >= 1);
    CHECK(c.tls == c.connectionsAccepted);  // every session upgraded before its first transaction
  } else {
    CHECK(c.tls == 0);
  }
  sk->stop();
  sk->wait();

  // Every file: the envelope names the right sender, recipients and transport; the bytes are as queued.
  const std::vector<Stored> files = readMaildir(maildir);
  REQUIRE(files.size() == txns.size());
  std::map<std::string, const Stored*> byFirst;
  for (const auto& s : files) {
    INFO("envelope: " << s.envelope);
    CHECK_FALSE(s.envelope.empty());
    CHECK(byFirst.count(firstRecipient(s.envelope)) == 0);
    byFirst[firstRecipient(s.envelope)] = &s;
  }
  for (const Shaped& m : txns) {
    INFO("transaction to " << m.to[0] << " (" << m.body.size() << " octets)");
    REQUIRE(byFirst.count(m.to[0]) == 1);
    const Stored& s = *byFirst.at(m.to[0]);
    CHECK(s.envelope == expectedEnvelope(m, chunking, startTls));
    CHECK(s.body.size() == m.body.size());
    CHECK(s.body == m.body);
  }
}

}  // namespace

// RFC 3207 + RFC 3030 §2 + RFC 6152: the sink offers STARTTLS (self-signed) and CHUNKING; every message goes over
// TLS by BDAT, raw, and the sink stores exactly the queued bytes with an envelope naming sender, recipients,
// BODY=8BITMIME for the 8-bit ones, transport=BDAT and tls=yes.
TEST_CASE("engine vs sluice sink --maildir with STARTTLS and CHUNKING: 50 mixed messages over TLS by BDAT") {
  interop::TempDir dir("sluice-engine-sinkmd.");
  runThroughSink(dir / "md", true, true);
}

// RFC 5321 §4.5.2: with --no-chunking --no-starttls the same 50 go in clear by DATA, dot-stuffed by the engine and
// unstuffed by the sink; the stored bytes are again exactly the queued ones (dot lines, a lone "." line, the empty
// message), with transport=DATA and tls=no.
TEST_CASE("engine vs sluice sink --maildir --no-chunking --no-starttls: 50 mixed messages in clear by DATA") {
  interop::TempDir dir("sluice-engine-sinkmd.");
  runThroughSink(dir / "md", false, false);
}

}  // namespace sluice::enginetest
