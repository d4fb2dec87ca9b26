// mx_resolver.hpp: the Resolver implementation shared by the DNS and zone-text resolvers: static routes, the
// domain and host caches (TTL, negative caching, LRU bounds), coalescing of concurrent lookups, and the MX
// algorithm over a DnsSource (MX query, then A/AAAA for each MX host in parallel, implicit MX, null MX).
//
// Loop thread only. Lifetimes and callbacks as documented in resolver.hpp. Internally every result is
// delivered through one "ready" list flushed on a later loop turn, so no user callback ever runs inside
// resolveMx() or inside a cache update.
#pragma once

#include "resolver/defer_queue.hpp"
#include "resolver/dns_source.hpp"
#include "resolver/mx_select.hpp"
#include "resolver/resolver.hpp"
#include "resolver/ttl_cache.hpp"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice::resolver {

class MxResolver final : public Resolver {
 public:
  // Takes ownership of the source; `now` may be empty (loop time). Validated configuration only.
  MxResolver(uv_loop_t* loop, ValidatedConfig config, std::unique_ptr<DnsSource> source, NowFn now);
  ~MxResolver() override;
  MxResolver(const MxResolver&) = delete;
  MxResolver& operator=(const MxResolver&) = delete;

  // Resolver interface (see resolver.hpp).
  LookupId resolveMx(std::string_view domain, Callback cb) override;
  bool cancel(LookupId id) override;
  void clearCache() override;
  ResolverStats stats() const override;

 private:
  using ResultPtr = std::shared_ptr<const MxResult>;

  // A domain being looked up: who waits for it and what is known so far.
  struct DomainPending {
    std::string domain;
    std::vector<LookupId> waiters;
    std::vector<MxRecord> kept;          // MX records to resolve (one synthetic record for implicit MX / routes)
    std::vector<HostOutcome> outcomes;   // same order as kept
    std::vector<bool> done;              // which outcomes are in
    std::size_t hostsLeft = 0;
    std::uint32_t mxTtl = 0;
    bool implicitMx = false;
    const StaticRoute* route = nullptr;  // set for a static route with a host name
  };

  // A host whose A/AAAA queries are in flight, and the domains waiting for it.
  struct HostPending {
    std::unique_ptr<DnsAnswer> a, aaaa;
    int left = 0;
    std::vector<std::string> domains;
  };

  // mx_resolver.cpp: the domain flow.
  void startDomain(DomainPending& p);
  void onMxAnswer(const std::string& key, DnsAnswer&& answer);
  void finishDomain(std::string key, MxResult result);
  void deliver(LookupId id, ResultPtr result);
  void scheduleFlush();
  void flush();
  std::uint64_t now() const;

  // mx_resolver_hosts.cpp: the host flow.
  void startHosts(DomainPending& p);
  void onHostAnswer(const std::string& host, QType type, DnsAnswer&& answer);
  void hostDone(DomainPending& p, std::size_t index, const HostOutcome& outcome);
  void completeDomain(DomainPending& p);
  static MxResult literalRouteResult(const StaticRoute& route);

  uv_loop_t* loop_;
  ValidatedConfig cfg_;
  NowFn now_;
  ShuffleRng rng_;
  LookupId nextId_ = 0;
  ResolverStats stats_;

  std::unordered_map<LookupId, Callback> waiters_;  // every callback not yet delivered
  std::unordered_map<std::string, std::unique_ptr<DomainPending>> domains_;
  std::unordered_map<std::string, HostPending> hosts_;
  std::unordered_map<std::string, ResultPtr> literalRoutes_;  // routes to [ip]:port, computed once
  TtlCache<ResultPtr> domainCache_;
  TtlCache<HostOutcome> hostCache_;
  std::vector<std::pair<LookupId, ResultPtr>> ready_;     // results waiting for the next loop turn
  std::vector<std::pair<LookupId, ResultPtr>> flushing_;  // the batch flush() is delivering (capacity reused)
  bool flushScheduled_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed (seen by flush())
  DeferQueue defer_;
  std::unique_ptr<DnsSource> source_;  // last: destroyed first, so no DNS callback reaches a half-dead resolver
};

}  // namespace sluice::resolver
