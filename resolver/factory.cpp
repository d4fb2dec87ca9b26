// factory.cpp: builds the DNS resolver (c-ares source) and the zone-text resolver (zone source) behind the
// shared MxResolver logic.
#include "resolver/ares_source.hpp"
#include "resolver/mx_resolver.hpp"
#include "resolver/resolver.hpp"
#include "resolver/zone_source.hpp"

namespace sluice::resolver {

namespace {

// True when "*" routes to an address literal: then no domain ever needs DNS.
bool wildcardLiteral(const ResolverConfig& config) {
  for (const auto& [domain, target] : config.staticRoutes) {
    StaticRoute r;
    if (domain == "*" && parseStaticRoute(domain, target, r).empty() && r.target.ip) return true;
  }
  return false;
}

}  // namespace

// Validates, creates the c-ares source (explicit nameservers only), wraps it.
MakeResolverResult makeDnsResolver(uv_loop_t* loop, const ResolverConfig& config, NowFn now) {
  MakeResolverResult out;
  ValidatedConfig v;
  const bool dnsNeeded = !wildcardLiteral(config);
  out.error = validateConfig(config, dnsNeeded, v);
  if (!out.error.empty()) return out;
  std::unique_ptr<DnsSource> source;
  if (dnsNeeded || !v.nameservers.empty()) {
    source = AresSource::create(loop, v.nameservers, config.timeoutMs, config.tries, out.error);
    if (!source) return out;
  } else {
    source = std::make_unique<ZoneSource>(loop, Zone{});  // never asked: every domain is routed
  }
  out.resolver = std::make_unique<MxResolver>(loop, std::move(v), std::move(source), std::move(now));
  return out;
}

// Validates, parses the zone, wraps a zone source.
MakeResolverResult makeZoneResolver(uv_loop_t* loop, std::string_view zoneText, const ResolverConfig& config,
                                    NowFn now) {
  MakeResolverResult out;
  ValidatedConfig v;
  out.error = validateConfig(config, false, v);
  if (!out.error.empty()) return out;
  Zone zone;
  out.error = Zone::parse(zoneText, zone);
  if (!out.error.empty()) {
    out.error = "zone: " + out.error;
    return out;
  }
  auto source = std::make_unique<ZoneSource>(loop, std::move(zone));
  out.resolver = std::make_unique<MxResolver>(loop, std::move(v), std::move(source), std::move(now));
  return out;
}

}  // namespace sluice::resolver
