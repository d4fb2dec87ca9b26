// threads_sink.cpp: the delivery engine with several loops (threads) against Postfix's smtp-sink. Recipients are
// spread over many domains, which the dispatcher hands to different threads; every domain routes to the same host,
// so all of them form one site, whose pool must live on one thread: the site's connection limit holds whatever the
// thread count.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/engine/harness.hpp"
#include "tests/interop/peers.hpp"

namespace sluice::enginetest {

TEST_CASE("engine with 3 threads: 300 messages over 12 domains, one site, its connection limit held") {
  interop::SmtpSink sink;
  REQUIRE(sink.running());
  ops::EngineConfig cfg = testConfig(loopback(sink.port()));
  cfg.threads = 3;
  cfg.pool.maxConnections = 2;
  cfg.pool.maxConnecting = 2;
  cfg.pool.idleTimeout = std::chrono::seconds(30);
  EngineHarness h(cfg);
  std::set<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    std::vector<std::string> to;
    for (int j = 0; j < 2; ++j) {
      std::string rcpt = "u" + std::to_string(i) + "@d" + std::to_string((i + j * 5) % 12) + ".test";
      to.push_back(rcpt);
      expected.insert(rcpt);
    }
    h.add({"a@x.test", to, "Subject: m" + std::to_string(i) + "\r\n\r\nbody\r\n", {}});
  }
  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == expected.size());
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.bounced == 0);
  CHECK(r.spool.liveMessages == 0);
  // One pool for the one site: never more than its limit of 2 connections (a pool per thread would open up to 6).
  CHECK(r.progress.connectionsOpened <= 2);
  std::set<std::string> logged;
  for (const auto& l : r.log) {
    CHECK(l.status == "delivered");
    logged.insert(l.rcpt);
  }
  CHECK(logged == expected);
}

}  // namespace sluice::enginetest
