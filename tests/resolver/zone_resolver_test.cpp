// zone_resolver_test.cpp: the MX algorithm, cache, coalescing, static routes and callback rules, driven through
// the zone-text resolver on a real libuv loop with an injected clock (no network).
#include "resolver/resolver.hpp"
#include "test_loop.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace sluice::resolver;
using namespace sluice::resolver::test;

namespace {

const char* kZone = R"(
$TTL 300
mx.test MX 10 mx1.test
mx.test MX 10 mx2.test
mx.test MX 20 mx3.test
mx1.test A 127.0.0.1
mx1.test AAAA ::1
mx2.test A 127.0.0.2
mx3.test A 127.0.0.3
other.test MX 5 mx1.test
alias.test CNAME mx.test
null.test MX 0 .
bad.test NXDOMAIN
slow.test SERVFAIL
hang.test TIMEOUT
plain.test 60 A 127.0.0.9
noaddr.test MX 10 gone.test
halfdead.test MX 5 gone.test
halfdead.test MX 10 mx2.test
tempmx.test MX 10 slow.test
short.test 2 MX 10 mx2.test
)";

// A manual clock in milliseconds.
struct Clock {
  std::uint64_t ms = 1000;
  NowFn fn() {
    return [this] { return ms; };
  }
};

// Builds a zone resolver or fails the test.
std::unique_ptr<Resolver> make(uv_loop_t* loop, ResolverConfig cfg = {}, NowFn now = {}) {
  auto made = makeZoneResolver(loop, kZone, cfg, std::move(now));
  REQUIRE_MESSAGE(made.error == "", made.error);
  return std::move(made.resolver);
}

}  // namespace

TEST_CASE("mx_ordered_by_preference_with_addresses_and_site") {
  TestLoop loop;
  auto r = make(loop.get());
  MxResult res = resolveOne(*r, loop.get(), "MX.test.");
  REQUIRE(res.ok());
  REQUIRE(res.hosts.size() == 3);
  CHECK(res.hosts[2].name == "mx3.test");
  CHECK(res.hosts[0].preference == 10);
  CHECK(res.site == "mx1.test,mx2.test,mx3.test");
  CHECK(res.ttlSeconds == 300);
  for (const auto& h : res.hosts) {
    if (h.name == "mx1.test") CHECK(addrTexts(h) == std::vector<std::string>{"127.0.0.1", "::1"});
  }
}

TEST_CASE("equal_preferences_shuffled_per_delivery_even_from_cache") {
  TestLoop loop;
  auto r = make(loop.get());
  std::set<std::string> firsts;
  for (int i = 0; i < 100; ++i) {
    MxResult res = resolveOne(*r, loop.get(), "mx.test");
    REQUIRE(res.hosts.size() == 3);
    CHECK(res.hosts[2].name == "mx3.test");
    firsts.insert(res.hosts[0].name);
  }
  CHECK(firsts == std::set<std::string>{"mx1.test", "mx2.test"});
  CHECK(r->stats().mxQueries == 1);
  CHECK(r->stats().cacheHits == 99);
}

TEST_CASE("cname_followed") {
  TestLoop loop;
  auto r = make(loop.get());
  MxResult res = resolveOne(*r, loop.get(), "alias.test");
  REQUIRE(res.ok());
  CHECK(res.site == "mx1.test,mx2.test,mx3.test");
}

TEST_CASE("null_mx_is_permanent_556_without_address_lookups") {
  TestLoop loop;
  auto r = make(loop.get());
  MxResult res = resolveOne(*r, loop.get(), "null.test");
  CHECK(res.status == MxStatus::Permanent);
  CHECK(res.reason == MxReason::NullMx);
  CHECK(res.smtpCode == 556);
  CHECK(res.enhancedCode == "5.1.10");
  CHECK(r->stats().aQueries == 0);
  CHECK(r->stats().aaaaQueries == 0);
}

TEST_CASE("nxdomain_permanent_servfail_and_timeout_temporary") {
  TestLoop loop;
  auto r = make(loop.get());
  MxResult nx = resolveOne(*r, loop.get(), "bad.test");
  CHECK(nx.status == MxStatus::Permanent);
  CHECK(nx.reason == MxReason::NxDomain);
  CHECK(nx.enhancedCode == "5.1.2");
  MxResult sf = resolveOne(*r, loop.get(), "slow.test");
  CHECK(sf.status == MxStatus::Temporary);
  CHECK(sf.reason == MxReason::ServFail);
  MxResult to = resolveOne(*r, loop.get(), "hang.test");
  CHECK(to.status == MxStatus::Temporary);
  CHECK(to.reason == MxReason::Timeout);
  CHECK(resolveOne(*r, loop.get(), "not a domain").reason == MxReason::BadDomain);
}

TEST_CASE("nodata_gives_implicit_mx_from_a_records") {
  TestLoop loop;
  auto r = make(loop.get());
  MxResult res = resolveOne(*r, loop.get(), "plain.test");
  REQUIRE(res.ok());
  CHECK(res.implicitMx);
  REQUIRE(res.hosts.size() == 1);
  CHECK(res.hosts[0].name == "plain.test");
  CHECK(res.hosts[0].preference == 0);
  CHECK(addrTexts(res.hosts[0]) == std::vector<std::string>{"127.0.0.9"});
  CHECK(res.site == "plain.test");
  CHECK(res.ttlSeconds == 60);
}

TEST_CASE("mx_hosts_without_addresses_skipped_none_usable_permanent_temp_failure_temporary") {
  TestLoop loop;
  auto r = make(loop.get());
  MxResult half = resolveOne(*r, loop.get(), "halfdead.test");
  REQUIRE(half.ok());
  CHECK(hostNames(half) == std::vector<std::string>{"mx2.test"});
  CHECK(half.site == "gone.test,mx2.test");
  MxResult none = resolveOne(*r, loop.get(), "noaddr.test");
  CHECK(none.status == MxStatus::Permanent);
  CHECK(none.reason == MxReason::NoUsableMx);
  MxResult temp = resolveOne(*r, loop.get(), "tempmx.test");
  CHECK(temp.status == MxStatus::Temporary);
}

TEST_CASE("thousand_lookups_for_one_domain_send_one_mx_query") {
  TestLoop loop;
  auto r = make(loop.get());
  int done = 0;
  for (int i = 0; i < 1000; ++i) {
    r->resolveMx("mx.test", [&](const MxResult& res) {
      CHECK(res.ok());
      ++done;
    });
  }
  CHECK(done == 0);  // never called back from inside resolveMx
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(done == 1000);
  auto s = r->stats();
  CHECK(s.mxQueries == 1);
  CHECK(s.aQueries == 3);
  CHECK(s.aaaaQueries == 3);
  CHECK(s.coalesced == 999);
}

TEST_CASE("host_lookups_shared_between_domains_on_the_same_mx") {
  TestLoop loop;
  auto r = make(loop.get());
  resolveOne(*r, loop.get(), "mx.test");
  MxResult other = resolveOne(*r, loop.get(), "other.test");
  REQUIRE(other.ok());
  auto s = r->stats();
  CHECK(s.mxQueries == 2);
  CHECK(s.aQueries == 3);  // mx1.test came from the host cache
  CHECK(s.hostCacheHits == 1);
}

TEST_CASE("cache_honours_ttl_with_injected_clock") {
  TestLoop loop;
  Clock clock;
  auto r = make(loop.get(), {}, clock.fn());
  MxResult res = resolveOne(*r, loop.get(), "short.test");
  CHECK(res.ttlSeconds == 2);
  resolveOne(*r, loop.get(), "short.test");
  CHECK(r->stats().mxQueries == 1);
  clock.ms += 1999;
  resolveOne(*r, loop.get(), "short.test");
  CHECK(r->stats().mxQueries == 1);
  clock.ms += 1;
  resolveOne(*r, loop.get(), "short.test");
  CHECK(r->stats().mxQueries == 2);
}

TEST_CASE("negative_cache_uses_default_ttl_bounded_by_max_and_temp_failures_are_not_cached") {
  TestLoop loop;
  Clock clock;
  ResolverConfig cfg;
  cfg.negativeTtlSeconds = 10;
  cfg.negativeTtlMaxSeconds = 10;
  auto r = make(loop.get(), cfg, clock.fn());
  CHECK(resolveOne(*r, loop.get(), "bad.test").ttlSeconds == 10);
  resolveOne(*r, loop.get(), "bad.test");
  CHECK(r->stats().mxQueries == 1);
  clock.ms += 10000;
  resolveOne(*r, loop.get(), "bad.test");
  CHECK(r->stats().mxQueries == 2);
  resolveOne(*r, loop.get(), "slow.test");
  resolveOne(*r, loop.get(), "slow.test");
  CHECK(r->stats().mxQueries == 4);
}

TEST_CASE("ttl_floor_and_ceiling_apply") {
  TestLoop loop;
  ResolverConfig cfg;
  cfg.ttlFloorSeconds = 30;
  cfg.ttlCeilingSeconds = 100;
  auto r = make(loop.get(), cfg);
  CHECK(resolveOne(*r, loop.get(), "short.test").ttlSeconds == 30);
  CHECK(resolveOne(*r, loop.get(), "mx.test").ttlSeconds == 100);
}

TEST_CASE("cache_size_bound_evicts") {
  TestLoop loop;
  ResolverConfig cfg;
  cfg.cacheEntries = 1;
  auto r = make(loop.get(), cfg);
  resolveOne(*r, loop.get(), "mx.test");
  resolveOne(*r, loop.get(), "other.test");
  resolveOne(*r, loop.get(), "mx.test");
  auto s = r->stats();
  CHECK(s.mxQueries == 3);
  CHECK(s.cachedDomains == 1);
  CHECK(s.evictions >= 1);
}

TEST_CASE("family_policy_orders_and_filters_addresses") {
  TestLoop loop;
  ResolverConfig v6;
  v6.family = FamilyPolicy::PreferV6;
  auto r6 = make(loop.get(), v6);
  MxResult res = resolveOne(*r6, loop.get(), "other.test");
  CHECK(addrTexts(res.hosts[0]) == std::vector<std::string>{"::1", "127.0.0.1"});
  ResolverConfig v4;
  v4.family = FamilyPolicy::V4Only;
  auto r4 = make(loop.get(), v4);
  MxResult res4 = resolveOne(*r4, loop.get(), "other.test");
  CHECK(addrTexts(res4.hosts[0]) == std::vector<std::string>{"127.0.0.1"});
  CHECK(r4->stats().aaaaQueries == 0);
}

TEST_CASE("local_names_drop_equal_or_worse_preferences_and_detect_loops") {
  TestLoop loop;
  ResolverConfig cfg;
  cfg.localNames = {"mx3.test"};
  auto r = make(loop.get(), cfg);
  MxResult res = resolveOne(*r, loop.get(), "mx.test");
  REQUIRE(res.ok());
  CHECK(res.hosts.size() == 2);
  cfg.localNames = {"mx2.test"};
  auto loopy = make(loop.get(), cfg);
  MxResult l = resolveOne(*loopy, loop.get(), "mx.test");
  CHECK(l.status == MxStatus::Permanent);
  CHECK(l.reason == MxReason::MxLoop);
}

TEST_CASE("static_routes_bypass_dns") {
  TestLoop loop;
  ResolverConfig cfg;
  cfg.staticRoutes = {{"bad.test", "[127.0.0.7]:2525"}, {"routed.test", "mx2.test:587"}};
  auto r = make(loop.get(), cfg);
  MxResult lit = resolveOne(*r, loop.get(), "bad.test");
  REQUIRE(lit.ok());
  CHECK(lit.staticRoute);
  CHECK(lit.hosts[0].port == 2525);
  CHECK(addrTexts(lit.hosts[0]) == std::vector<std::string>{"127.0.0.7"});
  CHECK(lit.site == "127.0.0.7:2525");
  MxResult named = resolveOne(*r, loop.get(), "routed.test");
  REQUIRE(named.ok());
  CHECK(named.hosts[0].name == "mx2.test");
  CHECK(named.hosts[0].port == 587);
  CHECK(addrTexts(named.hosts[0]) == std::vector<std::string>{"127.0.0.2"});
  CHECK(r->stats().mxQueries == 0);
  CHECK(r->stats().routed == 1);
}

TEST_CASE("smarthost_mode_routes_everything") {
  TestLoop loop;
  ResolverConfig cfg;
  cfg.staticRoutes = {{"*", "[::1]:2525"}};
  auto r = make(loop.get(), cfg);
  for (const char* d : {"a.test", "bad.test", "mx.test"}) {
    MxResult res = resolveOne(*r, loop.get(), d);
    REQUIRE(res.ok());
    CHECK(res.site == "[::1]:2525");
  }
  CHECK(r->stats().mxQueries == 0);
}

TEST_CASE("static_route_to_unresolvable_host_is_temporary") {
  TestLoop loop;
  ResolverConfig cfg;
  cfg.staticRoutes = {{"*", "gone.test"}};
  auto r = make(loop.get(), cfg);
  MxResult res = resolveOne(*r, loop.get(), "x.test");
  CHECK(res.status == MxStatus::Temporary);
  CHECK(res.reason == MxReason::RouteFailed);
}

TEST_CASE("cancel_prevents_the_callback") {
  TestLoop loop;
  auto r = make(loop.get());
  int called = 0;
  LookupId id = r->resolveMx("mx.test", [&](const MxResult&) { ++called; });
  r->resolveMx("mx.test", [&](const MxResult&) { called += 10; });
  CHECK(r->cancel(id));
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(called == 10);
  CHECK_FALSE(r->cancel(id));
}

TEST_CASE("destroying_with_lookups_in_flight_calls_nothing_and_closes_cleanly") {
  TestLoop loop;
  int called = 0;
  {
    auto r = make(loop.get());
    r->resolveMx("mx.test", [&](const MxResult&) { ++called; });
    uv_run(loop.get(), UV_RUN_NOWAIT);  // MX answered, host lookups in flight
  }
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(called == 0);
}

TEST_CASE("callbacks_may_start_new_lookups") {
  TestLoop loop;
  auto r = make(loop.get());
  std::vector<std::string> order;
  r->resolveMx("mx.test", [&](const MxResult&) {
    order.push_back("first");
    r->resolveMx("mx.test", [&](const MxResult&) { order.push_back("second"); });
  });
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(order == std::vector<std::string>{"first", "second"});
}

TEST_CASE("zone_resolver_reports_bad_zone_and_bad_config") {
  TestLoop loop;
  auto bad = makeZoneResolver(loop.get(), "x.test BOGUS\n", {});
  CHECK(bad.resolver == nullptr);
  CHECK(bad.error == "zone: line 1: unknown record type 'BOGUS'");
  ResolverConfig cfg;
  cfg.tries = 99;
  CHECK(makeZoneResolver(loop.get(), "", cfg).error == "tries must be 1..10");
}

TEST_CASE("destroying_the_resolver_from_inside_its_callback_drops_the_rest") {
  TestLoop loop;
  auto r = make(loop.get());
  int called = 0;
  for (int i = 0; i < 3; ++i) {
    r->resolveMx("mx.test", [&](const MxResult& res) {
      ++called;
      r.reset();
      CHECK(res.hosts.size() == 3);  // the result stays valid for the whole callback
    });
  }
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(called == 1);
}
