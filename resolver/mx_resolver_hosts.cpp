// mx_resolver_hosts.cpp: the host side of MxResolver: A/AAAA lookups for MX hosts in parallel, the host cache,
// coalescing of host lookups shared by several domains, and completion of a domain once all its hosts are in.
#include "resolver/mx_resolver.hpp"

namespace sluice::resolver {

// Takes what the host cache knows, joins host lookups in flight, and queries the rest (A and/or AAAA).
void MxResolver::startHosts(DomainPending& p) {
  const std::size_t n = p.kept.size();
  p.outcomes.assign(n, HostOutcome{});
  p.done.assign(n, false);
  p.hostsLeft = n;
  std::vector<std::string> toQuery;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& name = p.kept[i].exchange;
    if (const HostOutcome* hit = hostCache_.get(name, now())) {
      ++stats_.hostCacheHits;
      p.outcomes[i] = *hit;
      p.done[i] = true;
      --p.hostsLeft;
      continue;
    }
    auto [it, inserted] = hosts_.try_emplace(name);
    it->second.domains.push_back(p.domain);
    if (inserted) toQuery.push_back(name);
  }
  if (p.hostsLeft == 0) {
    completeDomain(p);  // p is gone after this
    return;
  }
  const bool wantA = cfg_.raw.family != FamilyPolicy::V6Only;
  const bool wantAaaa = cfg_.raw.family != FamilyPolicy::V4Only;
  for (const auto& name : toQuery) {
    hosts_[name].left = (wantA ? 1 : 0) + (wantAaaa ? 1 : 0);
    if (wantA) {
      source_->query(name, QType::A, [this, name](DnsAnswer&& a) { onHostAnswer(name, QType::A, std::move(a)); });
    }
    if (wantAaaa) {
      source_->query(name, QType::AAAA,
                     [this, name](DnsAnswer&& a) { onHostAnswer(name, QType::AAAA, std::move(a)); });
    }
  }
}

// Collects one family's answer; when the host is complete, caches it and feeds every waiting domain.
void MxResolver::onHostAnswer(const std::string& host, QType type, DnsAnswer&& answer) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  HostPending& hp = it->second;
  (type == QType::A ? hp.a : hp.aaaa) = std::make_unique<DnsAnswer>(std::move(answer));
  if (--hp.left > 0) return;
  const HostOutcome outcome = combineHostAnswers(hp.a.get(), hp.aaaa.get(), cfg_.raw);
  std::vector<std::string> domains = std::move(hp.domains);
  hosts_.erase(it);
  if (outcome.ttl > 0) hostCache_.put(host, outcome, now() + std::uint64_t{outcome.ttl} * 1000);
  for (const auto& d : domains) {
    auto dit = domains_.find(d);
    if (dit == domains_.end()) continue;
    DomainPending& p = *dit->second;
    for (std::size_t i = 0; i < p.kept.size(); ++i) {
      if (!p.done[i] && p.kept[i].exchange == host) {
        hostDone(p, i, outcome);  // may complete (and erase) p: stop looking at it
        break;
      }
    }
  }
}

// Records one host's outcome for a domain and completes the domain when it was the last.
void MxResolver::hostDone(DomainPending& p, std::size_t index, const HostOutcome& outcome) {
  p.outcomes[index] = outcome;
  p.done[index] = true;
  if (--p.hostsLeft == 0) completeDomain(p);
}

// Builds the domain's result (MX rules, or the static-route form) and finishes it.
void MxResolver::completeDomain(DomainPending& p) {
  std::string key = p.domain;
  if (p.route == nullptr) {
    finishDomain(std::move(key), assembleResult(p.kept, p.outcomes, p.mxTtl, p.implicitMx, cfg_.raw));
    return;
  }
  MxResult r = assembleResult(p.kept, p.outcomes, p.mxTtl, false, cfg_.raw);
  if (r.ok()) {
    r.staticRoute = true;
    r.hosts.front().port = p.route->target.port;
    r.site = p.route->target.toString();
  } else {
    r = makeFailure(MxReason::RouteFailed, "static route host " + p.route->target.host + ": " + r.detail,
                    cfg_.raw.tempFailTtlSeconds);
  }
  finishDomain(std::move(key), std::move(r));
}

// The fixed answer for a route to an address literal.
MxResult MxResolver::literalRouteResult(const StaticRoute& route) {
  MxResult r;
  r.status = MxStatus::Ok;
  r.staticRoute = true;
  MxHost h;
  h.name = route.target.host;
  h.port = route.target.port;
  h.addresses.push_back(*route.target.ip);
  r.hosts.push_back(std::move(h));
  r.site = route.target.toString();
  return r;
}

}  // namespace sluice::resolver
