// scenario_support.hpp: what the scenario tests (tests/engine/scenario_*.cpp) share: the names they use from the
// harness and the fake receiver, the wall clock, a run guard, and lookups in the delivery log and the spool.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/engine/fake_server.hpp"
#include "tests/engine/harness.hpp"

namespace sluice::scenario {

using enginetest::EngineHarness;
using enginetest::LogLine;
using enginetest::RunReport;
using enginetest::RunTweaks;
using test::Action;
using test::Event;
using test::FakeServer;
using test::FakeServerOptions;
using test::Stage;

// Unix milliseconds (the spool's schedule is in wall time).
inline std::int64_t nowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A run with a 60 s hang guard (a guard, not an assertion on speed).
inline RunTweaks guarded() {
  RunTweaks t;
  t.safetyLimit = std::chrono::seconds(60);
  return t;
}

// The one log line of `rcpt` among lines [from, end) (a scenario's run); fails the test when not exactly one.
inline LogLine lineOf(const std::vector<LogLine>& log, const std::string& rcpt, std::size_t from = 0) {
  std::vector<LogLine> found;
  for (std::size_t i = from; i < log.size(); ++i)
    if (log[i].rcpt == rcpt) found.push_back(log[i]);
  INFO("recipient " << rcpt);
  REQUIRE(found.size() == 1);
  return found.front();
}

// The spool's view of a message; nullopt once every recipient is final.
inline std::optional<queue::MessageView> liveView(EngineHarness& h, queue::MessageId id) {
  auto r = h.spool().lookup(id);
  if (!r.isOk()) return std::nullopt;
  return std::move(r.value());
}

}  // namespace sluice::scenario
