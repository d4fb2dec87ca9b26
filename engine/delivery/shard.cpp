// shard.cpp: one event loop of the delivery engine (see shard.hpp).
#include "engine/delivery/shard.hpp"

#include <algorithm>
#include <utility>

namespace sluice::delivery {
namespace {
// Times a unit goes back to its site when a connection ended before its recipients were even sent.
constexpr unsigned kMaxRequeues = 3;
constexpr unsigned kMaxRequeuesAfter421 = 1;
constexpr std::uint64_t kLogFlushMs = 200;

// "Too many recipients" (RFC 5321 §4.5.3.1.10): 452, or the historical 552, with X.5.3 when an enhanced code is
// given. Any other 452 (e.g. 4.2.2 mailbox full) is an ordinary temporary failure.
bool tooManyRecipients(const smtp::Reply& r) {
  if (r.code != 452 && r.code != 552) return false;
  if (!r.enhanced.present) return r.code == 452;
  return r.enhanced.subject == 5 && r.enhanced.detail == 3;
}

}  // namespace

Shard::Shard(EngineCore& core, unsigned index) : core_(core), index_(index) {}

Shard::~Shard() {
  sites_.clear();  // connections and ready units first: they call back into this shard
  resolver_.reset();
  soon_.reset();
  flush_.reset();
  wake_.reset();
  log_.flush();
}

bool Shard::init(const std::string& zoneText, std::string* error) {
  resolver::MakeResolverResult made =
      zoneText.empty() ? resolver::makeDnsResolver(loop_.get(), core_.config().resolverConfig())
                       : resolver::makeZoneResolver(loop_.get(), zoneText, core_.config().resolverConfig());
  if (!made.resolver) {
    if (error) *error = "resolver: " + made.error;
    return false;
  }
  resolver_ = std::move(made.resolver);
  std::string err = log_.open(core_.config().deliveryLog);
  if (!err.empty()) {
    if (error) *error = "delivery log: " + err;
    return false;
  }
  wake_ = std::make_unique<net::Async>(loop_.get(), [this] { onWake(); });
  soon_ = std::make_unique<net::Timer>(loop_.get());
  flush_ = std::make_unique<net::Timer>(loop_.get());
  if (log_.enabled()) flush_->start(kLogFlushMs, [this] { log_.flush(); }, kLogFlushMs);
  return true;
}

void Shard::post(std::vector<std::unique_ptr<Unit>> units) {
  if (units.empty()) return;
  {
    std::lock_guard<std::mutex> lock(inboxMu_);
    if (closed_) {
      // This shard's loop has stopped: give the units back on the caller's thread (recipients stay pending).
      for (auto& u : units) {
        u->msg->abandoned.store(true);
        core_.partDone(u->msg, nullptr);
      }
      return;
    }
    unitsHere_.fetch_add(units.size(), std::memory_order_relaxed);
    if (inbox_.empty()) {
      inbox_ = std::move(units);
    } else {
      for (auto& u : units) inbox_.push_back(std::move(u));
    }
  }
  wake_->send();
}

void Shard::run() {
  loop_.run();
  log_.flush();
}

void Shard::requestStop() {
  stopRequested_.store(true);
  wake_->send();
}

void Shard::onWake() {
  std::vector<std::unique_ptr<Unit>> batch;
  {
    std::lock_guard<std::mutex> lock(inboxMu_);
    batch.swap(inbox_);
  }
  for (auto& u : batch) route(std::move(u));
  if (stopRequested_.load() && !stopping_) {
    stopping_ = true;
    for (auto& [key, site] : sites_) {
      while (auto u = site->take()) abandonUnit(std::move(u));
      site->retireAll();
    }
  }
  checkStopped();
}

void Shard::route(std::unique_ptr<Unit> unit) {
  if (stopping_) {
    abandonUnit(std::move(unit));
    return;
  }
  if (unit->domain.empty()) {
    // The text is what a report shows as the diagnostic: an SMTP reply of our own (RFC 3464 §2.3.6).
    std::string why = unit->domainError.empty() ? "recipient address has no domain" : unit->domainError;
    failUnit(std::move(unit), 553, "5.1.3", "553 5.1.3 " + why, true, "");
    return;
  }
  if (!unit->siteKey.empty()) {  // resolved by the shard that forwarded it here
    std::string key = std::move(unit->siteKey);
    std::vector<resolver::MxHost> hosts = std::move(unit->hosts);
    unit->siteKey.clear();
    unit->hosts.clear();
    toSite(std::move(unit), key, hosts);
    return;
  }
  Unit* raw = unit.release();
  std::string domain = raw->domain;
  resolver_->resolveMx(domain, [this, raw](const resolver::MxResult& r) { onMx(raw, r); });
}

void Shard::onMx(Unit* raw, const resolver::MxResult& r) {
  std::unique_ptr<Unit> unit(raw);
  if (stopping_) {
    abandonUnit(std::move(unit));
    return;
  }
  if (r.ok()) {
    toSite(std::move(unit), r.site, r.hosts);
    return;
  }
  std::string text = std::to_string(r.smtpCode) + " " + r.enhancedCode + " " + r.detail;
  failUnit(std::move(unit), r.smtpCode, r.enhancedCode, text, r.status == resolver::MxStatus::Permanent, "");
}

void Shard::toSite(std::unique_ptr<Unit> unit, const std::string& key, const std::vector<resolver::MxHost>& hosts) {
  std::size_t owner = core_.shardOfSite(key);
  if (owner != index_) {
    unit->siteKey = key;
    unit->hosts = hosts;
    if (forwards_.size() <= owner) forwards_.resize(owner + 1);
    forwards_[owner].push_back(std::move(unit));
    runSoon();
    return;
  }
  auto& site = sites_[key];
  if (!site) site = std::make_unique<Site>(*this, key);
  site->updateHosts(hosts);
  site->enqueue(std::move(unit));
}

void Shard::flushForwards() {
  for (std::size_t i = 0; i < forwards_.size(); ++i) {
    if (forwards_[i].empty()) continue;
    if (stopping_) {
      for (auto& u : forwards_[i]) abandonUnit(std::move(u));
      forwards_[i].clear();
      continue;
    }
    std::size_t n = forwards_[i].size();
    core_.postToShard(i, std::move(forwards_[i]));
    forwards_[i].clear();
    unitsHere_.fetch_sub(n, std::memory_order_relaxed);  // counted by the receiving shard now
  }
}

void Shard::failUnit(std::unique_ptr<Unit> unit, int code, const std::string& enhanced, const std::string& text,
                     bool permanent, const std::string& mx) {
  MessageTracker& m = *unit->msg;
  for (std::size_t pos = 0; pos < unit->rcpts.size(); ++pos) {
    const std::uint16_t idx = unit->rcpts[pos];
    if (permanent) {
      // Journaled Bounced when the message's attempt ends, with its bounce (EngineCore::settleFailed).
      core_.counters().bounced.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(m.mu);
      m.failed.push_back({idx, enhanced, text, mx});
    } else {
      core_.counters().deferred.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(m.mu);
      m.deferred.push_back({idx, text, mx});
    }
    TransportInfo none;
    log(*unit, pos, permanent ? ops::DeliveryStatus::Bounced : ops::DeliveryStatus::Deferred, code, enhanced, text,
        &none, true, false);
  }
  endPart(std::move(unit));
}

void Shard::deferUnit(std::unique_ptr<Unit> unit, const std::string& reason) {
  failUnit(std::move(unit), 451, "4.4.1", "451 4.4.1 " + reason, false, "");
}

void Shard::recordResult(Unit& unit, const smtp::RecipientResult& r, const TransportInfo& t) {
  if (r.recipient >= unit.rcpts.size()) return;
  MessageTracker& m = *unit.msg;
  std::uint16_t idx = unit.rcpts[r.recipient];
  const std::string first = r.reply.firstLine();
  const std::string enhanced = r.reply.enhanced.str();
  const std::string text = r.reply.text();
  auto& c = core_.counters();
  if (r.attempted) unit.attempted = true;
  if (t.chunking) unit.usedChunking = true;
  if (t.tls) unit.usedTls = true;
  if (t.pipelined) unit.usedPipelining = true;
  ops::DeliveryStatus status = ops::DeliveryStatus::Deferred;
  switch (r.outcome) {
    case smtp::Outcome::Delivered:
      status = ops::DeliveryStatus::Delivered;
      core_.spool().recordOutcome(m.id(), idx, queue::Outcome::Delivered, 0, m.attempt(), first);
      c.delivered.fetch_add(1, std::memory_order_relaxed);
      // RFC 3461 §4.2: a peer without DSN got no NOTIFY; the success the sender asked for is reported by us.
      if (!t.dsn && (unit.params[r.recipient].notify & smtp::NotifySuccess)) {
        std::lock_guard<std::mutex> lock(m.mu);
        m.relayed.push_back({idx, t.where ? t.where->host : std::string(), first});
      }
      break;
    case smtp::Outcome::PermanentFailure: {
      status = ops::DeliveryStatus::Bounced;  // journaled with its bounce when the attempt ends
      c.bounced.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(m.mu);
      // A refusal of our own (SIZE, 5.6.x before MAIL) names no remote MTA: the peer never said it.
      m.failed.push_back({idx, enhanced, std::to_string(r.reply.code) + " " + text,
                          t.where && !r.synthesized ? t.where->host : std::string()});
      break;
    }
    case smtp::Outcome::TemporaryFailure:
      if (!r.attempted && stopping_) {
        m.abandoned.store(true);  // never sent and we are stopping: stays pending, due again at once
        return;
      }
      // Never sent to this peer, or refused only because the transaction had too many recipients (452 / 552
      // with X.5.3, RFC 5321 §4.5.3.1.10): send it again in a new transaction.
      // After a 421 (the peer closing: busy, rate limits) only once, so a busy peer is not hammered with
      // reconnects; the retry schedule takes over.
      if ((!r.attempted || tooManyRecipients(r.reply)) &&
          unit.requeues < (r.reply.code == 421 ? kMaxRequeuesAfter421 : kMaxRequeues)) {
        unit.retry.push_back(r.recipient);
        return;
      }
      c.deferred.fetch_add(1, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(m.mu);
        m.deferred.push_back({idx, first, t.where ? t.where->host : std::string()});
      }
      break;
  }
  if (r.possibleDuplicate) c.possibleDuplicates.fetch_add(1, std::memory_order_relaxed);
  log(unit, r.recipient, status, r.reply.code, enhanced, text, &t, r.synthesized, r.possibleDuplicate);
}

void Shard::unitFinished(std::unique_ptr<Unit> unit, Site& site) {
  auto& c = core_.counters();
  if (unit->attempted) {
    c.bodyBytes.fetch_add(unit->msg->view.body().size(), std::memory_order_relaxed);
    (unit->usedChunking ? c.transactionsBdat : c.transactionsData).fetch_add(1, std::memory_order_relaxed);
    if (unit->body == ops::BodyTransport::EightBitMime) c.transactions8bit.fetch_add(1, std::memory_order_relaxed);
    if (unit->body == ops::BodyTransport::Converted) c.transactionsConverted.fetch_add(1, std::memory_order_relaxed);
    if (unit->usedTls) c.transactionsTls.fetch_add(1, std::memory_order_relaxed);
    if (unit->usedPipelining) c.transactionsPipelined.fetch_add(1, std::memory_order_relaxed);
  }
  if (!unit->retry.empty()) {
    auto again = std::make_unique<Unit>();
    again->msg = unit->msg;
    again->domain = unit->domain;
    again->requeues = unit->requeues + 1;
    for (std::uint32_t local : unit->retry) {
      again->rcpts.push_back(unit->rcpts[local]);
      again->addresses.push_back(unit->addresses[local]);
      again->params.push_back(unit->params[local]);
    }
    site.enqueue(std::move(again));
    return;  // the part goes on with the requeued recipients
  }
  endPart(std::move(unit));
}

void Shard::mergedUnit(std::unique_ptr<Unit> unit) {
  // Never the message's last part: the unit it was merged into is still open.
  unit->msg->partsOpen.fetch_sub(1, std::memory_order_acq_rel);
  unit.reset();
  unitsHere_.fetch_sub(1, std::memory_order_relaxed);
}

void Shard::abandonUnit(std::unique_ptr<Unit> unit) {
  unit->msg->abandoned.store(true);
  endPart(std::move(unit));
}

void Shard::endPart(std::unique_ptr<Unit> unit) {
  std::shared_ptr<MessageTracker> msg = std::move(unit->msg);
  unit.reset();
  unitsHere_.fetch_sub(1, std::memory_order_relaxed);
  core_.partDone(msg, &log_);
  if (stopping_) runSoon();
}

void Shard::schedulePump(Site& site) {
  if (std::find(toPump_.begin(), toPump_.end(), &site) == toPump_.end()) toPump_.push_back(&site);
  runSoon();
}

void Shard::scheduleReap(Site& site) {
  if (std::find(toReap_.begin(), toReap_.end(), &site) == toReap_.end()) toReap_.push_back(&site);
  runSoon();
}

void Shard::countConnectionOpened() {
  core_.counters().connectionsOpened.fetch_add(1, std::memory_order_relaxed);
  core_.counters().connectionsOpen.fetch_add(1, std::memory_order_relaxed);
}

void Shard::runSoon() {
  if (soon_ && !soon_->active()) soon_->start(0, [this] { tick(); });
}

void Shard::tick() {
  flushForwards();
  // Reap first: a pump may open connections in place of those gone.
  std::vector<Site*> reap;
  reap.swap(toReap_);
  for (Site* s : reap) {
    std::size_t removed = s->reap();
    core_.counters().connectionsOpen.fetch_sub(removed, std::memory_order_relaxed);
  }
  std::vector<Site*> pump;
  pump.swap(toPump_);
  for (Site* s : pump) s->pump();
  checkStopped();
}

void Shard::checkStopped() {
  if (!stopping_ || stopped_) return;
  if (unitsHere_.load() != 0) return;
  for (auto& [key, site] : sites_) {
    site->retireAll();
    if (site->connections() != 0) return;
  }
  if (!toReap_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(inboxMu_);
    if (!inbox_.empty()) {
      runSoon();  // units arrived meanwhile: route (abandon) them first
      wake_->send();
      return;
    }
    closed_ = true;
  }
  stopped_ = true;
  log_.flush();
  loop_.stop();
}

void Shard::log(const Unit& unit, std::size_t pos, ops::DeliveryStatus status, int code,
                std::string_view enhanced, std::string_view reply, const TransportInfo* t, bool synthesized,
                bool possibleDuplicate) {
  if (!log_.enabled()) return;
  ops::DeliveryRecord rec;
  rec.timeMs = nowMs();
  rec.messageId = unit.msg->id();
  rec.recipient = unit.addresses[pos];
  rec.status = status;
  rec.smtpCode = code;
  rec.enhancedCode = enhanced;
  rec.reply = reply;
  if (t && t->where) {
    rec.mxHost = t->where->host;
    rec.address = t->where->addrText;
  }
  rec.attempt = unit.msg->attempt();
  rec.durationMs = unit.startMs > 0 ? rec.timeMs - unit.startMs : rec.timeMs - unit.msg->takenMs;
  if (t) {
    rec.transport.chunking = t->chunking;
    rec.transport.pipelined = t->pipelined;
    rec.transport.tls = t->tls;
  }
  rec.transport.body = unit.body;
  rec.possibleDuplicate = possibleDuplicate;
  rec.synthesized = synthesized;
  log_.append(rec);
}

}  // namespace sluice::delivery
