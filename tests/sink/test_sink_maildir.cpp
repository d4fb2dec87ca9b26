// test_sink_maildir.cpp: --maildir keeps each accepted message as one file in DIR/new: the X-Sluice-Envelope header
// the sink adds, then exactly the bytes received (dot-unstuffed for DATA, raw for BDAT); nothing for refused
// messages; and the counters by transport.
#include <string>
#include <vector>

#include "tests/interop/process.hpp"
#include "tests/sink/sink_test_support.hpp"

using namespace sluice::sink;
using namespace sluice::sink::test;
using sluice::interop::TempDir;

namespace {

void hello(Client& c) {
  REQUIRE(c.reply().code == 220);
  REQUIRE(c.cmd("EHLO client.test").code == 250);
}

}  // namespace

TEST_CASE("sink maildir: a BDAT message is kept raw, byte for byte, after the envelope header (RFC 3030 §2)") {
  TempDir dir("sluice-sink-md.");
  auto sink = startSink({"--maildir", (dir / "md").string()});
  Client c(sink->port());
  hello(c);
  // Raw content that DATA could not carry as is: a lone "." line, a bare LF, a bare CR, 8-bit bytes and NUL.
  const std::string part1 = "Subject: raw\r\n\r\n.\r\n.leading\r\nbare\nlf\rcr\r\n";
  const std::string part2 = std::string("K\xc3\xb6ln \xff\x00 end\r\n", 15);
  CHECK(c.cmd("MAIL FROM:<a@x.test> BODY=8BITMIME").code == 250);
  CHECK(c.cmd("RCPT TO:<b@y.test>").code == 250);
  CHECK(c.cmd("RCPT TO:<c@y.test>").code == 250);
  c.send("BDAT " + std::to_string(part1.size()) + "\r\n" + part1);
  CHECK(c.reply().code == 250);
  c.send("BDAT " + std::to_string(part2.size()) + " LAST\r\n" + part2);
  CHECK(c.reply().code == 250);
  CHECK(c.cmd("QUIT").code == 221);

  const auto files = maildirMessages(dir / "md");
  REQUIRE(files.size() == 1);
  CHECK(files[0] ==
        "X-Sluice-Envelope: from=<a@x.test>; to=<b@y.test>,<c@y.test>; body=8BITMIME; smtputf8=no; "
        "transport=BDAT; tls=no\r\n" +
            part1 + part2);
  const SinkCounters n = sink->counters();
  CHECK(n.messages == 1);
  CHECK(n.messagesBdat == 1);
  CHECK(n.bytes == part1.size() + part2.size());
  CHECK(n.recipients == 2);
}

TEST_CASE("sink maildir: a DATA message is kept dot-unstuffed (RFC 5321 §4.5.2), one file per message") {
  TempDir dir("sluice-sink-md.");
  auto sink = startSink({"--maildir", (dir / "md").string()});
  Client c(sink->port());
  hello(c);
  // On the wire: lines starting with "." are doubled; the terminating line ends the content.
  const std::string wire = "Subject: dots\r\n\r\n..\r\n...two\r\n..x\r\nplain . line\r\n.\r\n";
  const std::string stored = "Subject: dots\r\n\r\n.\r\n..two\r\n.x\r\nplain . line\r\n";
  CHECK(c.cmd("MAIL FROM:<>").code == 250);
  CHECK(c.cmd("RCPT TO:<b@y.test>").code == 250);
  CHECK(c.cmd("DATA").code == 354);
  c.send(wire);
  CHECK(c.reply().code == 250);
  // A second message in the same session, with SMTPUTF8, and one that is refused (no file for it).
  CHECK(c.cmd("MAIL FROM:<\xc3\xa9@x.test> SMTPUTF8").code == 250);
  CHECK(c.cmd("RCPT TO:<d@y.test>").code == 250);
  CHECK(c.cmd("DATA").code == 354);
  c.send("x\r\n.\r\n");
  CHECK(c.reply().code == 250);
  CHECK(c.cmd("MAIL FROM:<a@x.test>").code == 250);
  CHECK(c.cmd("RCPT TO:<e@y.test>").code == 250);
  CHECK(c.cmd("RSET").code == 250);  // abandoned transaction: nothing kept

  const auto files = maildirMessages(dir / "md");
  REQUIRE(files.size() == 2);
  CHECK(files[0] ==
        "X-Sluice-Envelope: from=<>; to=<b@y.test>; body=none; smtputf8=no; transport=DATA; tls=no\r\n" + stored);
  CHECK(files[1] ==
        "X-Sluice-Envelope: from=<\xc3\xa9@x.test>; to=<d@y.test>; body=none; smtputf8=yes; transport=DATA; "
        "tls=no\r\nx\r\n");
  CHECK(std::filesystem::is_empty(dir / "md" / "tmp"));
  const SinkCounters n = sink->counters();
  CHECK(n.messages == 2);
  CHECK(n.messagesData == 2);
  CHECK(n.transactions == 3);
  CHECK(n.bytes == stored.size() + 3);
}

TEST_CASE("sink maildir: an injected end-of-data failure keeps no file") {
  TempDir dir("sluice-sink-md.");
  auto sink = startSink({"--maildir", (dir / "md").string(), "--permfail", "data:100%"});
  Client c(sink->port());
  hello(c);
  CHECK(c.cmd("MAIL FROM:<a@x.test>").code == 250);
  CHECK(c.cmd("RCPT TO:<b@y.test>").code == 250);
  CHECK(c.cmd("DATA").code == 354);
  c.send("x\r\n.\r\n");
  Reply r = c.reply();
  CHECK(r.code == 554);
  CHECK(r.text().find("5.6.0") == 0);
  CHECK(maildirMessages(dir / "md").empty());
  CHECK(sink->counters().messages == 0);
}

TEST_CASE("sink maildir: an unusable directory fails start() with a message") {
  TempDir dir("sluice-sink-md.");
  sluice::interop::writeFile(dir / "file", "x");
  SinkOptions o;
  o.listen = "127.0.0.1:0";
  o.maildir = (dir / "file" / "md").string();
  Sink s(o);
  std::string error;
  CHECK_FALSE(s.start(&error));
  CHECK(error.find("maildir") != std::string::npos);
}
