// mx_select_test.cpp: the pure MX rules: filtering (null MX, local names, dedupe, cap), the equal-preference
// shuffle with a seeded generator, address ordering, site keys, TTL clamping and result assembly (RFC 5321 §5.1).
#include "resolver/mx_select.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace sluice::resolver;

namespace {

// Makes an address from text.
IpAddress ip(const char* s) { return *parseIp(s); }

// A host outcome with addresses.
HostOutcome withAddrs(std::vector<IpAddress> a, std::uint32_t ttl) {
  HostOutcome o;
  o.kind = HostOutcome::Kind::Addresses;
  o.addrs = std::move(a);
  o.ttl = ttl;
  return o;
}

// A host outcome without addresses (kind None or Temporary).
HostOutcome without(HostOutcome::Kind k, std::uint32_t ttl = 0) {
  HostOutcome o;
  o.kind = k;
  o.ttl = ttl;
  o.detail = "x";
  return o;
}

}  // namespace

TEST_CASE("filterMx sorts by preference, dedupes hosts and caps the list") {
  std::vector<MxRecord> kept;
  auto f = filterMx({{30, "c.test"}, {10, "a.test"}, {20, "b.test"}, {40, "a.test"}}, {}, 2, kept);
  CHECK(f == MxFilter::Usable);
  CHECK(kept == std::vector<MxRecord>{{10, "a.test"}, {20, "b.test"}});
}

TEST_CASE("null MX: a lone MX 0 . is NullMx; mixed with real hosts the dot is ignored (RFC 7505)") {
  std::vector<MxRecord> kept;
  CHECK(filterMx({{0, ""}}, {}, 16, kept) == MxFilter::NullMx);
  CHECK(filterMx({{0, ""}, {10, "mx.test"}}, {}, 16, kept) == MxFilter::Usable);
  CHECK(kept == std::vector<MxRecord>{{10, "mx.test"}});
}

TEST_CASE("local names: records with preference >= ours are dropped; best MX ourselves is a loop") {
  std::vector<MxRecord> kept;
  const std::vector<MxRecord> recs = {{10, "a.test"}, {20, "self.test"}, {20, "b.test"}, {30, "c.test"}};
  CHECK(filterMx(recs, {"self.test"}, 16, kept) == MxFilter::Usable);
  CHECK(kept == std::vector<MxRecord>{{10, "a.test"}});
  CHECK(filterMx({{10, "self.test"}, {20, "b.test"}}, {"self.test"}, 16, kept) == MxFilter::Loop);
  CHECK(kept.empty());
}

TEST_CASE("shuffle permutes equal preferences only, and reaches every order") {
  std::vector<MxHost> base = {{"a", 10, 25, {}}, {"b", 10, 25, {}}, {"c", 10, 25, {}}, {"z", 20, 25, {}}};
  CHECK(hasEqualPreferences(base));
  ShuffleRng rng(42);
  std::set<std::string> orders;
  for (int i = 0; i < 600; ++i) {
    auto hosts = base;
    shuffleEqualPreferences(hosts, rng);
    CHECK(hosts[3].name == "z");
    orders.insert(hosts[0].name + hosts[1].name + hosts[2].name);
  }
  CHECK(orders.size() == 6);  // all 3! orders of the preference-10 group
  // Deterministic for a given seed.
  ShuffleRng r1(7), r2(7);
  auto h1 = base, h2 = base;
  shuffleEqualPreferences(h1, r1);
  shuffleEqualPreferences(h2, r2);
  for (std::size_t i = 0; i < h1.size(); ++i) CHECK(h1[i].name == h2[i].name);
  CHECK_FALSE(hasEqualPreferences({{"a", 10, 25, {}}, {"b", 20, 25, {}}}));
}

TEST_CASE("siteKey is the sorted, deduplicated, comma-joined host set") {
  CHECK(siteKey({"mx2.test", "mx1.test", "mx2.test"}) == "mx1.test,mx2.test");
  CHECK(siteKey({"b.test", "a.test"}) == siteKey({"a.test", "b.test"}));
  CHECK(siteKey({}) == "");
}

TEST_CASE("orderAddresses follows the family policy and the cap") {
  const std::vector<IpAddress> v4 = {ip("192.0.2.1"), ip("192.0.2.2")};
  const std::vector<IpAddress> v6 = {ip("2001:db8::1")};
  auto text = [](const std::vector<IpAddress>& v) {
    std::string s;
    for (const auto& a : v) s += a.toString() + " ";
    return s;
  };
  CHECK(text(orderAddresses(v4, v6, FamilyPolicy::PreferV4, 8)) == "192.0.2.1 192.0.2.2 2001:db8::1 ");
  CHECK(text(orderAddresses(v4, v6, FamilyPolicy::PreferV6, 8)) == "2001:db8::1 192.0.2.1 192.0.2.2 ");
  CHECK(text(orderAddresses(v4, v6, FamilyPolicy::V4Only, 8)) == "192.0.2.1 192.0.2.2 ");
  CHECK(text(orderAddresses(v4, v6, FamilyPolicy::V6Only, 8)) == "2001:db8::1 ");
  CHECK(text(orderAddresses(v4, v6, FamilyPolicy::PreferV4, 2)) == "192.0.2.1 192.0.2.2 ");
}

TEST_CASE("TTL clamping: floor and ceiling for positive, SOA or default bounded by max for negative") {
  ResolverConfig c;
  c.ttlFloorSeconds = 30;
  c.ttlCeilingSeconds = 3600;
  c.negativeTtlSeconds = 300;
  c.negativeTtlMaxSeconds = 900;
  CHECK(clampPositiveTtl(5, c) == 30);
  CHECK(clampPositiveTtl(600, c) == 600);
  CHECK(clampPositiveTtl(86400, c) == 3600);
  DnsAnswer noSoa;
  CHECK(negativeTtl(noSoa, c) == 300);
  DnsAnswer soa;
  soa.hasSoa = true;
  soa.negativeTtl = 60;
  CHECK(negativeTtl(soa, c) == 60);
  soa.negativeTtl = 86400;
  CHECK(negativeTtl(soa, c) == 900);
}

TEST_CASE("combineHostAnswers: addresses win, temporary beats none, TTLs combine") {
  ResolverConfig c;
  DnsAnswer a4;
  a4.status = DnsStatus::Ok;
  a4.addrs = {ip("192.0.2.1")};
  a4.ttl = 100;
  DnsAnswer a6;
  a6.status = DnsStatus::Ok;
  a6.addrs = {ip("::1")};
  a6.ttl = 50;
  auto both = combineHostAnswers(&a4, &a6, c);
  CHECK(both.kind == HostOutcome::Kind::Addresses);
  CHECK(both.addrs.size() == 2);
  CHECK(both.ttl == 50);
  DnsAnswer nodata;
  nodata.status = DnsStatus::NoData;
  DnsAnswer timeout;
  timeout.status = DnsStatus::Timeout;
  CHECK(combineHostAnswers(&nodata, &nodata, c).kind == HostOutcome::Kind::None);
  CHECK(combineHostAnswers(&nodata, &timeout, c).kind == HostOutcome::Kind::Temporary);
  auto partial = combineHostAnswers(&a4, &timeout, c);
  CHECK(partial.kind == HostOutcome::Kind::Addresses);
  CHECK(partial.ttl == c.partialTtlSeconds);
  CHECK(combineHostAnswers(&a4, nullptr, c).kind == HostOutcome::Kind::Addresses);
}

TEST_CASE("assembleResult: hosts without addresses skipped; none usable is permanent only without temp failures") {
  ResolverConfig c;
  const std::vector<MxRecord> kept = {{10, "a.test"}, {20, "b.test"}, {30, "c.test"}};
  auto ok = assembleResult(kept,
                           {without(HostOutcome::Kind::None, 60), withAddrs({ip("192.0.2.2")}, 120),
                            withAddrs({ip("192.0.2.3")}, 40)},
                           300, false, c);
  REQUIRE(ok.ok());
  CHECK(ok.hosts.size() == 2);
  CHECK(ok.hosts[0].name == "b.test");
  CHECK(ok.hosts[0].preference == 20);
  CHECK(ok.site == "a.test,b.test,c.test");
  CHECK(ok.ttlSeconds == 40);

  auto perm = assembleResult(kept, {without(HostOutcome::Kind::None, 60), without(HostOutcome::Kind::None, 30),
                                    without(HostOutcome::Kind::None, 90)},
                             300, false, c);
  CHECK(perm.status == MxStatus::Permanent);
  CHECK(perm.reason == MxReason::NoUsableMx);
  CHECK(perm.ttlSeconds == 30);
  CHECK(perm.smtpCode == 550);

  auto temp = assembleResult(kept, {without(HostOutcome::Kind::None, 60), without(HostOutcome::Kind::Temporary),
                                    without(HostOutcome::Kind::None, 90)},
                             300, false, c);
  CHECK(temp.status == MxStatus::Temporary);
  CHECK(temp.smtpCode == 451);
  CHECK(temp.ttlSeconds == 0);

  auto partial = assembleResult(kept, {without(HostOutcome::Kind::Temporary), withAddrs({ip("192.0.2.2")}, 600),
                                       without(HostOutcome::Kind::None, 90)},
                                3600, false, c);
  REQUIRE(partial.ok());
  CHECK(partial.ttlSeconds == c.partialTtlSeconds);

  auto implicitNone = assembleResult({{0, "d.test"}}, {without(HostOutcome::Kind::None, 60)}, 300, true, c);
  CHECK(implicitNone.reason == MxReason::NoAddress);
  auto implicitOk = assembleResult({{0, "d.test"}}, {withAddrs({ip("192.0.2.9")}, 600)}, 300, true, c);
  REQUIRE(implicitOk.ok());
  CHECK(implicitOk.implicitMx);
  CHECK(implicitOk.site == "d.test");
  CHECK(implicitOk.ttlSeconds == 300);  // bounded by the NODATA TTL of the MX query
}

TEST_CASE("failure codes: null MX 556 5.1.10, NXDOMAIN 550 5.1.2, DNS trouble 451 4.4.3") {
  auto n = makeFailure(MxReason::NullMx, "d", 1);
  CHECK(n.status == MxStatus::Permanent);
  CHECK(n.smtpCode == 556);
  CHECK(n.enhancedCode == "5.1.10");
  auto x = makeFailure(MxReason::NxDomain, "d", 1);
  CHECK(x.smtpCode == 550);
  CHECK(x.enhancedCode == "5.1.2");
  auto t = makeFailure(MxReason::Timeout, "d", 0);
  CHECK(t.status == MxStatus::Temporary);
  CHECK(t.enhancedCode == "4.4.3");
  CHECK(std::string(reasonName(MxReason::NullMx)) == "null-mx");
}
