// test_server_swaks.cpp: swaks (an independent SMTP client) against ServerSession on a loopback listener: plain
// ESMTP, PIPELINING, HELO-only, and a server that refuses EHLO. The owner's recorded envelope and body must be
// exactly what swaks sent: a data file generated here, so its bytes are known.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/interop/driver.hpp"
#include "tests/interop/peers.hpp"

using namespace sluice::smtp;
using namespace sluice::interop;

namespace {

// The DATA portion swaks reads from the file: LF line endings, no final one (swaks sends CRLF), lines starting with "." that
// swaks must dot-stuff, raw UTF-8, a CRLF.CRLF look-alike ("..") and an empty line.
const std::string kDataFile =
    "From: Swaks <a@x.test>\n"
    "To: b@y.test\n"
    "Subject: interop\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "first line\n"
    ".leading dot\n"
    "..\n"
    "K\xc3\xb6ln \xe2\x98\x83\n"
    "\n"
    "last line";

// What the owner must receive: the same lines with CRLF, unstuffed; swaks ends the last line with CRLF before
// the terminating "." (a file ending in a newline would get an extra empty line).
std::string expectedBody() {
  std::string out;
  for (char c : kDataFile) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out + "\r\n";
}

// Writes the data file and runs swaks with `extra` options; returns its result.
RunResult swaks(const LoopbackServer& server, const std::vector<std::string>& extra) {
  TempDir dir("sluice-swaks.");
  writeFile(dir / "data.eml", kDataFile);
  std::vector<std::string> args = {"--from", "a@x.test", "--to", "b@y.test,c@y.test", "--helo", "client.swaks.test",
                                   "--data", "@" + (dir / "data.eml").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return runSwaks(server.port(), args);
}

// Checks the one message the owner recorded and the server-side transcript of the one connection.
WireLog checkReceived(const LoopbackServer& server, const RunResult& r, bool extended) {
  INFO(r.output);
  CHECK(r.status == 0);
  REQUIRE(server.waitConnections(1, Millis(10000)));
  const auto conns = server.connections();
  REQUIRE(conns.size() == 1);
  // The server's transcript, read with client bytes as commands.
  WireLog log = analyse(conns[0]);
  INFO(log.dump);
  CHECK_FALSE(log.malformed);
  CHECK(log.replies.size() == log.commands.size() + 1);  // one reply per command, plus the greeting (RFC 2920 §3.2)
  REQUIRE_FALSE(log.replies.empty());
  CHECK(log.replies.back() == 221);
  const auto msgs = server.messages();
  REQUIRE(msgs.size() == 1);
  const ReceivedMessage& m = msgs[0];
  CHECK(m.helo == "client.swaks.test");
  CHECK(m.extended == extended);
  CHECK(m.reversePath == "a@x.test");
  CHECK(m.recipients == std::vector<std::string>{"b@y.test", "c@y.test"});
  CHECK_FALSE(m.info.chunked);
  CHECK_FALSE(m.info.normalisedLines);
  CHECK(m.body == expectedBody());
  CHECK(m.info.octets == expectedBody().size());
  // swaks dot-stuffed the dot lines on the wire (RFC 5321 §4.5.2); the owner saw them unstuffed.
  REQUIRE(log.bodies.size() == 1);
  CHECK(log.bodies[0].find("\r\n..leading dot\r\n...\r\n") != std::string::npos);
  return log;
}

}  // namespace

TEST_CASE("swaks -> ServerSession: plain ESMTP, one command at a time, envelope and body as sent (RFC 5321 §3.3, "
          "§4.5.2)") {
  LoopbackServer server(ServerConfig{});
  const RunResult r = swaks(server, {});
  const WireLog log = checkReceived(server, r, true);
  CHECK(log.maxOutstanding == 1);
  CHECK(log.commands[0] == "EHLO client.swaks.test");
  CHECK(log.lines("MAIL FROM:") == std::vector<std::string>{"MAIL FROM:<a@x.test>"});
}

TEST_CASE("swaks --pipeline -> ServerSession: MAIL, RCPTs and DATA as one group, replies in order (RFC 2920 §3.1, "
          "§3.2)") {
  LoopbackServer server(ServerConfig{});
  const RunResult r = swaks(server, {"--pipeline"});
  const WireLog log = checkReceived(server, r, true);
  CHECK(log.maxOutstanding >= 4);  // MAIL + 2 RCPT + DATA before the first of their replies
  // Replies to the group: 250 MAIL, 250 RCPT, 250 RCPT, 354 DATA, in that order.
  REQUIRE(log.replies.size() >= 6);
  CHECK(log.replies[2] == 250);
  CHECK(log.replies[3] == 250);
  CHECK(log.replies[4] == 250);
  CHECK(log.replies[5] == 354);
}

TEST_CASE("swaks --protocol SMTP -> ServerSession: HELO only, no extensions, body as sent (RFC 5321 §4.1.1.1)") {
  LoopbackServer server(ServerConfig{});
  const RunResult r = swaks(server, {"--protocol", "SMTP"});
  const WireLog log = checkReceived(server, r, false);
  CHECK(log.commands[0] == "HELO client.swaks.test");
  CHECK(log.replies[1] == 250);
  CHECK(log.maxOutstanding == 1);
}

TEST_CASE("swaks -> ServerSession refusing EHLO: 500, swaks falls back to HELO, delivered (RFC 5321 §3.2)") {
  ServerConfig cfg;
  cfg.refuseEhlo = true;
  LoopbackServer server(cfg);
  const RunResult r = swaks(server, {});
  const WireLog log = checkReceived(server, r, false);
  REQUIRE(log.commands.size() >= 2);
  CHECK(log.commands[0] == "EHLO client.swaks.test");
  CHECK(log.replies[1] == 500);
  CHECK(log.commands[1] == "HELO client.swaks.test");
}
