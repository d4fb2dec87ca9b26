// mx_resolver.cpp: the domain side of MxResolver: entry points, static routes, the domain cache, coalescing,
// the MX answer rules and delivery of results on a later loop turn.
#include "resolver/mx_resolver.hpp"

#include <random>

namespace sluice::resolver {

namespace {

// A seed from the configuration, or from the system's entropy source.
std::uint64_t pickSeed(std::uint64_t configured) {
  if (configured != 0) return configured;
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

// Precomputes the results of routes to address literals; everything else happens per lookup.
MxResolver::MxResolver(uv_loop_t* loop, ValidatedConfig config, std::unique_ptr<DnsSource> source, NowFn now)
    : loop_(loop),
      cfg_(std::move(config)),
      now_(std::move(now)),
      rng_(pickSeed(cfg_.raw.shuffleSeed)),
      domainCache_(cfg_.raw.cacheEntries),
      hostCache_(cfg_.raw.cacheEntries),
      defer_(loop),
      source_(std::move(source)) {
  for (const auto& r : cfg_.routes) {
    if (r.target.ip) literalRoutes_[r.domain] = std::make_shared<const MxResult>(literalRouteResult(r));
  }
}

// Drops the DNS source first (its pending callbacks are discarded), then everything else; no callback runs.
MxResolver::~MxResolver() {
  *alive_ = false;
  source_.reset();
}

// Cache clock: injected for tests, else the loop's cached time.
std::uint64_t MxResolver::now() const { return now_ ? now_() : uv_now(loop_); }

// Route, cache, in-flight join, or a new lookup; the callback always waits for a later loop turn.
LookupId MxResolver::resolveMx(std::string_view domain, Callback cb) {
  const LookupId id = ++nextId_;
  ++stats_.lookups;
  waiters_.emplace(id, std::move(cb));
  std::string key;
  if (!normaliseDomain(domain, key)) {
    deliver(id, std::make_shared<const MxResult>(
                    makeFailure(MxReason::BadDomain, "not a valid domain: '" + std::string(domain) + "'", 0)));
    return id;
  }
  const StaticRoute* route = cfg_.routes.empty() ? nullptr : findRoute(cfg_.routes, key);
  if (route != nullptr && route->target.ip) {
    ++stats_.routed;
    deliver(id, literalRoutes_[route->domain]);
    return id;
  }
  if (const ResultPtr* hit = domainCache_.get(key, now())) {
    ++stats_.cacheHits;
    deliver(id, *hit);
    return id;
  }
  auto it = domains_.find(key);
  if (it != domains_.end()) {
    ++stats_.coalesced;
    it->second->waiters.push_back(id);
    return id;
  }
  auto p = std::make_unique<DomainPending>();
  p->domain = key;
  p->waiters.push_back(id);
  p->route = route;
  DomainPending& ref = *p;
  domains_.emplace(key, std::move(p));
  startDomain(ref);
  return id;
}

// Sends the MX query, or for a static route to a host name goes straight to that host's addresses.
void MxResolver::startDomain(DomainPending& p) {
  if (p.route != nullptr) {
    p.kept = {MxRecord{0, p.route->target.host}};
    p.mxTtl = cfg_.raw.ttlCeilingSeconds;
    startHosts(p);  // may finish at once from the host cache; results still wait for the flush
    return;
  }
  source_->query(p.domain, QType::MX, [this, key = p.domain](DnsAnswer&& a) { onMxAnswer(key, std::move(a)); });
}

// Applies the MX rules (RFC 5321 §5.1, RFC 7505) to the answer and either finishes or starts host lookups.
void MxResolver::onMxAnswer(const std::string& key, DnsAnswer&& answer) {
  auto it = domains_.find(key);
  if (it == domains_.end()) return;
  DomainPending& p = *it->second;
  const ResolverConfig& cfg = cfg_.raw;
  switch (answer.status) {
    case DnsStatus::Ok: {
      const std::uint32_t ttl = clampPositiveTtl(answer.ttl, cfg);
      const MxFilter f = filterMx(std::move(answer.mx), cfg_.localNames, cfg.maxMxHosts, p.kept);
      if (f == MxFilter::NullMx) {
        finishDomain(key, makeFailure(MxReason::NullMx, "domain accepts no mail (null MX, RFC 7505)", ttl));
      } else if (f == MxFilter::Loop) {
        finishDomain(key, makeFailure(MxReason::MxLoop, "mail for the domain loops back to this host", ttl));
      } else if (p.kept.empty()) {
        finishDomain(key, makeFailure(MxReason::NoUsableMx, "no usable MX record", negativeTtl(answer, cfg)));
      } else {
        p.mxTtl = answer.ttl;
        startHosts(p);
      }
      return;
    }
    case DnsStatus::NoData:
      p.implicitMx = true;
      p.kept = {MxRecord{0, key}};
      p.mxTtl = negativeTtl(answer, cfg);
      startHosts(p);
      return;
    case DnsStatus::NxDomain:
      finishDomain(key, makeFailure(MxReason::NxDomain, "domain does not exist (NXDOMAIN)", negativeTtl(answer, cfg)));
      return;
    case DnsStatus::Timeout:
      finishDomain(key, makeFailure(MxReason::Timeout, "MX lookup timed out", cfg.tempFailTtlSeconds));
      return;
    case DnsStatus::ServFail:
    case DnsStatus::Malformed:
    case DnsStatus::Error:
      finishDomain(key, makeFailure(MxReason::ServFail,
                                    std::string("MX lookup failed: ") + dnsStatusName(answer.status) +
                                        (answer.detail.empty() ? "" : " (" + answer.detail + ")"),
                                    cfg.tempFailTtlSeconds));
      return;
  }
}

// Caches the result for its TTL (0 = not cached) and hands it to every waiter of the domain.
void MxResolver::finishDomain(std::string key, MxResult result) {
  auto it = domains_.find(key);
  auto ptr = std::make_shared<const MxResult>(std::move(result));
  if (ptr->ttlSeconds > 0) domainCache_.put(key, ptr, now() + std::uint64_t{ptr->ttlSeconds} * 1000);
  if (it == domains_.end()) return;
  for (LookupId id : it->second->waiters) deliver(id, ptr);
  domains_.erase(it);
}

// Queues a result for its waiter; the callback runs from flush() on a later loop turn.
void MxResolver::deliver(LookupId id, ResultPtr result) {
  ready_.emplace_back(id, std::move(result));
  scheduleFlush();
}

// Arranges one flush per loop turn, however many results are ready.
void MxResolver::scheduleFlush() {
  if (flushScheduled_) return;
  flushScheduled_ = true;
  defer_.post([this] { flush(); });
}

// Runs the callbacks of the ready results (skipping cancelled ones), shuffling equal preferences per delivery.
// A callback may destroy the resolver: the remaining callbacks of the batch are then dropped.
void MxResolver::flush() {
  flushScheduled_ = false;
  flushing_.swap(ready_);
  const std::shared_ptr<bool> alive = alive_;
  for (auto& entry : flushing_) {
    auto it = waiters_.find(entry.first);
    if (it == waiters_.end()) continue;  // cancelled
    Callback cb = std::move(it->second);
    waiters_.erase(it);
    const ResultPtr result = std::move(entry.second);  // owned here: survives the resolver dying in cb
    if (result->ok() && hasEqualPreferences(result->hosts)) {
      MxResult copy = *result;
      shuffleEqualPreferences(copy.hosts, rng_);
      cb(copy);
    } else {
      cb(*result);
    }
    if (!*alive) return;  // destroyed from inside the callback: touch nothing
  }
  flushing_.clear();
}

// Forgets the callback; the lookup itself continues and still fills the cache.
bool MxResolver::cancel(LookupId id) { return waiters_.erase(id) > 0; }

// Empties both caches.
void MxResolver::clearCache() {
  domainCache_.clear();
  hostCache_.clear();
}

// Snapshot of the counters, with the source's query counts.
ResolverStats MxResolver::stats() const {
  ResolverStats s = stats_;
  s.mxQueries = source_ ? source_->queriesSent(QType::MX) : 0;
  s.aQueries = source_ ? source_->queriesSent(QType::A) : 0;
  s.aaaaQueries = source_ ? source_->queriesSent(QType::AAAA) : 0;
  s.evictions = domainCache_.evictions() + hostCache_.evictions();
  s.cachedDomains = domainCache_.size();
  s.inFlight = domains_.size();
  return s;
}

}  // namespace sluice::resolver
