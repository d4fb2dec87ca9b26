// engine.hpp: the delivery engine's public face. An Engine takes due messages from a Spool, resolves their
// destinations, and delivers them over pooled, pipelined connections on one libuv loop per thread, recording each
// recipient's outcome in the spool's journal and in the delivery log (engine/delivery/README.md).
//
// Ownership: the caller owns the Spool and keeps it open until run() has returned and the Engine is destroyed.
// Threads: run() blocks the calling thread and starts config.threads - 1 more loop threads; stop() and progress()
// may be called from any thread (a signal handler must not call them: use the engine's own SIGTERM handling).
// Errors: create() returns nullptr with a readable error; after that, delivery problems are outcomes, not errors.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/ops/config.hpp"
#include "queue/spool.hpp"

namespace sluice::delivery {

// Counters for progress displays, tests and the benchmark; a consistent-enough snapshot (each field atomic).
struct EngineProgress {
  std::uint64_t delivered = 0;        // recipients delivered (2xx to end of data)
  std::uint64_t bounced = 0;          // recipients failed for good (5xx, permanent DNS result, expired)
  std::uint64_t deferred = 0;         // recipient attempts deferred (4xx, connection trouble, temporary DNS)
  std::uint64_t messagesDone = 0;     // messages whose attempt finished (every recipient has an outcome)
  std::uint64_t messagesInFlight = 0; // taken from the spool and not yet finished
  std::uint64_t bouncesQueued = 0;    // DSN messages appended to the spool
  std::uint64_t possibleDuplicates = 0;
  std::uint64_t connectionsOpened = 0;
  std::uint64_t connectionsOpen = 0;
  std::uint64_t connectFailures = 0;
  std::uint64_t bodyBytes = 0;        // body octets of the messages sent (as spooled, before dot-stuffing)
  std::uint64_t transactionsBdat = 0; // transactions whose body went as BDAT
  std::uint64_t transactionsData = 0; // ... as DATA
  std::uint64_t transactions8bit = 0; // ... declared BODY=8BITMIME
  std::uint64_t transactionsConverted = 0;  // ... sent as a variant converted for the peer (engine/mime)
  std::uint64_t transactionsTls = 0;  // ... over TLS
  std::uint64_t transactionsPipelined = 0;
};

struct EngineOptions {
  ops::EngineConfig config;
  // Return from run() once nothing is due and nothing is in flight (messages deferred to later stay queued).
  bool drain = false;
  // Non-empty: resolve destinations from this zone text (resolver/zone.hpp syntax) instead of DNS (tests).
  std::string zoneText;
  // Called on the first loop's thread about every progressEveryMs while run() runs (0 = never).
  std::function<void(const EngineProgress&)> onProgress;
  std::uint64_t progressEveryMs = 0;
};

class Engine {
 public:
  // Checks the configuration against what the engine needs and prepares (does not start) the loops.
  static std::unique_ptr<Engine> create(EngineOptions options, queue::Spool& spool, std::string* error);
  virtual ~Engine() = default;
  // Delivers until stop() (or SIGTERM/SIGINT when handleSignals) or, with drain, until the queue is drained.
  // In-flight transactions are finished (bounded by the data timeouts) before it returns. Returns 0 on a clean
  // stop, non-zero when the spool failed underneath.
  virtual int run(bool handleSignals) = 0;
  // Asks run() to finish in-flight work and return. Thread-safe; idempotent.
  virtual void stop() = 0;
  // A snapshot of the counters. Thread-safe.
  virtual EngineProgress progress() const = 0;
};

}  // namespace sluice::delivery
