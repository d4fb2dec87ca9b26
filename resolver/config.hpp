// config.hpp: resolver configuration (nameservers, timeouts, family preference, cache limits, static routes).
//
// Plain values filled by the configuration loader (engine/ops) or by tests. validateConfig() turns the textual
// parts into typed ones and reports the first problem as a message (never throws). Any thread may call these.
#pragma once

#include "resolver/address.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::resolver {

// Which address families to use for MX hosts, and in which order.
enum class FamilyPolicy : std::uint8_t { PreferV4, PreferV6, V4Only, V6Only };

// One static route: mail for `domain` (or every domain when it is "*") goes to `target`, bypassing MX lookup.
struct StaticRoute {
  std::string domain;  // normalised domain, or "*" (smarthost mode)
  Endpoint target;     // host name (looked up as A/AAAA) or address literal; port defaults to 25
};

struct ResolverConfig {
  // Nameservers as "ip", "ip:port" or "[ipv6]:port". Addresses only: the resolver never reads /etc/resolv.conf,
  // so at least one is required for the DNS resolver.
  std::vector<std::string> nameservers;
  int timeoutMs = 2000;  // per try, 1..60000
  int tries = 3;         // 1..10
  FamilyPolicy family = FamilyPolicy::PreferV4;

  // Static routes as (domain or "*", "host[:port]" or "[ip]:port").
  std::vector<std::pair<std::string, std::string>> staticRoutes;

  // Names this node answers to as an MX: records with a preference >= the best of ours are dropped.
  std::vector<std::string> localNames;

  std::size_t maxMxHosts = 16;          // MX hosts kept per domain, after sorting (named limit)
  std::size_t maxAddressesPerHost = 8;  // addresses kept per host and family policy
  std::size_t cacheEntries = 100000;    // bound on cached domains, and separately on cached host names; 0 = no cache
  std::uint32_t ttlFloorSeconds = 0;          // positive TTLs are raised to at least this
  std::uint32_t ttlCeilingSeconds = 86400;    // and lowered to at most this
  std::uint32_t negativeTtlSeconds = 300;     // NXDOMAIN/NODATA TTL when the reply has no SOA
  std::uint32_t negativeTtlMaxSeconds = 3600; // bound on any negative TTL (SOA-derived or default)
  std::uint32_t partialTtlSeconds = 30;       // cap when some MX host temp-failed but others resolved
  std::uint32_t tempFailTtlSeconds = 0;       // cache temporary failures this long (0 = never cache them)
  std::uint64_t shuffleSeed = 0;              // 0 = seed from std::random_device; else deterministic (tests)
};

// The checked, typed form of a ResolverConfig.
struct ValidatedConfig {
  ResolverConfig raw;
  std::vector<Endpoint> nameservers;  // every one an address literal
  std::vector<StaticRoute> routes;
  std::vector<std::string> localNames;  // normalised
};

// Checks ranges and parses nameservers, routes and local names. Returns "" on success, else the first problem.
// requireNameservers: the DNS resolver needs them, the zone-text resolver does not.
std::string validateConfig(const ResolverConfig& in, bool requireNameservers, ValidatedConfig& out);

// Parses one static route. Returns "" on success, else a message.
std::string parseStaticRoute(std::string_view domain, std::string_view target, StaticRoute& out);

// The route for a normalised domain: an exact match first, then "*"; nullptr when mail goes by MX.
const StaticRoute* findRoute(const std::vector<StaticRoute>& routes, std::string_view domain);

}  // namespace sluice::resolver
