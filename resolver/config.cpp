// config.cpp: validation of ResolverConfig and static route parsing/lookup.
#include "resolver/config.hpp"

namespace sluice::resolver {

// Parses the domain side ("*" or a domain) and the target endpoint (default port 25).
std::string parseStaticRoute(std::string_view domain, std::string_view target, StaticRoute& out) {
  StaticRoute r;
  if (domain == "*") {
    r.domain = "*";
  } else if (!normaliseDomain(domain, r.domain)) {
    return "static route: bad domain '" + std::string(domain) + "'";
  }
  std::string err = parseEndpoint(target, 25, r.target);
  if (!err.empty()) return "static route for '" + std::string(domain) + "': " + err;
  out = std::move(r);
  return {};
}

// Linear scan: route tables are short (a handful of entries).
const StaticRoute* findRoute(const std::vector<StaticRoute>& routes, std::string_view domain) {
  const StaticRoute* wildcard = nullptr;
  for (const auto& r : routes) {
    if (r.domain == domain) return &r;
    if (r.domain == "*") wildcard = &r;
  }
  return wildcard;
}

// Range checks first, then the textual parts; stops at the first problem.
std::string validateConfig(const ResolverConfig& in, bool requireNameservers, ValidatedConfig& out) {
  ValidatedConfig v;
  v.raw = in;
  if (in.timeoutMs < 1 || in.timeoutMs > 60000) return "timeoutMs must be 1..60000";
  if (in.tries < 1 || in.tries > 10) return "tries must be 1..10";
  if (in.maxMxHosts < 1 || in.maxMxHosts > 64) return "maxMxHosts must be 1..64";
  if (in.maxAddressesPerHost < 1 || in.maxAddressesPerHost > 64) return "maxAddressesPerHost must be 1..64";
  if (in.ttlFloorSeconds > in.ttlCeilingSeconds) return "ttlFloorSeconds must not exceed ttlCeilingSeconds";
  if (in.negativeTtlSeconds > in.negativeTtlMaxSeconds) return "negativeTtlSeconds must not exceed negativeTtlMaxSeconds";
  if (requireNameservers && in.nameservers.empty()) return "at least one nameserver is required";
  for (const auto& ns : in.nameservers) {
    Endpoint ep;
    std::string err = parseEndpoint(ns, 53, ep);
    if (!err.empty()) return "nameserver: " + err;
    if (!ep.ip) return "nameserver '" + ns + "' must be an IP address";
    v.nameservers.push_back(std::move(ep));
  }
  for (const auto& [domain, target] : in.staticRoutes) {
    StaticRoute r;
    std::string err = parseStaticRoute(domain, target, r);
    if (!err.empty()) return err;
    for (const auto& existing : v.routes) {
      if (existing.domain == r.domain) return "static route: duplicate domain '" + r.domain + "'";
    }
    v.routes.push_back(std::move(r));
  }
  for (const auto& name : in.localNames) {
    std::string n;
    if (!normaliseDomain(name, n)) return "localNames: bad name '" + name + "'";
    v.localNames.push_back(std::move(n));
  }
  out = std::move(v);
  return {};
}

}  // namespace sluice::resolver
