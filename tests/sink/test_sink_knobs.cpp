// test_sink_knobs.cpp: each `sluice sink` knob changes what the sink advertises or answers, asserted with a
// scripted client over a plain socket: the EHLO list and every --no-X flag, --no-ehlo, --size, --reply-delay
// ordering, --max-connections, and the injected failures per stage (--tempfail, --permfail, --disconnect, --seed).
#include <string>
#include <vector>

#include "tests/sink/sink_test_support.hpp"

using namespace sluice::sink;
using namespace sluice::sink::test;

namespace {

const std::vector<std::string> kDefaultKeywords = {"PIPELINING", "CHUNKING", "8BITMIME", "SMTPUTF8",
                                                   "SIZE",       "DSN",      "ENHANCEDSTATUSCODES"};

Reply greetAndEhlo(Client& c) {
  Reply greeting = c.reply();
  REQUIRE(greeting.code == 220);
  return c.cmd("EHLO client.test");
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("sink: the default EHLO reply advertises every extension, SIZE with the configured limit") {
  auto sink = startSink({});
  Client c(sink->port());
  Reply ehlo = greetAndEhlo(c);
  REQUIRE(ehlo.code == 250);
  const auto kw = keywords(ehlo);
  for (const auto& k : kDefaultKeywords) CHECK_MESSAGE(contains(kw, k), k);
  CHECK(ehlo.has("SIZE 104857600"));
  // STARTTLS only when this build can run TLS (RFC 3207 §4: never advertise what cannot be done).
  CHECK(contains(kw, "STARTTLS") == tlsAvailable());
  CHECK(c.cmd("QUIT").code == 221);
  CHECK(c.closedByPeer());

  auto small = startSink({"--size", "5000"});
  Client d(small->port());
  CHECK(greetAndEhlo(d).has("SIZE 5000"));
}

TEST_CASE("sink: every --no-X flag removes exactly its keyword from the EHLO reply") {
  const std::vector<std::pair<std::string, std::string>> knobs = {
      {"--no-pipelining", "PIPELINING"}, {"--no-chunking", "CHUNKING"}, {"--no-8bitmime", "8BITMIME"},
      {"--no-smtputf8", "SMTPUTF8"},     {"--no-size", "SIZE"},         {"--no-dsn", "DSN"},
      {"--no-enhancedstatuscodes", "ENHANCEDSTATUSCODES"}};
  for (const auto& knob : knobs) {
    const std::string& flag = knob.first;  // not a structured binding: CAPTURE's lambda cannot use one (clang 14)
    const std::string& keyword = knob.second;
    CAPTURE(flag);
    auto sink = startSink({flag});
    Client c(sink->port());
    const auto kw = keywords(greetAndEhlo(c));
    CHECK_FALSE(contains(kw, keyword));
    for (const auto& k : kDefaultKeywords)
      if (k != keyword) CHECK_MESSAGE(contains(kw, k), k);
  }
  // --no-starttls: never advertised, and the command is not offered (502, RFC 3207 §4 / RFC 5321 §4.2.4).
  auto sink = startSink({"--no-starttls"});
  Client c(sink->port());
  CHECK_FALSE(contains(keywords(greetAndEhlo(c)), "STARTTLS"));
  CHECK(c.cmd("STARTTLS").code == 502);
}

TEST_CASE("sink: --binarymime offers BINARYMIME only together with CHUNKING, and takes BODY=BINARYMIME (RFC 3030 §3)") {
  auto byDefault = startSink({});
  Client b(byDefault->port());
  CHECK_FALSE(contains(keywords(greetAndEhlo(b)), "BINARYMIME"));  // off by default, as at most MTAs
  auto sink = startSink({"--binarymime"});
  Client c(sink->port());
  REQUIRE(contains(keywords(greetAndEhlo(c)), "BINARYMIME"));
  CHECK(c.cmd("MAIL FROM:<a@x.test> BODY=BINARYMIME").code == 250);
  auto plain = startSink({"--binarymime", "--no-chunking"});
  Client d(plain->port());
  CHECK_FALSE(contains(keywords(greetAndEhlo(d)), "BINARYMIME"));
  CHECK(d.cmd("MAIL FROM:<a@x.test> BODY=BINARYMIME").code == 555);
}

TEST_CASE("sink: a parameter of a switched-off extension is refused (RFC 5321 §4.1.1.11: 555)") {
  auto sink = startSink({"--no-8bitmime", "--no-size"});
  Client c(sink->port());
  REQUIRE(greetAndEhlo(c).code == 250);
  CHECK(c.cmd("MAIL FROM:<a@x.test> BODY=8BITMIME").code == 555);
  CHECK(c.cmd("MAIL FROM:<a@x.test> SIZE=100").code == 555);
  CHECK(c.cmd("MAIL FROM:<a@x.test>").code == 250);
}

TEST_CASE("sink: --no-ehlo answers EHLO with 500 and HELO with 250 (RFC 5321 §3.2 fallback)") {
  auto sink = startSink({"--no-ehlo"});
  Client c(sink->port());
  REQUIRE(c.reply().code == 220);
  CHECK(c.cmd("EHLO client.test").code == 500);
  CHECK(c.cmd("HELO client.test").code == 250);
  CHECK(c.cmd("MAIL FROM:<a@x.test>").code == 250);
  CHECK(c.cmd("RCPT TO:<b@y.test>").code == 250);
  CHECK(c.cmd("DATA").code == 354);
  CHECK(c.cmd("Subject: t\r\n\r\nbody\r\n.").code == 250);
  CHECK(eventually([&] { return sink->counters().helo == 1 && sink->counters().messagesData == 1; }));
  CHECK(sink->counters().ehlo == 0);
}

TEST_CASE("sink: --reply-delay keeps the replies of a pipelined batch in order (RFC 2920 §3.1)") {
  auto sink = startSink({"--reply-delay", "150"});
  Client c(sink->port());
  REQUIRE(greetAndEhlo(c).code == 250);
  // One batch: two good recipients around a bad one, then DATA; replies must come back in command order.
  c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<bad\r\nRCPT TO:<c@y.test>\r\nDATA\r\n");
  CHECK(c.reply().code == 250);
  CHECK(c.reply().code == 250);
  CHECK(c.reply().code == 501);
  CHECK(c.reply().code == 250);
  CHECK(c.reply().code == 354);
  // The message end and the commands behind it, in one segment, then a separate NOOP while those are held back.
  c.send("hello\r\n.\r\nMAIL FROM:<z@x.test>\r\nRSET\r\n");
  c.send("NOOP\r\n");
  Reply end = c.reply();
  CHECK(end.code == 250);
  CHECK(end.text().find("2.0.0") == 0);
  CHECK(c.reply().code == 250);  // MAIL
  CHECK(c.reply().code == 250);  // RSET
  CHECK(c.reply().code == 250);  // NOOP
  CHECK(c.cmd("QUIT").code == 221);
  CHECK(c.closedByPeer());
  CHECK(sink->counters().messages == 1);
}

TEST_CASE("sink: --max-connections answers the next connection 421 4.7.0 and closes it") {
  auto sink = startSink({"--max-connections", "2"});
  auto a = std::make_unique<Client>(sink->port());
  Client b(sink->port());
  CHECK(a->reply().code == 220);
  CHECK(b.reply().code == 220);
  Client c(sink->port());
  Reply r = c.reply();
  CHECK(r.code == 421);
  CHECK(r.text() == "4.7.0 too many connections");
  CHECK(c.closedByPeer());
  CHECK(sink->counters().connectionsRefused == 1);
  // Once one connection ends, a new one is served again.
  CHECK(a->cmd("QUIT").code == 221);
  CHECK(a->closedByPeer());
  a.reset();
  CHECK(eventually([&] { return sink->counters().connectionsActive == 1; }));
  Client d(sink->port());
  CHECK(d.reply().code == 220);
}

TEST_CASE("sink: --permfail rcpt:100% refuses every recipient with 5xx, MAIL still accepted") {
  auto sink = startSink({"--permfail", "rcpt:100%"});
  Client c(sink->port());
  REQUIRE(greetAndEhlo(c).code == 250);
  CHECK(c.cmd("MAIL FROM:<a@x.test>").code == 250);
  Reply r = c.cmd("RCPT TO:<b@y.test>");
  CHECK(r.code == 550);
  CHECK(r.text().find("5.1.1") == 0);
  CHECK(c.cmd("DATA").code == 554);  // no valid recipient (RFC 5321 §3.3)
  CHECK(sink->counters().replies5xx == 1);
  CHECK(sink->counters().recipients == 0);
}

TEST_CASE("sink: --tempfail mail:100% answers MAIL with 4xx and an enhanced code") {
  auto sink = startSink({"--tempfail=mail:100%"});
  Client c(sink->port());
  REQUIRE(greetAndEhlo(c).code == 250);
  Reply r = c.cmd("MAIL FROM:<a@x.test>");
  CHECK(r.code == 451);
  CHECK(r.text().find("4.3.0") == 0);
  CHECK(c.cmd("RCPT TO:<b@y.test>").code == 503);  // no transaction was opened
  CHECK(sink->counters().transactions == 0);
}

TEST_CASE("sink: --tempfail without a stage fails the greeting with 421 and closes") {
  auto sink = startSink({"--tempfail", "100%"});
  Client c(sink->port());
  Reply r = c.reply();
  CHECK(r.code == 421);
  CHECK(r.text().find("4.3.2") == 0);
  CHECK(c.closedByPeer());
}

TEST_CASE("sink: --disconnect greeting:100% closes before any byte; data:100% drops after the final dot") {
  {
    auto sink = startSink({"--disconnect", "greeting:100%"});
    Client c(sink->port());
    CHECK(c.closedByPeer());
    CHECK(eventually([&] { return sink->counters().disconnects == 1; }));
  }
  auto sink = startSink({"--disconnect", "data:100%"});
  Client c(sink->port());
  REQUIRE(greetAndEhlo(c).code == 250);
  CHECK(c.cmd("MAIL FROM:<a@x.test>").code == 250);
  CHECK(c.cmd("RCPT TO:<b@y.test>").code == 250);
  CHECK(c.cmd("DATA").code == 354);
  c.send("body\r\n.\r\n");
  CHECK(c.closedByPeer());
  CHECK(sink->counters().disconnects == 1);
  CHECK(sink->counters().messages == 0);
}

namespace {
// The RCPT reply codes of `n` single-recipient transactions on one connection.
std::vector<int> rcptCodes(const std::vector<std::string>& flags, int n) {
  auto sink = startSink(flags);
  Client c(sink->port());
  REQUIRE(greetAndEhlo(c).code == 250);
  std::vector<int> codes;
  for (int i = 0; i < n; ++i) {
    REQUIRE(c.cmd("MAIL FROM:<a@x.test>").code == 250);
    codes.push_back(c.cmd("RCPT TO:<b@y.test>").code);
    REQUIRE(c.cmd("RSET").code == 250);
  }
  return codes;
}
}  // namespace

TEST_CASE("sink: the failure mix is deterministic for a --seed and near the asked rate") {
  const auto a = rcptCodes({"--tempfail", "rcpt:30%", "--permfail", "rcpt:20%", "--seed", "7"}, 200);
  const auto b = rcptCodes({"--tempfail", "rcpt:30%", "--permfail", "rcpt:20%", "--seed", "7"}, 200);
  const auto other = rcptCodes({"--tempfail", "rcpt:30%", "--permfail", "rcpt:20%", "--seed", "8"}, 200);
  CHECK(a == b);
  CHECK(a != other);
  const auto temp = std::count(a.begin(), a.end(), 451);
  const auto perm = std::count(a.begin(), a.end(), 550);
  const auto ok = std::count(a.begin(), a.end(), 250);
  CHECK(temp + perm + ok == 200);
  // Binomial(200, p): these bounds are more than 5 standard deviations wide.
  CHECK(temp > 25);
  CHECK(temp < 95);
  CHECK(perm > 10);
  CHECK(perm < 70);
}

TEST_CASE("sink: bad flags are refused with a message") {
  auto parse = [](std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    SinkOptions o;
    std::string error;
    bool help = false;
    bool ok = parseSinkArgs(static_cast<int>(argv.size()), argv.data(), o, &error, &help);
    return ok ? std::string() : error;
  };
  CHECK(parse({"sink", "--tempfail", "helo:5%"}).find("unknown stage") != std::string::npos);
  CHECK(parse({"sink", "--permfail", "101%"}).find("bad rate") != std::string::npos);
  CHECK(parse({"sink", "--tempfail", "60%", "--permfail", "50%"}).find("100%") != std::string::npos);
  CHECK(parse({"sink", "--reply-delay"}).find("needs a value") != std::string::npos);
  CHECK(parse({"sink", "--bogus"}).find("unknown option") != std::string::npos);
  CHECK(parse({"sink", "--disconnect", "0.1%", "--seed", "3", "--threads", "2"}).empty());
}
