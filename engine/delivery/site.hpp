// site.hpp: one MX site (the resolver's site key: the sorted set of MX host names) on one shard, with its ready
// queue and its pool of connections (internal to engine/delivery).
//
// The pool grows with the ready queue (pool_sizing.hpp decides how many connections to open), shrinks as
// connections retire, and probes one connection at a time after connect failures. When every candidate of a
// connection failed and no other connection of the site is alive, the waiting units are deferred with the last
// connection error, and the site refuses new units for a short back-off so a dead site costs no connect storm.
// Ownership: owned by its Shard; owns its connections and its ready units. Threads: the shard's thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/delivery/connection.hpp"
#include "engine/delivery/work.hpp"
#include "resolver/result.hpp"

namespace sluice::delivery {

class Shard;

class Site {
 public:
  Site(Shard& shard, std::string key);
  ~Site();
  Site(const Site&) = delete;
  Site& operator=(const Site&) = delete;

  const std::string& key() const { return key_; }
  // The latest MX answer for this site (host order is reshuffled by the resolver for each answer).
  void updateHosts(const std::vector<resolver::MxHost>& hosts);
  // Queues a unit for delivery and grows the pool if needed. A unit of a message that already has one waiting here
  // (recipients in another domain with the same MX set) is merged into it: one transaction, one part.
  void enqueue(std::unique_ptr<Unit> unit);
  // The oldest ready unit, for a connection with room; nullptr when none.
  std::unique_ptr<Unit> take();
  // Opens connections as the ready queue needs and feeds the ready ones.
  void pump();
  // Retires every connection once its work is done (engine stopping).
  void retireAll();
  // Connections alive (connecting or open).
  std::size_t connections() const { return conns_.size(); }
  std::size_t readyUnits() const { return ready_.size(); }

  // From connections:
  void connectionUp(Connection& c);
  void connectionFailed(Connection& c, const std::string& error);  // every candidate failed
  void connectionGone(Connection& c, const std::string& error);
  // Destroys connections that are gone (called by the shard outside any connection callback).
  std::size_t reap();

 private:
  std::vector<Candidate> candidates() const;
  void deferReady(const std::string& error);

  Shard& shard_;
  std::string key_;
  std::vector<resolver::MxHost> hosts_;
  std::deque<std::unique_ptr<Unit>> ready_;
  // Ready units by message: a message's recipients in several domains of this site travel in one transaction.
  std::unordered_map<const MessageTracker*, Unit*> readyByMessage_;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::size_t consecutiveFailures_ = 0;
  std::int64_t downUntilMs_ = 0;  // back-off after the whole site failed
  std::string downReason_;
  bool pumping_ = false;
};

}  // namespace sluice::delivery
