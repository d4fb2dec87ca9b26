// address_config_test.cpp: endpoint parsing, domain normalisation, static routes and config validation (tables).
#include "resolver/config.hpp"

#include <doctest/doctest.h>

using namespace sluice::resolver;

TEST_CASE("parseEndpoint accepts host, ip and [ip] forms with and without port") {
  struct Row {
    const char* in;
    const char* host;
    int port;
    bool literal;
    const char* text;
  };
  const Row rows[] = {
      {"127.0.0.1:5353", "127.0.0.1", 5353, true, "127.0.0.1:5353"},
      {"127.0.0.1", "127.0.0.1", 53, true, "127.0.0.1:53"},
      {"[::1]:53", "::1", 53, true, "[::1]:53"},
      {"[::1]", "::1", 53, true, "[::1]:53"},
      {"::1", "::1", 53, true, "[::1]:53"},
      {"[127.0.0.2]:2525", "127.0.0.2", 2525, true, "127.0.0.2:2525"},
      {"Smart.Host.TEST.:587", "smart.host.test", 587, false, "smart.host.test:587"},
      {"relay.test", "relay.test", 53, false, "relay.test:53"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.in);
    Endpoint ep;
    REQUIRE(parseEndpoint(r.in, 53, ep) == "");
    CHECK(ep.host == r.host);
    CHECK(ep.port == r.port);
    CHECK(ep.ip.has_value() == r.literal);
    CHECK(ep.toString() == r.text);
  }
}

TEST_CASE("parseEndpoint returns clear errors instead of throwing") {
  struct Row {
    const char* in;
    const char* needle;
  };
  const Row rows[] = {
      {"", "empty endpoint"},
      {"[::1", "missing ']'"},
      {"[::1]x", "unexpected text"},
      {"[::1]:", "empty port"},
      {"host:", "empty port"},
      {"host:0", "bad port"},
      {"host:65536", "bad port"},
      {"host:12ab", "bad port"},
      {"[not-an-ip]:25", "not an address inside brackets"},
      {"bad host!:25", "bad host name"},
      {":25", "empty host"},
      {"1:2:3:zz", "not an address"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.in);
    Endpoint ep;
    std::string err = parseEndpoint(r.in, 25, ep);
    CHECK(err.find(r.needle) != std::string::npos);
  }
}

TEST_CASE("normaliseDomain lower-cases, strips one trailing dot and rejects junk") {
  std::string out;
  CHECK(normaliseDomain("Example.TEST.", out));
  CHECK(out == "example.test");
  CHECK_FALSE(normaliseDomain("", out));
  CHECK_FALSE(normaliseDomain(".", out));
  CHECK_FALSE(normaliseDomain("a..b", out));
  CHECK_FALSE(normaliseDomain("a b.test", out));
  CHECK_FALSE(normaliseDomain(std::string(64, 'a') + ".test", out));
  CHECK(normaliseDomain(std::string(63, 'a') + ".test", out));
  CHECK_FALSE(normaliseDomain(std::string(254, 'a'), out));
}

TEST_CASE("static routes: domain or *, port 25 by default, exact match before wildcard") {
  StaticRoute r;
  REQUIRE(parseStaticRoute("Example.Test", "[192.0.2.7]:2525", r) == "");
  CHECK(r.domain == "example.test");
  CHECK(r.target.port == 2525);
  REQUIRE(r.target.ip);
  CHECK(r.target.ip->toString() == "192.0.2.7");
  REQUIRE(parseStaticRoute("*", "smarthost.test", r) == "");
  CHECK(r.target.port == 25);
  CHECK_FALSE(r.target.ip);
  CHECK(parseStaticRoute("bad domain", "x.test", r).find("bad domain") != std::string::npos);
  CHECK(parseStaticRoute("a.test", "x.test:99999", r).find("bad port") != std::string::npos);

  ResolverConfig c;
  c.staticRoutes = {{"*", "[127.0.0.1]:2525"}, {"special.test", "relay.test:587"}};
  ValidatedConfig v;
  REQUIRE(validateConfig(c, false, v) == "");
  CHECK(findRoute(v.routes, "special.test")->target.host == "relay.test");
  CHECK(findRoute(v.routes, "other.test")->domain == "*");
  v.routes.pop_back();
  v.routes.erase(v.routes.begin());
  CHECK(findRoute(v.routes, "other.test") == nullptr);
}

TEST_CASE("validateConfig checks ranges, nameservers, routes and local names") {
  ResolverConfig c;
  ValidatedConfig v;
  CHECK(validateConfig(c, true, v) == "at least one nameserver is required");
  c.nameservers = {"127.0.0.1:5353", "[::1]:53"};
  REQUIRE(validateConfig(c, true, v) == "");
  CHECK(v.nameservers.size() == 2);
  CHECK(v.nameservers[0].port == 5353);
  CHECK(v.nameservers[1].ip->family == Family::V6);
  c.nameservers = {"dns.test:53"};
  CHECK(validateConfig(c, true, v).find("must be an IP address") != std::string::npos);
  c.nameservers = {"127.0.0.1"};
  c.timeoutMs = 0;
  CHECK(validateConfig(c, true, v) == "timeoutMs must be 1..60000");
  c.timeoutMs = 200;
  c.tries = 0;
  CHECK(validateConfig(c, true, v) == "tries must be 1..10");
  c.tries = 1;
  c.ttlFloorSeconds = 10;
  c.ttlCeilingSeconds = 5;
  CHECK(validateConfig(c, true, v).find("ttlFloorSeconds") != std::string::npos);
  c.ttlFloorSeconds = 0;
  c.staticRoutes = {{"a.test", "[::1]:25"}, {"A.test.", "[::1]:26"}};
  CHECK(validateConfig(c, true, v).find("duplicate") != std::string::npos);
  c.staticRoutes.clear();
  c.localNames = {"MX.Self.Test."};
  REQUIRE(validateConfig(c, true, v) == "");
  CHECK(v.localNames == std::vector<std::string>{"mx.self.test"});
}
