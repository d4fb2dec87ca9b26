// work.hpp: the units of work inside the delivery engine (internal to engine/delivery).
//
// A MessageTracker is one message taken from the spool for one attempt: it pins the message's mapping (the body
// is sent straight from it) and gathers what the attempt's parts decided. The dispatcher splits a message into
// Units, one per destination domain, each handled by the shard that owns the domain. When the last Unit of a
// message finishes, the engine records the deferrals (with the next attempt time) and queues a bounce.
//
// Threads: a Unit lives on one shard's thread. A MessageTracker is shared by the Units of its message, which may
// sit on different shards: `partsOpen` is atomic, `mu` guards the lists and `mime.mu` the conversion cache;
// nothing else is written after the dispatcher hands the units out.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/mime/mime.hpp"
#include "engine/ops/delivery_log.hpp"
#include "engine/smtp/client_session.hpp"
#include "queue/spool.hpp"
#include "resolver/result.hpp"

namespace sluice::delivery {

// A recipient that failed for good in this attempt (for the bounce).
struct FailedRecipient {
  std::uint16_t index = 0;
  std::string status;      // enhanced code, "5.1.1"
  std::string diagnostic;  // "550 5.1.1 no such user", or the DNS / local reason
  std::string remoteMta;   // MX host name, may be empty
};

// A recipient whose attempt ended with a temporary failure.
struct DeferredRecipient {
  std::uint16_t index = 0;
  std::string reply;  // first line of the reply, for the journal and an eventual expiry bounce
  std::string remoteMta;
};

// Converted variants of one message (engine/mime), planned at most once per target and attempt, shared by the
// connections (on any shard) that need them. Each slot is empty, a plan, or the reason it cannot be converted.
struct ConversionCache {
  std::mutex mu;
  mime::ConvertResult variants[2];  // by mime::Target
  bool planned[2] = {false, false};
};

// A recipient delivered to a peer without DSN that asked NOTIFY=SUCCESS: owed an "Action: relayed" report.
struct RelayedRecipient {
  std::uint16_t index = 0;
  std::string remoteMta;
  std::string reply;  // the peer's reply, "250 2.0.0 ok"
};

struct MessageTracker {
  queue::MessageView view;
  smtp::MailParams mailParams;  // parsed once from the stored form
  std::uint8_t mimeFlags = 0;   // engine/mime classification (stored at intake, or computed when taken)
  ConversionCache mime;
  std::int64_t takenMs = 0;     // when the dispatcher took it
  std::atomic<int> partsOpen{0};
  std::atomic<bool> abandoned{false};  // some recipients were given back untouched (engine stopping)

  std::mutex mu;  // guards the two lists (parts on different shards finish concurrently)
  std::vector<FailedRecipient> failed;
  std::vector<DeferredRecipient> deferred;
  std::vector<RelayedRecipient> relayed;

  queue::MessageId id() const { return view.id(); }
  std::uint16_t attempt() const { return static_cast<std::uint16_t>(view.attempts() + 1); }
};

// One message's recipients for one destination domain, on one shard.
struct Unit {
  std::shared_ptr<MessageTracker> msg;
  std::string domain;       // lower case, A-labels (idna.hpp); "" when the address has no usable domain
  std::string domainError;  // why domain is empty, when it is not simply missing (an invalid IDN)
  std::vector<std::uint16_t> rcpts;     // recipient indices in the message
  std::vector<std::string_view> addresses;  // parallel to rcpts: views into the pinned mapping (msg->view)
  std::vector<smtp::RcptParams> params;  // parallel to rcpts
  std::int64_t startMs = 0;             // when this unit started its attempt (for the log's duration)
  unsigned requeues = 0;                // times it went back to its site after a connection died before sending
  // Set when the unit was resolved on one shard and handed to the shard owning its site.
  std::string siteKey;
  std::vector<resolver::MxHost> hosts;
  std::vector<std::uint32_t> retry;     // positions in rcpts to requeue once the connection is done with it
  bool attempted = false;               // some recipient was sent to a peer
  bool usedChunking = false, usedTls = false, usedPipelining = false;
  ops::BodyTransport body = ops::BodyTransport::SevenBit;  // how the body went (set when submitted)
};

}  // namespace sluice::delivery
