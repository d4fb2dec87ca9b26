// site.cpp: one MX site's ready queue and connection pool (see site.hpp).
#include "engine/delivery/site.hpp"

#include <algorithm>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "engine/delivery/pool_sizing.hpp"
#include "engine/delivery/shard.hpp"

namespace sluice::delivery {
namespace {
// How long a site whose every address failed refuses new units (they are deferred at once meanwhile).
constexpr std::int64_t kSiteBackoffMs = 60'000;

Candidate makeCandidate(const resolver::MxHost& host, const resolver::IpAddress& ip) {
  Candidate c;
  c.host = host.name;
  if (ip.family == resolver::Family::V4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&c.addr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(host.port);
    std::memcpy(&sin->sin_addr, ip.bytes.data(), 4);
    c.addrText = ip.toString() + ":" + std::to_string(host.port);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&c.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(host.port);
    std::memcpy(&sin6->sin6_addr, ip.bytes.data(), 16);
    c.addrText = "[" + ip.toString() + "]:" + std::to_string(host.port);
  }
  return c;
}
}  // namespace

Site::Site(Shard& shard, std::string key) : shard_(shard), key_(std::move(key)) {}

Site::~Site() {
  for (auto& u : ready_) shard_.abandonUnit(std::move(u));
}

void Site::updateHosts(const std::vector<resolver::MxHost>& hosts) { hosts_ = hosts; }

std::vector<Candidate> Site::candidates() const {
  std::vector<Candidate> out;
  for (const auto& h : hosts_)
    for (const auto& ip : h.addresses) out.push_back(makeCandidate(h, ip));
  return out;
}

void Site::enqueue(std::unique_ptr<Unit> unit) {
  if (shard_.stopping()) {
    // Nothing takes units any more (connections are retiring, none is opened): hand it back untouched.
    shard_.abandonUnit(std::move(unit));
    return;
  }
  if (downUntilMs_ > shard_.nowMs()) {
    shard_.deferUnit(std::move(unit), downReason_);
    return;
  }
  auto [it, fresh] = readyByMessage_.try_emplace(unit->msg.get(), unit.get());
  if (!fresh) {
    Unit& into = *it->second;
    into.rcpts.insert(into.rcpts.end(), unit->rcpts.begin(), unit->rcpts.end());
    into.addresses.insert(into.addresses.end(), unit->addresses.begin(), unit->addresses.end());
    into.params.insert(into.params.end(), unit->params.begin(), unit->params.end());
    shard_.mergedUnit(std::move(unit));
    return;
  }
  ready_.push_back(std::move(unit));
  shard_.schedulePump(*this);
}

std::unique_ptr<Unit> Site::take() {
  if (ready_.empty()) return nullptr;
  std::unique_ptr<Unit> u = std::move(ready_.front());
  ready_.pop_front();
  readyByMessage_.erase(u->msg.get());
  return u;
}

void Site::pump() {
  if (pumping_) return;
  pumping_ = true;
  // Connections already open take what they can first.
  for (std::size_t i = 0; i < conns_.size() && !ready_.empty(); ++i) {
    if (conns_[i]->ready()) conns_[i]->feed();
  }
  if (!ready_.empty() && !shard_.stopping()) {
    const auto& pool = shard_.config().pool;
    PoolLimits limits;
    limits.maxConnections = pool.maxConnections;
    limits.maxConnecting = pool.maxConnecting;
    limits.messagesPerConnection = shard_.clientConfig().maxInFlightTransactions;
    PoolState st;
    st.ready = ready_.size();
    for (const auto& c : conns_) {
      if (c->gone()) continue;
      if (c->connecting()) ++st.connecting;
      else ++st.open;
      if (c->idle()) ++st.idle;
    }
    st.consecutiveConnectFailures = consecutiveFailures_;
    std::size_t n = connectionsToOpen(limits, st);
    auto cands = n > 0 ? candidates() : std::vector<Candidate>{};
    for (std::size_t i = 0; i < n && !cands.empty(); ++i) {
      conns_.push_back(std::make_unique<Connection>(shard_, *this, cands));
      shard_.countConnectionOpened();
      conns_.back()->start();
    }
  }
  pumping_ = false;
}

void Site::retireAll() {
  for (auto& c : conns_)
    if (!c->gone()) c->retire();
}

void Site::connectionUp(Connection&) {
  consecutiveFailures_ = 0;
  downUntilMs_ = 0;
  shard_.schedulePump(*this);
}

void Site::connectionFailed(Connection& failed, const std::string& error) {
  ++consecutiveFailures_;
  bool othersAlive = std::any_of(conns_.begin(), conns_.end(),
                                 [&](const auto& c) { return c.get() != &failed && !c->gone(); });
  if (!othersAlive) {
    downUntilMs_ = shard_.nowMs() + kSiteBackoffMs;
    downReason_ = error;
    deferReady(error);
  }
  shard_.scheduleReap(*this);
}

void Site::connectionGone(Connection& gone, const std::string& error) {
  if (!error.empty()) {
    connectionFailed(gone, error);
    return;
  }
  shard_.scheduleReap(*this);
  if (!ready_.empty()) shard_.schedulePump(*this);
}

void Site::deferReady(const std::string& error) {
  while (auto u = take()) shard_.deferUnit(std::move(u), error);
}

std::size_t Site::reap() {
  std::size_t before = conns_.size();
  conns_.erase(std::remove_if(conns_.begin(), conns_.end(), [](const auto& c) { return c->gone(); }), conns_.end());
  return before - conns_.size();
}

}  // namespace sluice::delivery
