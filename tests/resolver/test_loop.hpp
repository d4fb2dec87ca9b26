// test_loop.hpp: helpers for resolver tests: a libuv loop that is closed cleanly, and synchronous wrappers that
// run the loop until a lookup's callback has run.
#pragma once

#include "resolver/resolver.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <optional>
#include <string>
#include <vector>

namespace sluice::resolver::test {

// A private loop; the destructor runs it until every handle is closed, then checks it closes.
struct TestLoop {
  uv_loop_t loop{};
  // Initialises the loop.
  TestLoop() { uv_loop_init(&loop); }
  // Lets pending closes finish, then closes the loop and checks nothing was left open.
  ~TestLoop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  // The raw loop.
  uv_loop_t* get() { return &loop; }
};

// Resolves one domain and runs the loop until its callback ran; returns the result.
inline MxResult resolveOne(Resolver& r, uv_loop_t* loop, const std::string& domain) {
  std::optional<MxResult> out;
  r.resolveMx(domain, [&](const MxResult& res) { out = res; });
  while (!out) {
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !out) break;
  }
  REQUIRE(out.has_value());
  return *out;
}

// Host names of an Ok result, in order.
inline std::vector<std::string> hostNames(const MxResult& r) {
  std::vector<std::string> out;
  for (const auto& h : r.hosts) out.push_back(h.name);
  return out;
}

// Addresses of one host as text, in order.
inline std::vector<std::string> addrTexts(const MxHost& h) {
  std::vector<std::string> out;
  for (const auto& a : h.addresses) out.push_back(a.toString());
  return out;
}

// Runs the loop for `ms` milliseconds of real time (a timer ends the wait); used only to let TTLs expire.
inline void runFor(uv_loop_t* loop, std::uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(loop, &t);
  bool fired = false;
  t.data = &fired;
  uv_timer_start(&t, [](uv_timer_t* h) { *static_cast<bool*>(h->data) = true; }, ms, 0);
  while (!fired) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
}

}  // namespace sluice::resolver::test
