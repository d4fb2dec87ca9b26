// shard.hpp: one event loop of the delivery engine and everything on it (internal to engine/delivery): its
// resolver, its sites and their pools, its delivery log. Sites are sharded by their key, so a site's pool, ready
// queue and back-off live on exactly one thread and need no lock.
//
// Units arrive from the dispatcher through post() (the one cross-thread hand-off: a mutex-guarded vector swapped
// per batch, then an async wake-up). The dispatcher picks a shard by recipient domain; once resolved, a unit whose
// site (MX-set key) belongs to another shard is forwarded there in the same way, so each site has exactly one
// pool and `pool.max_connections` holds per site whatever the thread count. Results are journaled in the spool as they come, logged, and counted.
// Ownership: owned by the engine; owns its loop and sites. Threads: post() and requestStop() from any thread,
// everything else on the shard's own thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/delivery/connection.hpp"
#include "engine/delivery/engine_core.hpp"
#include "engine/delivery/site.hpp"
#include "engine/delivery/work.hpp"
#include "engine/net/uv.hpp"
#include "engine/ops/delivery_log.hpp"
#include "resolver/resolver.hpp"

namespace sluice::delivery {

class Shard {
 public:
  Shard(EngineCore& core, unsigned index);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Creates the resolver and opens the delivery log. zoneText non-empty: the zone-text resolver (tests).
  bool init(const std::string& zoneText, std::string* error);
  // Hands units to this shard. Any thread.
  void post(std::vector<std::unique_ptr<Unit>> units);
  // Runs the loop on the calling thread until the shard has stopped.
  void run();
  // Finish what was submitted to connections, give back the rest, then stop. Any thread.
  void requestStop();
  // Units on this shard not finished yet (any thread; approximate while running).
  std::size_t unitsHere() const { return unitsHere_.load(std::memory_order_relaxed); }
  unsigned index() const { return index_; }

  // ---- for sites and connections (shard thread)
  uv_loop_t* loop() { return loop_.get(); }
  net::Loop& netLoop() { return loop_; }
  const ops::EngineConfig& config() const { return core_.config(); }
  const smtp::ClientConfig& clientConfig() const { return core_.clientConfig(); }
  net::TlsContext* tlsContext() { return core_.tlsContext(); }
  bool stopping() const { return stopping_; }
  std::int64_t nowMs() const { return EngineCore::wallMs(); }
  // A recipient's result from a connection.
  void recordResult(Unit& unit, const smtp::RecipientResult& r, const TransportInfo& t);
  // Every recipient of the unit deferred for a reason found before any SMTP exchange (DNS, connections).
  void deferUnit(std::unique_ptr<Unit> unit, const std::string& reason);
  // A connection finished with a unit (MessageDone): requeue what was never attempted, or end the part.
  void unitFinished(std::unique_ptr<Unit> unit, Site& site);
  // The unit's recipients were merged into another unit of the same message: one part fewer.
  void mergedUnit(std::unique_ptr<Unit> unit);
  // The unit is given back untouched (stopping, or torn down): its recipients stay pending.
  void abandonUnit(std::unique_ptr<Unit> unit);
  void schedulePump(Site& site);
  void scheduleReap(Site& site);
  void countConnectFailure() { core_.counters().connectFailures.fetch_add(1, std::memory_order_relaxed); }
  void countConnectionOpened();

 private:
  void onWake();
  void route(std::unique_ptr<Unit> unit);
  void onMx(Unit* unit, const resolver::MxResult& r);
  void failUnit(std::unique_ptr<Unit> unit, int code, const std::string& enhanced, const std::string& text,
                bool permanent, const std::string& mx);
  void endPart(std::unique_ptr<Unit> unit);
  void runSoon();
  void tick();
  void checkStopped();
  // One delivery-log line for the recipient at position `pos` of the unit.
  void log(const Unit& unit, std::size_t pos, ops::DeliveryStatus status, int code, std::string_view enhanced,
           std::string_view reply, const TransportInfo* t, bool synthesized, bool possibleDuplicate);

  void toSite(std::unique_ptr<Unit> unit, const std::string& key, const std::vector<resolver::MxHost>& hosts);
  void flushForwards();

  EngineCore& core_;
  unsigned index_;
  net::Loop loop_;
  std::unique_ptr<resolver::Resolver> resolver_;
  std::unordered_map<std::string, std::unique_ptr<Site>> sites_;
  ops::DeliveryLog log_;

  std::mutex inboxMu_;
  std::vector<std::unique_ptr<Unit>> inbox_;
  bool closed_ = false;  // guarded by inboxMu_: the loop has stopped; post() hands units back instead
  std::atomic<bool> stopRequested_{false};
  std::unique_ptr<net::Async> wake_;
  std::unique_ptr<net::Timer> soon_;   // runs queued pumps and reaps on the next loop turn
  std::unique_ptr<net::Timer> flush_;  // flushes the delivery log
  std::vector<Site*> toPump_, toReap_;
  std::vector<std::vector<std::unique_ptr<Unit>>> forwards_;  // per shard: units whose site lives there
  bool stopping_ = false;
  bool stopped_ = false;
  std::atomic<std::size_t> unitsHere_{0};
};

}  // namespace sluice::delivery
