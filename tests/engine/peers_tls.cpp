// peers_tls.cpp: the delivery engine's STARTTLS (RFC 3207) against a private Postfix instance on loopback. With a
// certificate, Postfix advertises STARTTLS; the engine (tls: opportunistic, no certificate verification) upgrades,
// sends EHLO again and delivers over TLS; Postfix's own Received header ("using TLSv1.3 with cipher ...") and its
// session summary ("starttls=1") show the upgrade from the receiving side, and the Maildir bytes equal what was
// queued. Without a certificate (no STARTTLS advertised), tls: require defers every recipient with a reason naming
// TLS and sends no transaction, while tls: opportunistic delivers in clear.
//
// TlsPostfix is interop::PostfixPeer (whose master.cf runs tlsmgr: without it Postfix's smtpd has no entropy source
// and answers STARTTLS with "454 4.7.0 TLS not available due to local problem") given a fresh self-signed P-256 key
// and certificate, and TLS logging. Each test starts its own instance (stopped on destruction)
// and its own temp spool (EngineHarness). Threads: the test thread only. Errors: start failures are reported through
// running()/startOutput() and fail the test with REQUIRE.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tests/engine/harness.hpp"
#include "tests/interop/peers.hpp"

namespace sluice::enginetest {
namespace {

namespace fs = std::filesystem;
using interop::crlfToLf;
using interop::PostfixDelivery;

const Millis kWait{60000};

// The shared private Postfix (tests/interop PostfixPeer: listeners with CHUNKING advertised and discarded, its
// master.cf runs tlsmgr) with, or without, a certificate for STARTTLS made by `openssl req` for the test.
class TlsPostfix {
 public:
  // withCertificate: smtpd gets a fresh self-signed certificate and offers STARTTLS (level "may"); otherwise the
  // same instance without any TLS setting, so STARTTLS is not advertised.
  explicit TlsPostfix(bool withCertificate) : certs_("sluice-postfix-tls.") {
    std::string tls;
    if (withCertificate) {
      const std::string T = certs_.path().string();
      const auto key = interop::runCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                            "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=mx.test", "-days",
                                            "1", "-keyout", T + "/k", "-out", T + "/c"},
                                           Millis(30000));
      if (key.status != 0) {
        startOutput_ = "openssl req failed: " + key.output;
        return;
      }
      tls = "smtpd_tls_cert_file = " + T + "/c\n"
            "smtpd_tls_key_file = " + T + "/k\n"
            "smtpd_tls_security_level = may\n"
            "smtpd_tls_received_header = yes\n"
            "smtpd_tls_loglevel = 1\n";
    }
    peer_ = std::make_unique<interop::PostfixPeer>(tls);
    startOutput_ = peer_->startOutput();
  }

  bool running() const { return peer_ && peer_->running(); }
  const std::string& startOutput() const { return startOutput_; }
  std::uint16_t port() const { return peer_->port(); }
  std::uint16_t noChunkingPort() const { return peer_->noChunkingPort(); }
  std::string maillog() const { return peer_->maillog(); }

  // SMTP sessions that sent at least one command, once at least `atLeast` have ended (or the limit passed). The
  // port probes made while starting end with "commands=0/0" and are not counted.
  std::size_t waitSessions(std::size_t atLeast) const {
    std::size_t n = 0;
    interop::pollUntil(kWait, [&] {
      const std::string log = maillog();
      n = count(log, " disconnect from ") - count(log, " commands=0/0");
      return n >= atLeast;
    });
    return n;
  }

  // Waits for `n` Maildir files and splits each into Postfix's three trace headers and the message.
  std::vector<PostfixDelivery> waitDeliveries(std::size_t n) const { return peer_->waitDeliveries(n, kWait); }

  // Files in the Maildir now (no waiting).
  std::size_t maildirCount() const { return peer_->waitDeliveries(0, Millis(0)).size(); }

  static std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
    return n;
  }
  // Warning lines of the log, less the two Postfix's cleanup writes when the machine's file system clock runs a
  // second ahead of its system clock ("file system clock is N seconds ahead", "resetting file time stamps"):
  // seen on a loaded virtual machine, they say nothing about the SMTP or TLS session under test.
  static std::size_t sessionWarnings(const std::string& log) {
    std::size_t n = 0;
    std::size_t ls = 0;
    while (ls < log.size()) {
      std::size_t le = log.find('\n', ls);
      if (le == std::string::npos) le = log.size();
      const std::string_view line(log.data() + ls, le - ls);
      if (line.find("warning:") != std::string_view::npos &&
          line.find("file system clock is") == std::string_view::npos &&
          line.find("resetting file time stamps") == std::string_view::npos) {
        ++n;
      }
      ls = le + 1;
    }
    return n;
  }

 private:
  interop::TempDir certs_;  // first member: removed last, after the instance stopped
  std::unique_ptr<interop::PostfixPeer> peer_;
  std::string startOutput_;
};

// A message of exactly `size` octets (CRLF endings, headers first so Postfix stores it unchanged apart from LF):
// numbered lines of printable text, every seventh one starting with ".".
std::string messageOf(const std::string& subject, std::size_t size) {
  std::string b = "From: sender@origin.test\r\nSubject: " + subject + "\r\n\r\n";
  for (std::size_t i = 0; b.size() + 80 < size; ++i) {
    std::string line = (i % 7 == 0 ? ".line " : "line ") + std::to_string(i) + " ";
    while (line.size() < 70) line += static_cast<char>('A' + (i + line.size()) % 26);
    b += line + "\r\n";
  }
  while (b.size() + 2 < size) b += 'z';
  b += "\r\n";
  return b;
}

// The five messages of the TLS delivery test: four small ones and one of exactly 1 MiB.
std::vector<std::string> fiveMessages() {
  std::vector<std::string> v;
  v.push_back("From: sender@origin.test\r\nSubject: tiny\r\n\r\nhello over TLS\r\n.\r\n..\r\nend\r\n");
  v.push_back(messageOf("one mebibyte", 1u << 20));
  v.push_back(messageOf("two kib", 2048));
  v.push_back(messageOf("sixty kib", 60 * 1024));
  v.push_back("Subject: header only\r\n\r\n");
  return v;
}

std::map<std::string, PostfixDelivery> byRecipient(const std::vector<PostfixDelivery>& ds) {
  std::map<std::string, PostfixDelivery> m;
  for (const auto& d : ds) m[d.deliveredTo] = d;
  return m;
}

std::string rcptOf(std::size_t i) { return "m" + std::to_string(i) + "@dest.test"; }

// Queues `bodies` (message i to m<i>@dest.test), drains them to `port` with the given TLS policy, and checks that
// every message was delivered with the expected transport and that Postfix stored the queued bytes.
void deliverAndCheck(const TlsPostfix& pf, std::uint16_t port, smtp::TlsPolicy policy, bool expectTls,
                     bool expectChunking, const std::vector<std::string>& bodies) {
  ops::EngineConfig cfg = testConfig(loopback(port));
  cfg.tls = policy;
  EngineHarness h(cfg);
  for (std::size_t i = 0; i < bodies.size(); ++i) h.add({"sender@origin.test", {rcptOf(i)}, bodies[i], {}});

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == bodies.size());
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.deferred == 0);
  CHECK(r.spool.liveMessages == 0);
  CHECK(r.progress.transactionsTls == (expectTls ? bodies.size() : 0));
  CHECK(r.progress.transactionsBdat == (expectChunking ? bodies.size() : 0));
  CHECK(r.progress.transactionsData == (expectChunking ? 0 : bodies.size()));

  REQUIRE(r.log.size() == bodies.size());
  for (const LogLine& l : r.log) {
    INFO(l.raw);
    CHECK(l.status == "delivered");
    CHECK(l.code == 250);
    CHECK(l.tls == expectTls);
    CHECK(l.chunking == expectChunking);
    CHECK(l.pipelined);
    CHECK(l.addr == loopback(port));
  }

  const auto got = byRecipient(pf.waitDeliveries(bodies.size()));
  REQUIRE_MESSAGE(got.size() == bodies.size(), pf.maillog());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    INFO("recipient " << rcptOf(i) << " (" << bodies[i].size() << " octets)");
    REQUIRE(got.count(rcptOf(i)) == 1);
    const PostfixDelivery& d = got.at(rcptOf(i));
    CHECK(d.returnPath == "<sender@origin.test>");
    INFO("Received: " << d.received);
    CHECK(d.received.find("from sluice.test") != std::string::npos);  // the EHLO name (sent again after TLS)
    // Postfix notes the TLS session in its Received header (smtpd_tls_received_header = yes).
    CHECK((d.received.find("(using TLSv1.3 with cipher ") != std::string::npos) == expectTls);
    CHECK((d.received.find("using TLS") != std::string::npos) == expectTls);
    CHECK(d.message.size() == crlfToLf(bodies[i]).size());
    CHECK(d.message == crlfToLf(bodies[i]));
  }
}

}  // namespace

// RFC 3207 §4-4.2 with RFC 3030: STARTTLS advertised, the engine upgrades (opportunistic, no verification), EHLOs
// again and uses what the post-TLS EHLO advertises: BDAT on the CHUNKING listener, DATA where CHUNKING is
// discarded. Five messages (one of 1 MiB) arrive byte for byte; Postfix's log shows one STARTTLS per session.
TEST_CASE("engine vs Postfix with STARTTLS: opportunistic TLS, 5 messages (1 MiB) delivered encrypted, bytes equal") {
  TlsPostfix pf(true);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());

  SUBCASE("CHUNKING advertised: BDAT over TLS") {
    deliverAndCheck(pf, pf.port(), smtp::TlsPolicy::Opportunistic, true, true, fiveMessages());
  }
  SUBCASE("CHUNKING discarded: DATA over TLS") {
    deliverAndCheck(pf, pf.noChunkingPort(), smtp::TlsPolicy::Opportunistic, true, false, fiveMessages());
  }
  SUBCASE("tls: require is satisfied by the upgrade") {
    deliverAndCheck(pf, pf.port(), smtp::TlsPolicy::Require, true, true, fiveMessages());
  }

  // Postfix's side: every session that carried mail negotiated TLS first; none ran a transaction in clear.
  const std::size_t sessions = pf.waitSessions(1);
  CHECK(sessions >= 1);
  const std::string log = pf.maillog();
  INFO(log);
  CHECK(TlsPostfix::count(log, "TLS connection established from") == sessions);
  CHECK(TlsPostfix::count(log, " starttls=1 ") == sessions);
  CHECK(TlsPostfix::sessionWarnings(log) == 0);
}

// RFC 3207 §4: a client that requires TLS must not send mail to a server that does not offer STARTTLS. The peer has
// no certificate (STARTTLS not advertised): tls: require defers each recipient (4xx-class, not bounced) with a reason
// naming TLS, and no MAIL reaches Postfix; tls: opportunistic delivers in clear.
TEST_CASE("engine vs Postfix without STARTTLS: require defers (reason names TLS), opportunistic delivers in clear") {
  TlsPostfix pf(false);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());

  SUBCASE("tls: require") {
    ops::EngineConfig cfg = testConfig(loopback(pf.port()));
    cfg.tls = smtp::TlsPolicy::Require;
    EngineHarness h(cfg);
    const std::size_t n = 3;
    for (std::size_t i = 0; i < n; ++i)
      h.add({"sender@origin.test", {rcptOf(i)}, messageOf("must stay queued " + std::to_string(i), 1000), {}});

    const RunReport r = h.run();
    REQUIRE_MESSAGE(r.created, r.createError);
    CHECK(r.rc == 0);
    CHECK_FALSE(r.stoppedByWatchdog);
    CHECK(r.progress.delivered == 0);
    CHECK(r.progress.bounced == 0);
    CHECK(r.progress.bouncesQueued == 0);
    CHECK(r.progress.deferred == n);
    CHECK(r.progress.transactionsTls == 0);
    CHECK(r.progress.transactionsBdat + r.progress.transactionsData == 0);
    CHECK(r.spool.liveMessages == n);  // still queued for a later attempt

    REQUIRE(r.log.size() == n);
    for (const LogLine& l : r.log) {
      INFO(l.raw);
      CHECK(l.status == "deferred");
      CHECK((l.code == 0 || (l.code >= 400 && l.code < 500)));
      CHECK(l.reply.find("TLS") != std::string::npos);
      CHECK_FALSE(l.tls);
    }
    for (std::size_t i = 0; i < n; ++i) CHECK(linesFor(r.log, rcptOf(i)).size() == 1);

    // Postfix saw sessions that ended after EHLO: no MAIL, no STARTTLS, nothing stored.
    const std::size_t sessions = pf.waitSessions(1);
    CHECK(sessions >= 1);
    const std::string log = pf.maillog();
    INFO(log);
    CHECK(TlsPostfix::count(log, " ehlo=1") == sessions);
    CHECK(TlsPostfix::count(log, " mail=") == 0);
    CHECK(TlsPostfix::count(log, "starttls") == 0);
    CHECK(pf.maildirCount() == 0);
  }

  SUBCASE("tls: opportunistic") {
    deliverAndCheck(pf, pf.port(), smtp::TlsPolicy::Opportunistic, false, true, fiveMessages());
    const std::string log = pf.maillog();
    INFO(log);
    CHECK(TlsPostfix::count(log, "starttls") == 0);
  }
}

}  // namespace sluice::enginetest
