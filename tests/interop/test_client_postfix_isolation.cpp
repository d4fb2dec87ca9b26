// test_client_postfix_isolation.cpp: transaction isolation under deep pipelining against a private Postfix
// instance (RFC 2920 §3.1, RFC 3030 §2, §4). Postfix answers "BDAT n LAST" of a transaction whose only recipient
// it refused with 554 5.5.1 but keeps the MAIL transaction open, so a MAIL pipelined right behind it would get
// 503 5.5.1 nested MAIL; the session writes RSET in front of every MAIL that follows an unanswered transaction.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/interop/bodies.hpp"
#include "tests/interop/driver.hpp"
#include "tests/interop/peers.hpp"

using namespace sluice::smtp;
using namespace sluice::interop;

namespace {

// Postfix's own recipient decision, made without DNS: an access table refusing one address.
const char kRejectOne[] = "smtpd_recipient_restrictions = check_recipient_access inline:{ bad@x.test=REJECT }, permit\n";

// Counts Maildir copies per recipient.
std::map<std::string, int> copies(const std::vector<PostfixDelivery>& ds) {
  std::map<std::string, int> m;
  for (const auto& d : ds) ++m[d.deliveredTo];
  return m;
}

}  // namespace

TEST_CASE("Postfix, five deep-pipelined BDAT messages, the second to a refused recipient: 4 delivered, 1 permanent, "
          "none deferred (RFC 2920 §3.1, RFC 3030 §2, §4)") {
  PostfixPeer pf(kRejectOne);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::vector<std::string> rcpts{"i1@dest.test", "bad@x.test", "i3@dest.test", "i4@dest.test", "i5@dest.test"};
  std::vector<OutboundMessage> ms;
  for (std::size_t i = 0; i < rcpts.size(); ++i) ms.push_back(message(i + 1, {rcpts[i]}, kDotBody));
  const ClientRun run = runClient(pf.port(), clientConfig(), std::move(ms));
  const WireLog log = analyse(run.wire);
  INFO(log.dump);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.unusable.empty());
  CHECK(run.graceful);
  CHECK(run.caps.pipelining);
  CHECK(run.caps.chunking);
  REQUIRE(run.results.size() == 5);
  for (MessageHandle h : {1, 3, 4, 5}) {
    INFO("message " << h);
    CHECK(run.result(h, 0).outcome == Outcome::Delivered);
    CHECK(run.result(h, 0).reply.code == 250);
  }
  const RecipientResult& bad = run.result(2, 0);
  CHECK(bad.outcome == Outcome::PermanentFailure);
  CHECK(bad.reply.code == 554);
  CHECK(bad.reply.enhanced.str() == "5.7.1");
  CHECK(bad.reply.firstLine().find("<bad@x.test>: Recipient address rejected") != std::string::npos);
  for (const auto& r : run.results) {
    CHECK_FALSE(r.synthesized);
    CHECK_FALSE(r.possibleDuplicate);
  }
  CHECK(run.done.size() == 5);
  CHECK(run.stats.recipientsDelivered == 4);
  CHECK(run.stats.recipientsPermanent == 1);
  CHECK(run.stats.recipientsTemporary == 0);
  // All five went out before the first reply (deep pipelining), each after the first behind an RSET; the peer
  // never saw a nested MAIL.
  CHECK(log.count("BDAT") == 5);
  CHECK(log.count("RSET") == 4);
  CHECK(log.maxOutstanding >= 19);  // 5 x (MAIL, RCPT, BDAT) + 4 RSET
  for (const std::string& t : log.replyText) CHECK(t.find("nested MAIL") == std::string::npos);
  const auto got = copies(pf.waitDeliveries(4, Millis(10000)));
  CHECK(got == std::map<std::string, int>{{"i1@dest.test", 1}, {"i3@dest.test", 1}, {"i4@dest.test", 1},
                                           {"i5@dest.test", 1}});
}
