// zone_test.cpp: the zone-text parser and its lookups (CNAME chains, NXDOMAIN vs NODATA, injected failures).
#include "resolver/zone.hpp"

#include <doctest/doctest.h>

using namespace sluice::resolver;

TEST_CASE("zone text parses records, TTLs and failure markers") {
  Zone z;
  REQUIRE(Zone::parse(R"(
# a comment
$TTL 120
example.test MX 10 mx1.example.test
Example.Test. 60 MX 20 MX2.example.test   ; trailing comment
mx1.example.test A 127.0.0.1
mx1.example.test AAAA ::1
alias.test CNAME example.test
null.test MX 0 .
bad.test NXDOMAIN
slow.test SERVFAIL
hang.test TIMEOUT
)",
                      z) == "");
  auto mx = z.lookup("example.test", QType::MX);
  REQUIRE(mx.status == DnsStatus::Ok);
  CHECK(mx.mx == std::vector<MxRecord>{{10, "mx1.example.test"}, {20, "mx2.example.test"}});
  CHECK(mx.ttl == 60);
  auto viaAlias = z.lookup("alias.test", QType::MX);
  CHECK(viaAlias.status == DnsStatus::Ok);
  CHECK(viaAlias.canonicalName == "example.test");
  CHECK(z.lookup("mx1.example.test", QType::AAAA).addrs[0].toString() == "::1");
  CHECK(z.lookup("mx1.example.test", QType::MX).status == DnsStatus::NoData);
  CHECK(z.lookup("nowhere.test", QType::MX).status == DnsStatus::NxDomain);
  CHECK(z.lookup("bad.test", QType::A).status == DnsStatus::NxDomain);
  CHECK(z.lookup("slow.test", QType::MX).status == DnsStatus::ServFail);
  CHECK(z.lookup("hang.test", QType::MX).status == DnsStatus::Timeout);
  auto null = z.lookup("null.test", QType::MX);
  REQUIRE(null.mx.size() == 1);
  CHECK(null.mx[0].exchange.empty());
}

TEST_CASE("zone parse errors name the line") {
  Zone z;
  CHECK(Zone::parse("a.test MX 10\n", z) == "line 1: MX needs a preference and a host");
  CHECK(Zone::parse("\n\na.test A ::1\n", z) == "line 3: A needs one IPv4 address");
  CHECK(Zone::parse("a.test TXT hello\n", z) == "line 1: unknown record type 'TXT'");
  CHECK(Zone::parse("a..test A 127.0.0.1\n", z) == "line 1: bad name 'a..test'");
  CHECK(Zone::parse("a.test\n", z) == "line 1: missing record type");
  CHECK(Zone::parse("$TTL x\n", z) == "line 1: $TTL needs one number");
  CHECK(Zone::parse("a.test NXDOMAIN now\n", z) == "line 1: NXDOMAIN takes no data");
}

TEST_CASE("a CNAME loop ends as NODATA, not a hang") {
  Zone z;
  REQUIRE(Zone::parse("a.test CNAME b.test\nb.test CNAME a.test\n", z) == "");
  CHECK(z.lookup("a.test", QType::A).status == DnsStatus::NoData);
}
