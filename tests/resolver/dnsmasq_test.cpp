// dnsmasq_test.cpp: integration tests of the c-ares resolver against a real DNS server (dnsmasq) started by the
// test on a loopback port: MX order and shuffle, CNAME, null MX, implicit MX, NXDOMAIN, timeouts, MX hosts
// without addresses, coalescing, TTL and negative caching, and proof that queries go only where configured.
#include "dnsmasq_fixture.hpp"
#include "resolver/ares_source.hpp"
#include "resolver/resolver.hpp"
#include "test_loop.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace sluice::resolver;
using namespace sluice::resolver::test;

namespace {

// The records every test's dnsmasq serves; `dead` is the black-hole port timeout.test is forwarded to.
std::vector<std::string> records(std::uint16_t dead) {
  return {
      "--mx-host=mx.test,mx1.test,10",
      "--mx-host=mx.test,mx2.test,10",
      "--mx-host=mx.test,mx3.test,20",
      "--host-record=mx1.test,127.0.0.1,::1",
      "--host-record=mx2.test,127.0.0.2",
      "--host-record=mx3.test,127.0.0.3",
      "--cname=alias.test,mx.test",
      "--mx-host=nullmx.test,.,0",
      "--host-record=plain.test,127.0.0.9",
      "--mx-host=noaddr.test,gone.test,10",
      "--mx-host=halfdead.test,gone.test,5",
      "--mx-host=halfdead.test,mx2.test,10",
      "--mx-host=tempmx.test,mx.timeout.test,10",
      "--mx-host=ttl.test,mxshort.test,10",
      "--host-record=mxshort.test,127.0.0.5,1",
      "--server=/timeout.test/127.0.0.1#" + std::to_string(dead),
  };
}

// A resolver config using only the test's dnsmasq, with a short timeout for the timeout cases.
ResolverConfig configFor(const Dnsmasq& dns) {
  ResolverConfig cfg;
  cfg.nameservers = {dns.nameserver()};
  cfg.timeoutMs = 200;
  cfg.tries = 1;
  return cfg;
}

// Builds the DNS resolver or fails the test.
std::unique_ptr<Resolver> make(uv_loop_t* loop, const ResolverConfig& cfg) {
  auto made = makeDnsResolver(loop, cfg);
  REQUIRE_MESSAGE(made.error == "", made.error);
  return std::move(made.resolver);
}

// Shared setup: black hole + dnsmasq + loop; tests skip when integration tests are switched off.
struct Env {
  BlackHole dead;
  Dnsmasq dns{records(dead.port())};
  TestLoop loop;
  Env() { REQUIRE_MESSAGE(dns.running(), dns.error()); }
};

}  // namespace

TEST_SUITE("integration") {

TEST_CASE("dnsmasq: mx records in preference order with addresses, site key and TTL (RFC 5321 5.1)") {
  if (integrationDisabled()) return;
  Env env;
  auto r = make(env.loop.get(), configFor(env.dns));
  MxResult res = resolveOne(*r, env.loop.get(), "mx.test");
  REQUIRE_MESSAGE(res.ok(), res.detail);
  REQUIRE(res.hosts.size() == 3);
  CHECK(res.hosts[0].preference == 10);
  CHECK(res.hosts[1].preference == 10);
  CHECK(res.hosts[2].name == "mx3.test");
  CHECK(addrTexts(res.hosts[2]) == std::vector<std::string>{"127.0.0.3"});
  for (const auto& h : res.hosts) {
    if (h.name == "mx1.test") CHECK(addrTexts(h) == std::vector<std::string>{"127.0.0.1", "::1"});
    if (h.name == "mx2.test") CHECK(addrTexts(h) == std::vector<std::string>{"127.0.0.2"});
  }
  CHECK(res.site == "mx1.test,mx2.test,mx3.test");
  CHECK(res.ttlSeconds == 60);
  auto s = r->stats();
  CHECK(s.mxQueries == 1);
  CHECK(s.aQueries == 3);
  CHECK(s.aaaaQueries == 3);
}

TEST_CASE("dnsmasq: equal preferences shuffled over fresh lookups, preference 20 always last") {
  if (integrationDisabled()) return;
  Env env;
  ResolverConfig cfg = configFor(env.dns);
  cfg.cacheEntries = 0;  // every lookup goes to the server
  auto r = make(env.loop.get(), cfg);
  std::set<std::string> orders;
  for (int i = 0; i < 200; ++i) {
    MxResult res = resolveOne(*r, env.loop.get(), "mx.test");
    REQUIRE(res.hosts.size() == 3);
    CHECK(res.hosts[2].name == "mx3.test");
    orders.insert(res.hosts[0].name + "," + res.hosts[1].name);
  }
  CHECK(orders == std::set<std::string>{"mx1.test,mx2.test", "mx2.test,mx1.test"});
  CHECK(r->stats().mxQueries == 200);
}

TEST_CASE("dnsmasq: cname followed") {
  if (integrationDisabled()) return;
  Env env;
  auto r = make(env.loop.get(), configFor(env.dns));
  MxResult res = resolveOne(*r, env.loop.get(), "alias.test");
  REQUIRE_MESSAGE(res.ok(), res.detail);
  CHECK(res.site == "mx1.test,mx2.test,mx3.test");
  CHECK(res.hosts.back().name == "mx3.test");
}

TEST_CASE("dnsmasq: null MX is permanent 556 5.1.10 with no address lookup (RFC 7505)") {
  if (integrationDisabled()) return;
  Env env;
  auto r = make(env.loop.get(), configFor(env.dns));
  MxResult res = resolveOne(*r, env.loop.get(), "nullmx.test");
  CHECK(res.status == MxStatus::Permanent);
  CHECK(res.reason == MxReason::NullMx);
  CHECK(res.smtpCode == 556);
  CHECK(res.enhancedCode == "5.1.10");
  CHECK(r->stats().aQueries == 0);
}

TEST_CASE("dnsmasq: nxdomain is permanent and negatively cached with the default TTL (no SOA)") {
  if (integrationDisabled()) return;
  Env env;
  ResolverConfig cfg = configFor(env.dns);
  cfg.negativeTtlSeconds = 120;
  auto r = make(env.loop.get(), cfg);
  MxResult res = resolveOne(*r, env.loop.get(), "nosuch.test");
  CHECK(res.status == MxStatus::Permanent);
  CHECK(res.reason == MxReason::NxDomain);
  CHECK(res.enhancedCode == "5.1.2");
  CHECK(res.ttlSeconds == 120);
  resolveOne(*r, env.loop.get(), "NoSuch.Test.");
  CHECK(r->stats().mxQueries == 1);
  CHECK(r->stats().cacheHits == 1);
}

TEST_CASE("dnsmasq: nodata gives the implicit MX from the domain's A record") {
  if (integrationDisabled()) return;
  Env env;
  auto r = make(env.loop.get(), configFor(env.dns));
  MxResult res = resolveOne(*r, env.loop.get(), "plain.test");
  REQUIRE_MESSAGE(res.ok(), res.detail);
  CHECK(res.implicitMx);
  REQUIRE(res.hosts.size() == 1);
  CHECK(res.hosts[0].name == "plain.test");
  CHECK(addrTexts(res.hosts[0]) == std::vector<std::string>{"127.0.0.9"});
}

TEST_CASE("dnsmasq: timeout is temporary") {
  if (integrationDisabled()) return;
  Env env;
  auto r = make(env.loop.get(), configFor(env.dns));
  MxResult res = resolveOne(*r, env.loop.get(), "x.timeout.test");
  CHECK(res.status == MxStatus::Temporary);
  CHECK(res.reason == MxReason::Timeout);
  CHECK(res.smtpCode == 451);
}

TEST_CASE("dnsmasq: MX host without addresses skipped; all without -> permanent; host timeout -> temporary") {
  if (integrationDisabled()) return;
  Env env;
  auto r = make(env.loop.get(), configFor(env.dns));
  MxResult half = resolveOne(*r, env.loop.get(), "halfdead.test");
  REQUIRE_MESSAGE(half.ok(), half.detail);
  CHECK(hostNames(half) == std::vector<std::string>{"mx2.test"});
  MxResult none = resolveOne(*r, env.loop.get(), "noaddr.test");
  CHECK(none.status == MxStatus::Permanent);
  CHECK(none.reason == MxReason::NoUsableMx);
  MxResult temp = resolveOne(*r, env.loop.get(), "tempmx.test");
  CHECK(temp.status == MxStatus::Temporary);
}

TEST_CASE("dnsmasq: a thousand lookups for one domain cause one MX query") {
  if (integrationDisabled()) return;
  Env env;
  auto r = make(env.loop.get(), configFor(env.dns));
  int ok = 0;
  for (int i = 0; i < 1000; ++i) {
    r->resolveMx("mx.test", [&](const MxResult& res) { ok += res.ok() ? 1 : 0; });
  }
  uv_run(env.loop.get(), UV_RUN_DEFAULT);
  CHECK(ok == 1000);
  CHECK(r->stats().mxQueries == 1);
  CHECK(r->stats().aQueries == 3);
}

TEST_CASE("dnsmasq: cache honours the TTL: cached within it, queried again after it") {
  if (integrationDisabled()) return;
  Env env;
  auto r = make(env.loop.get(), configFor(env.dns));
  MxResult first = resolveOne(*r, env.loop.get(), "ttl.test");
  REQUIRE_MESSAGE(first.ok(), first.detail);
  CHECK(first.ttlSeconds == 1);  // min(MX 60, A of mxshort.test 1)
  resolveOne(*r, env.loop.get(), "ttl.test");
  CHECK(r->stats().mxQueries == 1);
  runFor(env.loop.get(), 1200);  // let the 1 s TTL pass
  MxResult again = resolveOne(*r, env.loop.get(), "ttl.test");
  CHECK(again.ok());
  CHECK(r->stats().mxQueries == 2);
}

TEST_CASE("dnsmasq: ipv6 preference puts ::1 first") {
  if (integrationDisabled()) return;
  Env env;
  ResolverConfig cfg = configFor(env.dns);
  cfg.family = FamilyPolicy::PreferV6;
  auto r = make(env.loop.get(), cfg);
  MxResult res = resolveOne(*r, env.loop.get(), "mx.test");
  for (const auto& h : res.hosts) {
    if (h.name == "mx1.test") CHECK(addrTexts(h) == std::vector<std::string>{"::1", "127.0.0.1"});
  }
}

TEST_CASE("dnsmasq: destroying the resolver with a query in flight calls nothing and leaves no handle") {
  if (integrationDisabled()) return;
  Env env;
  ResolverConfig cfg = configFor(env.dns);
  cfg.timeoutMs = 5000;
  int called = 0;
  {
    auto r = make(env.loop.get(), cfg);
    r->resolveMx("y.timeout.test", [&](const MxResult&) { ++called; });
    uv_run(env.loop.get(), UV_RUN_NOWAIT);
  }
  uv_run(env.loop.get(), UV_RUN_DEFAULT);  // returns at once: nothing left alive on the loop
  CHECK(called == 0);
}

TEST_CASE("dnsmasq: an IPv6 nameserver given as [::1]:port works") {
  if (integrationDisabled()) return;
  BlackHole dead;
  auto args = records(dead.port());
  args.push_back("--listen-address=::1");
  Dnsmasq dns(args);
  REQUIRE_MESSAGE(dns.running(), dns.error());
  TestLoop loop;
  ResolverConfig cfg;
  cfg.nameservers = {"[::1]:" + std::to_string(dns.port())};
  auto r = make(loop.get(), cfg);
  MxResult res = resolveOne(*r, loop.get(), "mx.test");
  REQUIRE_MESSAGE(res.ok(), res.detail);
  CHECK(res.hosts.size() == 3);
}

TEST_CASE("dnsmasq: a truncated UDP answer is retried over TCP through the same loop") {
  if (integrationDisabled()) return;
  std::vector<std::string> args;
  for (int i = 0; i < 40; ++i) {
    const std::string host = "a-rather-long-mail-exchanger-name-" + std::to_string(i) + ".big.test";
    args.push_back("--mx-host=big.test," + host + "," + std::to_string(10 + i));
    args.push_back("--host-record=" + host + ",127.0.3." + std::to_string(i + 1));
  }
  Dnsmasq dns(args);
  REQUIRE_MESSAGE(dns.running(), dns.error());
  TestLoop loop;
  ResolverConfig cfg;
  cfg.nameservers = {dns.nameserver()};
  cfg.maxMxHosts = 64;
  cfg.family = FamilyPolicy::V4Only;
  auto r = make(loop.get(), cfg);
  MxResult res = resolveOne(*r, loop.get(), "big.test");
  REQUIRE_MESSAGE(res.ok(), res.detail);
  REQUIRE(res.hosts.size() == 40);  // more than fits in 512 octets of UDP
  for (std::size_t i = 0; i < res.hosts.size(); ++i) CHECK(res.hosts[i].preference == 10 + i);
  CHECK(addrTexts(res.hosts[39]) == std::vector<std::string>{"127.0.3.40"});
}

}  // TEST_SUITE("integration")

TEST_CASE("queries go only to the configured nameserver, never a system resolver") {
  if (integrationDisabled()) return;
  BlackHole hole;
  TestLoop loop;
  ResolverConfig cfg;
  cfg.nameservers = {"127.0.0.1:" + std::to_string(hole.port())};
  cfg.timeoutMs = 100;
  cfg.tries = 2;
  auto r = make(loop.get(), cfg);
  MxResult res = resolveOne(*r, loop.get(), "leak-check.test");
  CHECK(res.reason == MxReason::Timeout);
  CHECK(hole.drain() == 2);  // both tries reached the configured server
  ResolverConfig none;
  CHECK(makeDnsResolver(loop.get(), none).error == "at least one nameserver is required");
}

TEST_CASE("the c-ares channel holds exactly the configured servers, nothing from the system") {
  TestLoop loop;
  std::string err;
  std::vector<Endpoint> servers(2);
  REQUIRE(parseEndpoint("127.0.0.1:5353", 53, servers[0]) == "");
  REQUIRE(parseEndpoint("[::1]:5300", 53, servers[1]) == "");
  auto src = AresSource::create(loop.get(), servers, 200, 1, err);
  REQUIRE_MESSAGE(src != nullptr, err);
  CHECK(src->channelServers() == std::vector<std::string>{"127.0.0.1:5353", "[::1]:5300"});
  CHECK(AresSource::create(loop.get(), {}, 200, 1, err) == nullptr);
  CHECK(err == "no nameservers configured");
}
