// engine_core.cpp: the end of a message's attempt: deferrals with their next attempt time, expiry, bounces
// (see engine_core.hpp).
#include "engine/delivery/engine_core.hpp"

#include <chrono>

#include "engine/delivery/bounce.hpp"
#include "engine/delivery/envelope.hpp"

namespace sluice::delivery {

EngineProgress Counters::snapshot() const {
  EngineProgress p;
  auto r = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  p.delivered = r(delivered);
  p.bounced = r(bounced);
  p.deferred = r(deferred);
  p.messagesDone = r(messagesDone);
  p.messagesInFlight = r(messagesInFlight);
  p.bouncesQueued = r(bouncesQueued);
  p.possibleDuplicates = r(possibleDuplicates);
  p.connectionsOpened = r(connectionsOpened);
  p.connectionsOpen = r(connectionsOpen);
  p.connectFailures = r(connectFailures);
  p.bodyBytes = r(bodyBytes);
  p.transactionsBdat = r(transactionsBdat);
  p.transactionsData = r(transactionsData);
  p.transactions8bit = r(transactions8bit);
  p.transactionsTls = r(transactionsTls);
  p.transactionsPipelined = r(transactionsPipelined);
  return p;
}

EngineCore::EngineCore(queue::Spool& spool, const ops::EngineConfig& config)
    : spool_(spool), config_(config), client_(config.clientConfig()), retry_(config.retry) {}

std::int64_t EngineCore::wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void EngineCore::partDone(const std::shared_ptr<MessageTracker>& msg, ops::DeliveryLog* log) {
  if (msg->partsOpen.fetch_sub(1, std::memory_order_acq_rel) == 1) finishMessage(*msg, log);
}

void EngineCore::finishMessage(MessageTracker& msg, ops::DeliveryLog* log) {
  const std::int64_t now = wallMs();
  std::vector<FailedRecipient> failed;
  std::vector<DeferredRecipient> deferred;
  {
    std::lock_guard<std::mutex> lock(msg.mu);
    failed.swap(msg.failed);
    deferred.swap(msg.deferred);
  }
  bool journalFailed = false;
  std::optional<std::int64_t> next;
  if (!deferred.empty()) {
    next = retry_.nextAttemptMs(msg.attempt(), msg.view.arrivalMs(), now);
    for (const auto& d : deferred) {
      if (next) {
        if (!spool_.recordOutcome(msg.id(), d.index, queue::Outcome::Deferred, *next, msg.attempt(), d.reply))
          journalFailed = true;
        continue;
      }
      // Queued too long: the recipient fails for good (RFC 3463 X.4.7, delivery time expired).
      std::string text = "4.4.7 message expired after " + std::to_string((now - msg.view.arrivalMs()) / 1000) +
                         " s in the queue; last reply: " + d.reply;
      counters_.bounced.fetch_add(1, std::memory_order_relaxed);
      failed.push_back({d.index, "4.4.7", text, d.remoteMta});
      if (log && log->enabled()) {
        ops::DeliveryRecord rec;
        rec.timeMs = now;
        rec.messageId = msg.id();
        rec.recipient = msg.view.recipient(d.index).address;
        rec.status = ops::DeliveryStatus::Expired;
        rec.smtpCode = 0;
        rec.enhancedCode = "4.4.7";
        rec.reply = text;
        rec.mxHost = d.remoteMta;
        rec.attempt = msg.attempt();
        rec.durationMs = now - msg.takenMs;
        rec.synthesized = true;
        log->append(rec);
      }
    }
  } else if (msg.abandoned.load() && failed.empty()) {
    spool_.release(msg.id(), now);  // given back untouched: due again at once (after a restart)
  }
  if (!failed.empty()) settleFailed(msg, failed);
  if (journalFailed) {
    // The deferral is not on disk (disk full, say): at least let the message come round again in this run.
    spool_.release(msg.id(), next.value_or(now + 60'000));
  }
  counters_.messagesDone.fetch_add(1, std::memory_order_relaxed);
  counters_.messagesInFlight.fetch_sub(1, std::memory_order_relaxed);
  messageFinished();
}

void EngineCore::settleFailed(MessageTracker& msg, const std::vector<FailedRecipient>& failed) {
  const queue::MessageId id = msg.id();
  const std::uint16_t attempt = msg.attempt();
  auto journalBounced = [this, id, attempt](const FailedRecipient& f) {
    spool_.recordOutcome(id, f.index, queue::Outcome::Bounced, 0, attempt, f.diagnostic);
  };
  // Never bounce a bounce (RFC 5321 §6.1, RFC 3464 §2): the null reverse-path gets no report.
  const bool reportable = config_.bounces && !msg.view.reversePath().empty();
  std::vector<FailedRecipient> reported;
  for (const auto& f : failed) {
    smtp::RcptParams params;
    if (reportable) parseRcptParams(msg.view.recipient(f.index).params, params);
    // RFC 3461 §4.1: with NOTIFY given, a failure is reported only when FAILURE is among its values.
    bool wants = reportable && (params.notify == smtp::NotifyNone || (params.notify & smtp::NotifyFailure));
    if (wants) reported.push_back(f);
    else journalBounced(f);  // no report owed: final now
  }
  if (reported.empty()) return;
  // The recipients become final only once their report is durable in the spool: a crash (or a failed append)
  // before that leaves them pending, so the sender is never left without the failure report.
  std::string error;
  std::optional<DsnMessage> dsn = buildBounce(msg, reported, &error);
  if (!dsn) {
    for (const auto& f : reported) journalBounced(f);  // cannot be built (reported by the log): do not loop
    return;
  }
  queue::RecipientIn to{msg.view.reversePath(), ""};
  queue::MessageIn m;
  m.reversePath = "";
  m.mailParams = dsn->eightBit ? "BODY=8BITMIME" : "";
  m.recipients = std::span<const queue::RecipientIn>(&to, 1);
  m.body = dsn->bytes;
  const std::int64_t retryAt = retry_.nextAttemptMs(attempt, msg.view.arrivalMs(), wallMs()).value_or(wallMs());
  auto deferAll = [this, id, attempt, reported, retryAt] {
    for (const auto& f : reported)
      spool_.recordOutcome(id, f.index, queue::Outcome::Deferred, retryAt, attempt, "bounce not queued");
  };
  bouncesPending_.fetch_add(1);
  auto appended = spool_.append(m, [this, reported, journalBounced, deferAll](queue::MessageId,
                                                                              const queue::Status& st) {
    if (st.isOk()) {
      for (const auto& f : reported) journalBounced(f);
    } else {
      deferAll();
    }
    bouncesPending_.fetch_sub(1);
    messageFinished();  // the bounce is due now: let the dispatcher look
  });
  if (appended.isOk()) {
    counters_.bouncesQueued.fetch_add(1, std::memory_order_relaxed);
  } else {
    bouncesPending_.fetch_sub(1);
    deferAll();
  }
}

std::optional<DsnMessage> EngineCore::buildBounce(MessageTracker& msg, const std::vector<FailedRecipient>& failed,
                                                  std::string* error) {
  DsnInput in;
  in.reportingMta = config_.hostname;
  in.originalEnvelopeId = msg.mailParams.envid;
  in.arrivalMs = msg.view.arrivalMs();
  in.nowMs = wallMs();
  in.originalSender = std::string(msg.view.reversePath());
  in.originalMessage = msg.view.body();
  in.ret = msg.mailParams.ret == smtp::DsnRet::Full ? DsnInput::Return::Full : DsnInput::Return::Headers;
  in.uniqueId = msg.id();
  for (const auto& f : failed) {
    auto rv = msg.view.recipient(f.index);
    smtp::RcptParams params;
    parseRcptParams(rv.params, params);
    DsnRecipient r;
    r.finalRecipient = std::string(rv.address);
    if (!params.orcpt.empty()) r.originalRecipient = params.orcptType + ";" + params.orcpt;
    r.action = DsnRecipient::Action::Failed;
    r.status = f.status;
    r.remoteMta = f.remoteMta;
    r.diagnostic = f.diagnostic;
    r.lastAttemptMs = in.nowMs;
    in.recipients.push_back(std::move(r));
  }
  return buildDsn(in, error);
}

}  // namespace sluice::delivery
