// resolver.hpp: the resolver interface the delivery engine uses, and the factories for its two implementations.
//
// resolveMx(domain, cb) finds where a domain's mail goes (RFC 5321 §5.1 rules, see README.md) and calls cb once
// with an MxResult: Ok (ordered MX hosts with addresses and the site key), Permanent or Temporary.
//
// Threading and lifetime:
//  - One resolver belongs to one libuv loop; call it and destroy it on that loop's thread only.
//  - The callback always runs on a later loop turn, never from inside resolveMx(), even for cache hits and
//    static routes. The MxResult reference is valid only during the callback: copy what you keep.
//  - cancel(id) before the callback ran guarantees it will not run.
//  - Destroying the resolver with lookups in flight drops their callbacks: they are NOT called. It may be
//    destroyed from inside one of its callbacks (the other callbacks of that turn are then dropped too). Its
//    libuv handles close asynchronously: run the loop once more afterwards (as for any libuv handle) before
//    uv_loop_close().
// Errors are values: nothing here throws on the lookup path.
#pragma once

#include "resolver/config.hpp"
#include "resolver/result.hpp"

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sluice::resolver {

using LookupId = std::uint64_t;

// Counters for tests, metrics and the benchmark.
struct ResolverStats {
  std::uint64_t lookups = 0;       // resolveMx calls
  std::uint64_t cacheHits = 0;     // answered from the domain cache (positive or negative)
  std::uint64_t coalesced = 0;     // joined a lookup already in flight
  std::uint64_t routed = 0;        // answered by a static route with an address literal
  std::uint64_t mxQueries = 0;     // DNS queries actually sent, by type
  std::uint64_t aQueries = 0;
  std::uint64_t aaaaQueries = 0;
  std::uint64_t hostCacheHits = 0; // MX host addresses taken from the host cache
  std::uint64_t evictions = 0;     // entries pushed out by the size bounds
  std::size_t cachedDomains = 0;
  std::size_t inFlight = 0;        // domains being looked up now
};

class Resolver {
 public:
  using Callback = std::function<void(const MxResult&)>;
  virtual ~Resolver() = default;

  // Starts (or joins, or answers from cache) the lookup of a domain's mail destination. See the header comment.
  virtual LookupId resolveMx(std::string_view domain, Callback cb) = 0;

  // Drops the callback of a lookup that has not been delivered yet; false when it already ran or is unknown.
  virtual bool cancel(LookupId id) = 0;

  // Forgets every cached answer (lookups in flight continue).
  virtual void clearCache() = 0;

  // Counters so far (queries actually sent, cache hits, coalesced lookups, ...).
  virtual ResolverStats stats() const = 0;
};

// Milliseconds on a monotonic clock; the cache's notion of "now". Empty = the loop's clock (uv_now).
using NowFn = std::function<std::uint64_t()>;

// A factory's answer: the resolver, or an error message naming the bad setting.
struct MakeResolverResult {
  std::unique_ptr<Resolver> resolver;
  std::string error;
};

// The real resolver: c-ares on `loop`, using only the configured nameservers (never /etc/resolv.conf, never
// search domains), with cache, coalescing and static routes in front.
MakeResolverResult makeDnsResolver(uv_loop_t* loop, const ResolverConfig& config, NowFn now = {});

// The test resolver: answers from zone text (see zone.hpp for the syntax) with the same MX logic, cache and
// static routes as the real one, calling back asynchronously on `loop`.
MakeResolverResult makeZoneResolver(uv_loop_t* loop, std::string_view zoneText, const ResolverConfig& config,
                                    NowFn now = {});

}  // namespace sluice::resolver
