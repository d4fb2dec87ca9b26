// engine_core.hpp: what the shards share (internal to engine/delivery): the spool, the configuration, the TLS
// client context, the counters, and the end of a message's attempt (deferrals, expiry, bounces).
//
// Threads: everything here is safe from any shard thread: the spool is thread-safe, the counters are atomics,
// the configuration is read-only after create(). finishMessage() runs on the thread of the message's last part.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/delivery/bounce.hpp"
#include "engine/delivery/engine.hpp"
#include "engine/delivery/work.hpp"
#include "engine/net/tls.hpp"
#include "engine/ops/config.hpp"
#include "engine/ops/delivery_log.hpp"
#include "engine/ops/retry.hpp"
#include "queue/spool.hpp"

namespace sluice::delivery {

struct Counters {
  std::atomic<std::uint64_t> delivered{0}, bounced{0}, deferred{0}, messagesDone{0}, messagesInFlight{0},
      bouncesQueued{0}, possibleDuplicates{0}, connectionsOpened{0}, connectionsOpen{0}, connectFailures{0},
      bodyBytes{0}, transactionsBdat{0}, transactionsData{0}, transactions8bit{0}, transactionsConverted{0},
      transactionsTls{0}, transactionsPipelined{0};
  EngineProgress snapshot() const;
};

class EngineCore {
 public:
  EngineCore(queue::Spool& spool, const ops::EngineConfig& config);
  virtual ~EngineCore() = default;

  queue::Spool& spool() { return spool_; }
  const ops::EngineConfig& config() const { return config_; }
  const smtp::ClientConfig& clientConfig() const { return client_; }
  net::TlsContext* tlsContext() { return tls_.get(); }
  Counters& counters() { return counters_; }
  // True once stopping: no new work is handed out.
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  // Unix milliseconds (wall clock: the spool's schedule is in wall time).
  static std::int64_t wallMs();

  // The shard that owns a site (its pool, ready queue and back-off live there and nowhere else).
  virtual std::size_t shardOfSite(const std::string& siteKey) const = 0;
  // Hands units to another shard (any thread).
  virtual void postToShard(std::size_t shard, std::vector<std::unique_ptr<Unit>> units) = 0;

  // One part (unit) of a message finished on some shard; the last one ends the message's attempt.
  // `log` is the calling shard's delivery log (for expiry lines).
  void partDone(const std::shared_ptr<MessageTracker>& msg, ops::DeliveryLog* log);

 protected:
  // Ends a message's attempt: deferrals with the next attempt time (or expiry), the bounce, the counters.
  void finishMessage(MessageTracker& msg, ops::DeliveryLog* log);
  // A message finished: the dispatcher may take more.
  virtual void messageFinished() = 0;
  // Journals the failed recipients Bounced: at once when no report is owed (null reverse-path, NOTIFY without
  // FAILURE, bounces off), otherwise once the bounce (RFC 3464) is durable in the spool (Deferred if it is not).
  void settleFailed(MessageTracker& msg, const std::vector<FailedRecipient>& failed);
  // What became of a report: durable in the spool, refused by the spool, or not buildable at all.
  enum class ReportFate { Durable, NotQueued, Unbuildable };
  // Builds an RFC 3464 report about `blocks` of msg and appends it to the spool (MAIL FROM:<> to the sender);
  // done (may be empty) learns its fate, on the committer thread once durable.
  void queueReport(MessageTracker& msg, std::vector<DsnRecipient> blocks, bool returnFull,
                   std::function<void(ReportFate)> done);
  // A report block for one recipient (its stored address and parsed parameters): addresses, ORCPT, action, time.
  static DsnRecipient reportBlock(const queue::RecipientView& rv, const smtp::RcptParams& params,
                                  DsnRecipient::Action action);
  // "relayed" reports for recipients delivered to a peer without DSN that asked NOTIFY=SUCCESS (best effort).
  void reportRelayed(MessageTracker& msg, const std::vector<RelayedRecipient>& relayed);
  // "delayed" reports for deferred recipients that asked NOTIFY=DELAY, once (see delayWarningDue).
  void reportDelayed(MessageTracker& msg, const std::vector<DeferredRecipient>& deferred);
  // True when failed attempt `attempt` is the first whose scheduled age reaches bounces.delay_warning_after.
  bool delayWarningDue(unsigned attempt) const;

  queue::Spool& spool_;
  ops::EngineConfig config_;
  smtp::ClientConfig client_;
  ops::RetrySchedule retry_;
  std::unique_ptr<net::TlsContext> tls_;
  Counters counters_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> bouncesPending_{0};  // bounces appended, not yet durable (drain waits for them)
};

}  // namespace sluice::delivery
