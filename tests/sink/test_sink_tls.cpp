// test_sink_tls.cpp: STARTTLS in the sink (RFC 3207) with its self-signed certificate: advertised before TLS and not
// after it, a message over TLS kept with tls=yes, counted; driven by a scripted client over net::TlsFilter and by
// OpenSSL's own s_client (an independent client), also with --reply-delay (the 220 leaves the delay queue in
// plaintext, everything after it encrypted).
#include <memory>
#include <string>
#include <vector>

#include "engine/net/tls.hpp"
#include "tests/interop/process.hpp"
#include "tests/sink/sink_test_support.hpp"

using namespace sluice;
using namespace sluice::sink;
using namespace sluice::sink::test;
using interop::TempDir;

namespace {

// SMTP over a TLS filter on top of the scripted client's socket.
class TlsClient {
 public:
  explicit TlsClient(Client& c) : c_(c) {
    std::string error;
    ctx_ = net::TlsContext::makeClient(net::TlsClientOptions{}, &error);
    INFO(error);
    REQUIRE(ctx_);
    tls_ = std::make_unique<net::TlsFilter>(*ctx_, net::TlsRole::Client, "sink.sluice.test");
    while (!tls_->handshakeDone()) {
      flush();
      REQUIRE(pump());
    }
    flush();
  }
  Reply cmd(const std::string& line) {
    send(line + "\r\n");
    return reply();
  }
  void send(const std::string& bytes) {
    REQUIRE(tls_->writePlain(bytes));
    flush();
  }
  Reply reply() {
    for (;;) {
      Reply r;
      std::size_t pos = 0;
      for (;;) {
        auto eol = plain_.find("\r\n", pos);
        if (eol == std::string::npos) break;
        std::string line = plain_.substr(pos, eol - pos);
        pos = eol + 2;
        r.lines.push_back(line.size() > 4 ? line.substr(4) : std::string());
        if (line.size() == 3 || line[3] == ' ') {
          r.code = std::stoi(line.substr(0, 3));
          plain_.erase(0, pos);
          return r;
        }
      }
      if (!pump()) return Reply{};
    }
  }
  bool peerClosed() {
    while (!tls_->peerClosed())
      if (!pump()) return false;
    return true;
  }

 private:
  void flush() {
    std::string out = tls_->takeCiphertext();
    if (!out.empty()) c_.send(out);
  }
  bool pump() {
    std::string in = c_.recvSome();
    if (in.empty()) return false;
    if (!tls_->feedCiphertext(in)) return false;
    plain_ += tls_->takePlaintext();
    flush();
    return true;
  }
  Client& c_;
  std::unique_ptr<net::TlsContext> ctx_;
  std::unique_ptr<net::TlsFilter> tls_;
  std::string plain_;
};

}  // namespace

TEST_CASE("sink STARTTLS: advertised, 220, handshake, EHLO again without STARTTLS, a BDAT message kept with tls=yes") {
  TempDir dir("sluice-sink-tls.");
  auto sink = startSink({"--maildir", (dir / "md").string()});
  Client c(sink->port());
  REQUIRE(c.reply().code == 220);
  Reply ehlo = c.cmd("EHLO client.test");
  CHECK(ehlo.has("STARTTLS"));
  Reply ready = c.cmd("STARTTLS");
  REQUIRE(ready.code == 220);
  TlsClient t(c);
  // RFC 3207 §4.2: the session starts over; STARTTLS is not offered again.
  Reply again = t.cmd("EHLO client.test");
  CHECK(again.code == 250);
  CHECK_FALSE(again.has("STARTTLS"));
  CHECK(again.has("CHUNKING"));
  CHECK(t.cmd("MAIL FROM:<a@x.test>").code == 250);
  CHECK(t.cmd("RCPT TO:<b@y.test>").code == 250);
  const std::string body = "Subject: over tls\r\n\r\nsecret\r\n";
  t.send("BDAT " + std::to_string(body.size()) + " LAST\r\n" + body);
  CHECK(t.reply().code == 250);
  CHECK(t.cmd("QUIT").code == 221);
  CHECK(t.peerClosed());  // close_notify before the close

  const auto files = maildirMessages(dir / "md");
  REQUIRE(files.size() == 1);
  CHECK(files[0] == "X-Sluice-Envelope: from=<a@x.test>; to=<b@y.test>; body=none; smtputf8=no; transport=BDAT; "
                    "tls=yes\r\n" +
                        body);
  CHECK(sink->counters().tls == 1);
  CHECK(sink->counters().ehlo == 2);
}

TEST_CASE("sink STARTTLS: bytes pipelined behind STARTTLS are discarded, never run as commands (RFC 3207 §5)") {
  auto sink = startSink({});
  Client c(sink->port());
  REQUIRE(c.reply().code == 220);
  REQUIRE(c.cmd("EHLO client.test").code == 250);
  c.send("STARTTLS\r\nMAIL FROM:<injected@x.test>\r\n");
  REQUIRE(c.reply().code == 220);
  TlsClient t(c);
  CHECK(t.cmd("EHLO client.test").code == 250);
  CHECK(t.cmd("RCPT TO:<b@y.test>").code == 503);  // no MAIL survived the switch
  CHECK(sink->counters().transactions == 0);
}

namespace {
// openssl s_client as the client: STARTTLS, then a pipelined conversation fed on stdin.
interop::RunResult sClient(std::uint16_t port) {
  const std::string script =
      "printf 'EHLO c.test\\nMAIL FROM:<a@x.test>\\nRCPT TO:<b@y.test>\\nDATA\\nSubject: s\\n\\n.dot\\nbody\\n.\\n"
      "QUIT\\n' | openssl s_client -starttls smtp -connect 127.0.0.1:" +
      std::to_string(port) + " -crlf -quiet -ign_eof";
  return interop::runCommand({"sh", "-c", script}, interop::Millis(20000));
}
}  // namespace

TEST_CASE("sink STARTTLS with openssl s_client, with and without --reply-delay") {
  for (const char* delay : {"0", "30"}) {
    CAPTURE(delay);
    TempDir dir("sluice-sink-tls.");
    auto sink = startSink({"--maildir", (dir / "md").string(), "--reply-delay", delay});
    interop::RunResult r = sClient(sink->port());
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(r.output.find("250 2.0.0 Message accepted") != std::string::npos);
    CHECK(r.output.find("221 2.0.0") != std::string::npos);
    const auto files = maildirMessages(dir / "md");
    REQUIRE(files.size() == 1);
    // s_client sends lines as typed (no dot-stuffing): the sink removes the leading dot (RFC 5321 §4.5.2).
    CHECK(files[0] == "X-Sluice-Envelope: from=<a@x.test>; to=<b@y.test>; body=none; smtputf8=no; "
                      "transport=DATA; tls=yes\r\nSubject: s\r\n\r\ndot\r\nbody\r\n");
    CHECK(sink->counters().tls == 1);
  }
}
