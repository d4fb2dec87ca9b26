// test_postfix_relay.cpp: the whole relay path with Postfix in the middle: ClientSession -> Postfix smtpd -> queue
// -> Postfix's SMTP client -> ServerSession on a loopback listener. Postfix's client is an independent ESMTP client
// (PIPELINING, BODY=8BITMIME, SIZE, dot-stuffing), so this checks the server session against it, and both sessions
// end to end: the owner must receive the sent body byte for byte behind Postfix's Received header.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/interop/bodies.hpp"
#include "tests/interop/driver.hpp"
#include "tests/interop/peers.hpp"

using namespace sluice::smtp;
using namespace sluice::interop;

namespace {

// main.cf lines that route relay.test to our listener on `port`, with no connection cache
// (Postfix's client QUITs at once).
std::string relayTo(std::uint16_t port) {
  return "virtual_mailbox_domains = dest.test\n"
         "relay_domains = relay.test\n"
         "transport_maps = inline:{ relay.test=smtp:[127.0.0.1]:" + std::to_string(port) + " }\n"
         "smtp_connection_cache_on_demand = no\n"
         "smtp_helo_name = relay.peer.test\n";
}

}  // namespace

TEST_CASE("ClientSession -> Postfix -> Postfix smtp client -> ServerSession: envelope and bodies intact, "
          "BODY=8BITMIME and SIZE passed on, dot lines survive two stuffing hops (RFC 5321 §4.5.2, RFC 6152, "
          "RFC 1870, RFC 2920)") {
  LoopbackServer server(ServerConfig{});
  PostfixPeer pf(relayTo(server.port()));
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());

  const std::string large = largeBody(200);
  const std::vector<std::string> bodies{kUtf8Body, kDotBody, large};
  std::vector<OutboundMessage> ms;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    ms.push_back(message(i + 1, {"x" + std::to_string(i + 1) + "@relay.test"}, bodies[i],
                         i == 0 ? BodyType::EightBitMime : BodyType::Unspecified));
  }
  const ClientRun run = runClient(pf.port(), clientConfig(), std::move(ms));
  const WireLog clientLog = analyse(run.wire);
  INFO(clientLog.dump);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  REQUIRE(run.results.size() == 3);
  for (const auto& r : run.results) CHECK(r.outcome == Outcome::Delivered);

  // Postfix relays each message in its own connection (no cache).
  const bool relayed = pollUntil(Millis(15000), [&] { return server.messages().size() >= 3; });
  INFO(pf.maillog());
  REQUIRE(relayed);
  REQUIRE(server.waitConnections(3, Millis(10000)));
  const auto got = server.messages();
  REQUIRE(got.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    // Messages may be relayed in any order: find this one by its recipient.
    const std::string rcpt = "x" + std::to_string(i + 1) + "@relay.test";
    INFO(rcpt);
    const ReceivedMessage* m = nullptr;
    for (const auto& g : got) {
      if (g.recipients == std::vector<std::string>{rcpt}) m = &g;
    }
    REQUIRE(m != nullptr);
    CHECK(m->helo == "relay.peer.test");
    CHECK(m->extended);
    CHECK(m->reversePath == "sender@origin.test");
    CHECK(m->mail.size > 0);  // Postfix declares SIZE because we advertise it
    CHECK_FALSE(m->info.chunked);
    CHECK_FALSE(m->info.normalisedLines);
    // Postfix prepends its Received header; the rest is exactly what ClientSession was given.
    CHECK(m->body.rfind("Received: from client.sluice.test", 0) == 0);
    REQUIRE(m->body.size() >= bodies[i].size());
    CHECK(m->body.compare(m->body.size() - bodies[i].size(), bodies[i].size(), bodies[i]) == 0);
  }
  for (const auto& g : got) {
    if (g.recipients == std::vector<std::string>{"x1@relay.test"}) CHECK(g.mail.body == BodyType::EightBitMime);
  }
  // Every connection Postfix made got one reply per command, in order, and ended with QUIT / 221.
  for (const auto& conn : server.connections()) {
    const WireLog log = analyse(conn);
    INFO(log.dump);
    CHECK_FALSE(log.malformed);
    CHECK(log.replies.size() == log.commands.size() + 1);
    CHECK(log.replies.back() == 221);
    CHECK(log.count("EHLO relay.peer.test") == 1);
  }
}

TEST_CASE("ServerSession recipient limit against Postfix's smtp client: 452 4.5.3 past the limit, the accepted "
          "recipients delivered, the rest deferred by Postfix, none bounced (RFC 5321 §4.5.3.1.10)") {
  ServerConfig cfg;
  cfg.limits.maxRecipients = 2;
  LoopbackServer server(cfg);
  PostfixPeer pf(relayTo(server.port()));
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::vector<std::string> rcpts{"y1@relay.test", "y2@relay.test", "y3@relay.test", "y4@relay.test",
                                       "y5@relay.test"};
  const ClientRun run = runClient(pf.port(), clientConfig(), {message(1, rcpts, kDotBody)});
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  REQUIRE(run.results.size() == 5);
  for (const auto& r : run.results) CHECK(r.outcome == Outcome::Delivered);  // Postfix took them all

  // Postfix may send the rest in further transactions or defer them; wait until every recipient is accounted for.
  auto accounted = [&] {
    std::size_t got = 0;
    for (const auto& m : server.messages()) got += m.recipients.size();
    const std::string log = pf.maillog();
    std::size_t deferred = 0;
    for (std::size_t p = log.find("status=deferred"); p != std::string::npos; p = log.find("status=deferred", p + 1))
      ++deferred;
    return got + deferred >= 5;
  };
  const bool done = pollUntil(Millis(15000), accounted);
  INFO(pf.maillog());
  CHECK(done);
  std::vector<std::string> received;
  for (const auto& m : server.messages()) {
    CHECK(m.recipients.size() <= 2);  // never more than the limit in one transaction
    CHECK(m.body.compare(m.body.size() - kDotBody.size(), kDotBody.size(), kDotBody) == 0);
    received.insert(received.end(), m.recipients.begin(), m.recipients.end());
  }
  // Postfix 3.7 delivers the first two and defers the other three on our 452 4.5.3 (temporary), never bounces.
  CHECK(received == std::vector<std::string>{"y1@relay.test", "y2@relay.test"});
  const std::string log = pf.maillog();
  CHECK(log.find("status=bounced") == std::string::npos);
  for (const char* r : {"y3", "y4", "y5"}) {
    CHECK(log.find(std::string("to=<") + r + "@relay.test>, relay=127.0.0.1") != std::string::npos);
  }
  CHECK(pf.waitLog("said: 452 4.5.3", 3, Millis(1000)));
}

TEST_CASE("ServerSession SIZE limit against Postfix's smtp client: Postfix reads our EHLO 'SIZE 4000', bounces "
          "the larger message without sending MAIL (RFC 1870 §4, §6)") {
  ServerConfig cfg;
  cfg.limits.maxMessageSize = 4000;
  LoopbackServer server(cfg);
  PostfixPeer pf(relayTo(server.port()));
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::string large = largeBody(20);
  const ClientRun run = runClient(pf.port(), clientConfig(), {message(1, {"big@relay.test"}, large)});
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  REQUIRE(run.results.size() == 1);
  CHECK(run.results[0].outcome == Outcome::Delivered);  // into Postfix's queue
  const bool bounced = pf.waitLog("status=bounced", 1, Millis(15000));
  INFO(pf.maillog());
  CHECK(bounced);
  CHECK(pf.maillog().find("exceeds size limit 4000 of server 127.0.0.1") != std::string::npos);
  REQUIRE(server.waitConnections(1, Millis(5000)));
  CHECK(server.messages().empty());
  const auto conns = server.connections();
  REQUIRE_FALSE(conns.empty());
  const WireLog log = analyse(conns[0]);
  INFO(log.dump);
  CHECK(log.count("EHLO relay.peer.test") == 1);
  CHECK(log.count("MAIL FROM:") == 0);
  CHECK(log.bodies.empty());
}
