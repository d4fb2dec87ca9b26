// test_sink_peers.cpp: the sink against independent clients: swaks (plain, --pipeline, an 8-bit body, HELO fallback
// against --no-ehlo) with the maildir copy checked byte for byte, and Postfix's smtp-source (many sessions and
// messages) counted; the command line itself (listening line, --exit-after-messages, SIGTERM, final counters).
#include <signal.h>
#include <sys/wait.h>

#include <regex>
#include <string>
#include <vector>

#include "tests/interop/peers.hpp"
#include "tests/interop/process.hpp"
#include "tests/sink/sink_test_support.hpp"

using namespace sluice::sink;
using namespace sluice::sink::test;
using namespace sluice::interop;

namespace {

// swaks reads this file as the DATA content (LF endings; it sends CRLF and dot-stuffs): 8-bit UTF-8, lines
// starting with ".", no final newline.
const std::string kDataFile =
    "From: a@x.test\n"
    "To: b@y.test\n"
    "Subject: sink\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    ".leading dot\n"
    "..\n"
    "K\xc3\xb6ln \xe2\x98\x83\n"
    "last line";

// What the sink must keep: CRLF line endings, unstuffed, a CRLF after the last line.
std::string expectedBody() {
  std::string out;
  for (char c : kDataFile) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out + "\r\n";
}

RunResult swaks(std::uint16_t port, const TempDir& dir, const std::vector<std::string>& extra) {
  writeFile(dir / "data.eml", kDataFile);
  std::vector<std::string> args = {"--from", "a@x.test", "--to", "b@y.test,c@y.test", "--helo", "client.test",
                                   "--data", "@" + (dir / "data.eml").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return runSwaks(port, args);
}

void checkSwaksDelivery(const std::vector<std::string>& sinkFlags, const std::vector<std::string>& swaksFlags,
                        bool extended) {
  TempDir dir("sluice-sink-swaks.");
  std::vector<std::string> flags = {"--maildir", (dir / "md").string()};
  flags.insert(flags.end(), sinkFlags.begin(), sinkFlags.end());
  auto sink = startSink(flags);
  RunResult r = swaks(sink->port(), dir, swaksFlags);
  INFO(r.output);
  CHECK(r.status == 0);
  const auto files = maildirMessages(dir / "md");
  REQUIRE(files.size() == 1);
  CHECK(files[0] == "X-Sluice-Envelope: from=<a@x.test>; to=<b@y.test>,<c@y.test>; body=none; smtputf8=no; "
                    "transport=DATA; tls=no\r\n" +
                        expectedBody());
  CHECK(eventually([&] { return sink->counters().connectionsActive == 0; }));
  const SinkCounters n = sink->counters();
  CHECK(n.messages == 1);
  CHECK(n.messagesData == 1);
  CHECK(n.recipients == 2);
  CHECK(n.bytes == expectedBody().size());
  CHECK(n.ehlo == (extended ? 1u : 0u));
  CHECK(n.helo == (extended ? 0u : 1u));
}

// The first line of the command's stdout: "listening on 127.0.0.1:PORT"; 0 if it never came.
std::uint16_t listeningPort(const std::filesystem::path& log) {
  std::uint16_t port = 0;
  pollUntil(Millis(10000), [&] {
    static const std::regex re("^listening on 127\\.0\\.0\\.1:([0-9]+)\n");
    std::smatch m;
    const std::string text = readFile(log);
    if (std::regex_search(text, m, re)) port = static_cast<std::uint16_t>(std::stoi(m[1].str()));
    return port != 0;
  });
  return port;
}

// Runs smtp-source with `args` against the port.
RunResult smtpSource(std::uint16_t port, std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/sbin/smtp-source"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("127.0.0.1:" + std::to_string(port));
  return runCommand(argv, Millis(60000));
}

}  // namespace

TEST_CASE("sink + swaks: plain ESMTP delivery, maildir byte for byte") { checkSwaksDelivery({}, {}, true); }

TEST_CASE("sink + swaks --pipeline: MAIL, both RCPTs and DATA pipelined (RFC 2920), same bytes") {
  checkSwaksDelivery({}, {"--pipeline"}, true);
}

TEST_CASE("sink + swaks: --no-ehlo makes swaks fall back to HELO (RFC 5321 §3.2)") {
  checkSwaksDelivery({"--no-ehlo"}, {}, false);
}

TEST_CASE("sink + swaks: --reply-delay and --no-pipelining still deliver the same bytes") {
  checkSwaksDelivery({"--reply-delay", "20", "--no-pipelining"}, {}, true);
}

TEST_CASE("sink + swaks: a refused recipient makes swaks fail, nothing is kept") {
  TempDir dir("sluice-sink-swaks.");
  auto sink = startSink({"--maildir", (dir / "md").string(), "--permfail", "rcpt:100%"});
  RunResult r = swaks(sink->port(), dir, {});
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.output.find("550 5.1.1") != std::string::npos);
  CHECK(maildirMessages(dir / "md").empty());
}

TEST_CASE("sink + smtp-source: 20 sessions, 400 messages of 5 KiB, all counted") {
  auto sink = startSink({});
  RunResult r = smtpSource(sink->port(), {"-s", "20", "-l", "5120", "-m", "400", "-f", "a@x.test", "-t", "b@y.test"});
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(eventually([&] { return sink->counters().connectionsActive == 0; }));
  const SinkCounters n = sink->counters();
  CHECK(n.messages == 400);
  CHECK(n.messagesData == 400);
  CHECK(n.connectionsAccepted == 400);  // smtp-source without -d: one connection per message
  CHECK(n.recipients == 400);
  CHECK(n.bytes >= 400u * 5120u);
  CHECK(n.replies4xx + n.replies5xx + n.disconnects == 0);
}

TEST_CASE("sink + smtp-source -d: messages over kept-open sessions, with --threads 2") {
  auto sink = startSink({"--threads", "2"});
  RunResult r = smtpSource(sink->port(), {"-d", "-s", "4", "-l", "1000", "-m", "200", "-r", "3"});
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(eventually([&] { return sink->counters().messages == 200; }));
  CHECK(sink->counters().recipients == 600);
  CHECK(sink->counters().connectionsAccepted <= 4);
}

TEST_CASE("sink command line: listening line, --exit-after-messages ends the run, final counters") {
  TempDir dir("sluice-sink-cmd.");
  Child child({SLUICE_SINK_MAIN, "--listen", "127.0.0.1:0", "--exit-after-messages", "30", "--stats-every", "1"},
              dir / "out.log");
  const std::uint16_t port = listeningPort(dir / "out.log");
  REQUIRE(port != 0);
  RunResult r = smtpSource(port, {"-s", "3", "-m", "30", "-l", "100"});
  INFO(r.output);
  CHECK(r.status == 0);
  REQUIRE(child.waitExit(Millis(10000)));
  CHECK(WIFEXITED(child.status()));
  CHECK(WEXITSTATUS(child.status()) == 0);
  const std::string out = readFile(dir / "out.log");
  INFO(out);
  CHECK(out.find("final: conns 30 ") != std::string::npos);
  CHECK(out.find(" msgs 30 (bdat 0 data 30) ") != std::string::npos);
}

TEST_CASE("sink command line: SIGTERM prints the counters and exits 0; a bad flag exits 2") {
  TempDir dir("sluice-sink-cmd.");
  Child child({SLUICE_SINK_MAIN, "--listen", "127.0.0.1:0", "--no-chunking"}, dir / "out.log");
  const std::uint16_t port = listeningPort(dir / "out.log");
  REQUIRE(port != 0);
  {
    Client c(port);
    REQUIRE(c.reply().code == 220);
    Reply ehlo = c.cmd("EHLO client.test");
    CHECK(ehlo.code == 250);
    CHECK_FALSE(ehlo.has("CHUNKING"));
  }
  const int status = child.stop();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const std::string out = readFile(dir / "out.log");
  INFO(out);
  CHECK(out.find("final: conns 1 ") != std::string::npos);
  CHECK(out.find("ehlo 1 ") != std::string::npos);

  RunResult bad = runCommand({SLUICE_SINK_MAIN, "--tempfail", "rcpt:x%"}, Millis(10000));
  CHECK(bad.status == 2);
  CHECK(bad.output.find("bad rate") != std::string::npos);
}
