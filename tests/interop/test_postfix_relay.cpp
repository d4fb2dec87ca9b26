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

TEST_CASE("ClientSession -> Postfix -> Postfix smtp client -> ServerSession: envelope and bodies intact, "
          "BODY=8BITMIME and SIZE passed on, dot lines survive two stuffing hops (RFC 5321 §4.5.2, RFC 6152, "
          "RFC 1870, RFC 2920)") {
  LoopbackServer server(ServerConfig{});
  // relay.test goes to our listener; the connection cache is off so Postfix's client QUITs at once.
  const std::string relay =
      "virtual_mailbox_domains = dest.test\n"
      "relay_domains = relay.test\n"
      "transport_maps = inline:{ relay.test=smtp:[127.0.0.1]:" + std::to_string(server.port()) + " }\n"
      "smtp_connection_cache_on_demand = no\n"
      "smtp_helo_name = relay.peer.test\n";
  PostfixPeer pf(relay);
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
  REQUIRE(run.error.empty());
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
