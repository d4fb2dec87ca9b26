// scenario_stop.cpp: stopping the engine (SIGTERM, Engine::stop) while a connection still holds messages it has
// not started: they go back to the spool untouched (due at once, no attempt counted), the transaction in flight
// finishes, nothing is lost.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/engine/scenario_support.hpp"

using namespace sluice;
using namespace sluice::scenario;

TEST_CASE("scenario: stop while a DATA connection holds unstarted messages: they return to the spool untouched") {
  FakeServerOptions o;
  o.pipelining = false;  // one transaction at a time: the other messages wait on the connection
  o.chunking = false;
  FakeServer srv(o, [](const Event& e) -> std::optional<Action> {
    if (e.stage == Stage::DataEnd) return Action::reply("250 2.0.0 queued", std::chrono::milliseconds(200));
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  auto cfg = enginetest::testConfig(enginetest::loopback(srv.port()));
  cfg.pool.maxConnections = 1;
  enginetest::EngineHarness h(cfg);
  std::vector<queue::MessageId> ids;
  for (int i = 0; i < 10; ++i) {
    ids.push_back(h.add({"a@x.test", {"r" + std::to_string(i) + "@y.test"}, "Subject: s\r\n\r\nbody\r\n", {}}));
  }
  std::thread stopper;
  std::atomic<bool> done{false};
  enginetest::RunTweaks t;
  t.safetyLimit = std::chrono::seconds(60);
  t.beforeRun = [&](delivery::Engine& engine) {
    stopper = std::thread([&engine, &done] {
      while (!done.load() && engine.progress().delivered < 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      engine.stop();
    });
  };
  enginetest::RunReport r = h.run(t);
  done = true;
  if (stopper.joinable()) stopper.join();
  REQUIRE(r.created);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  // The first message, and at most the one whose transaction had started when stop() came, were delivered.
  CHECK(r.progress.delivered >= 1);
  CHECK(r.progress.delivered <= 2);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.bounced == 0);
  std::size_t txns = 0;
  for (const auto& c : srv.connections()) txns += c.transactions.size();
  CHECK(txns <= 2);
  // Every other message is still queued, never attempted, due at once (not pushed back by the 1 h retry delay).
  std::size_t pending = 0;
  for (auto id : ids) {
    auto v = h.spool().lookup(id);
    if (!v.isOk()) continue;
    ++pending;
    CHECK(v.value().attempts() == 0);
    CHECK(v.value().nextAttemptMs() <= nowMs());
    CHECK(v.value().recipientPending(0));
  }
  CHECK(pending + r.progress.delivered == ids.size());

  // A second run delivers the rest.
  enginetest::RunReport again = h.run();
  CHECK(again.progress.delivered == ids.size() - r.progress.delivered);
  for (auto id : ids) CHECK_FALSE(h.spool().lookup(id).isOk());
}

// A recipient refused with 452 "too many recipients" goes back to its site once the transaction is over. When
// stop() comes in between, nothing takes units any more: the requeued recipient must be handed back untouched
// (pending, due again) instead of waiting at the site, which kept run() from ever returning.
TEST_CASE("scenario: stop between a 452 and the end-of-data reply: the requeued recipient is handed back") {
  std::atomic<bool> sawEnd{false};
  FakeServer srv({}, [&](const Event& e) -> std::optional<Action> {
    if (e.stage == Stage::Rcpt && e.rcptIndex == 1 && e.connection == 0)
      return Action::reply("452 4.5.3 too many recipients");
    if (e.stage == Stage::BdatLast || e.stage == Stage::DataEnd) {
      sawEnd = true;
      return Action::reply("250 2.0.0 queued", std::chrono::milliseconds(800));
    }
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  enginetest::EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  auto id = h.add({"a@x.test", {"r0@y.test", "r1@y.test", "r2@y.test"}, "Subject: s\r\n\r\nbody\r\n", {}});
  std::thread stopper;
  std::atomic<bool> done{false};
  enginetest::RunTweaks t;
  t.safetyLimit = std::chrono::seconds(30);
  t.beforeRun = [&](delivery::Engine& engine) {
    stopper = std::thread([&] {
      while (!done && !sawEnd) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // inside the 800 ms the reply is held
      engine.stop();
    });
  };
  enginetest::RunReport r = h.run(t);
  done = true;
  stopper.join();
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.messagesInFlight == 0);
  CHECK(r.progress.delivered == 2);  // r0 and r2, in the transaction that was in flight
  auto v = h.spool().lookup(id);
  REQUIRE(v.isOk());
  CHECK_FALSE(v.value().recipientPending(0));
  CHECK(v.value().recipientPending(1));
  CHECK_FALSE(v.value().recipientPending(2));
  CHECK(v.value().nextAttemptMs() <= nowMs());  // handed back, not deferred

  enginetest::RunReport again = h.run();
  CHECK(again.progress.delivered == 1);
  CHECK_FALSE(h.spool().lookup(id).isOk());
}
