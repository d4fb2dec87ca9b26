// engine_core.cpp: the end of a message's attempt: deferrals with their next attempt time, expiry, bounces
// (see engine_core.hpp).
#include "engine/delivery/engine_core.hpp"

#include <chrono>

#include "engine/delivery/bounce.hpp"
#include "engine/delivery/envelope.hpp"
#include "engine/mime/mime.hpp"

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
  p.transactionsConverted = r(transactionsConverted);
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
  if (next && !deferred.empty()) reportDelayed(msg, deferred);
  std::vector<RelayedRecipient> relayed;
  {
    std::lock_guard<std::mutex> lock(msg.mu);
    relayed.swap(msg.relayed);
  }
  if (!relayed.empty()) reportRelayed(msg, relayed);
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
  std::vector<DsnRecipient> blocks;
  for (const auto& f : failed) {
    if (!reportable) {
      journalBounced(f);
      continue;
    }
    const queue::RecipientView rv = msg.view.recipient(f.index);
    smtp::RcptParams params;
    parseRcptParams(rv.params, params);
    // RFC 3461 §4.1: with NOTIFY given, a failure is reported only when FAILURE is among its values.
    if (params.notify != smtp::NotifyNone && !(params.notify & smtp::NotifyFailure)) {
      journalBounced(f);  // no report owed: final now
      continue;
    }
    reported.push_back(f);
    DsnRecipient r = reportBlock(rv, params, DsnRecipient::Action::Failed);
    r.status = f.status;
    r.remoteMta = f.remoteMta;
    r.diagnostic = f.diagnostic;
    blocks.push_back(std::move(r));
  }
  if (reported.empty()) return;
  // The recipients become final only once their report is durable in the spool: a crash (or a failed append)
  // before that leaves them pending, so the sender is never left without the failure report.
  const std::int64_t retryAt = retry_.nextAttemptMs(attempt, msg.view.arrivalMs(), wallMs()).value_or(wallMs());
  auto deferAll = [this, id, attempt, reported, retryAt] {
    for (const auto& f : reported)
      spool_.recordOutcome(id, f.index, queue::Outcome::Deferred, retryAt, attempt, "bounce not queued");
  };
  const bool ret = msg.mailParams.ret == smtp::DsnRet::Full;
  queueReport(msg, std::move(blocks), ret, [reported, journalBounced, deferAll](ReportFate fate) {
    if (fate == ReportFate::Durable || fate == ReportFate::Unbuildable) {
      // Unbuildable: reported by the log; journal anyway so the message does not loop.
      for (const auto& f : reported) journalBounced(f);
    } else {
      deferAll();
    }
  });
}

DsnRecipient EngineCore::reportBlock(const queue::RecipientView& rv, const smtp::RcptParams& params,
                                     DsnRecipient::Action action) {
  DsnRecipient r;
  r.finalRecipient = std::string(rv.address);
  if (!params.orcpt.empty()) r.originalRecipient = params.orcptType + ";" + params.orcpt;
  r.action = action;
  r.lastAttemptMs = wallMs();
  return r;
}

void EngineCore::queueReport(MessageTracker& msg, std::vector<DsnRecipient> blocks, bool returnFull,
                             std::function<void(ReportFate)> done) {
  DsnInput in;
  in.reportingMta = config_.hostname;
  in.originalEnvelopeId = msg.mailParams.envid;
  in.arrivalMs = msg.view.arrivalMs();
  in.nowMs = wallMs();
  in.originalSender = std::string(msg.view.reversePath());
  in.originalMessage = msg.view.body();
  in.ret = returnFull ? DsnInput::Return::Full : DsnInput::Return::Headers;
  in.uniqueId = msg.id();
  in.recipients = std::move(blocks);
  std::string error;
  std::optional<DsnMessage> dsn = buildDsn(in, &error);
  if (!dsn) {
    if (done) done(ReportFate::Unbuildable);
    return;
  }
  queue::RecipientIn to{msg.view.reversePath(), ""};
  queue::MessageIn m;
  m.reversePath = "";
  m.mailParams = dsn->eightBit ? "BODY=8BITMIME" : "";
  m.recipients = std::span<const queue::RecipientIn>(&to, 1);
  m.body = dsn->bytes;
  m.flags = mime::classify(dsn->bytes);
  bouncesPending_.fetch_add(1);
  auto appended = spool_.append(m, [this, done](queue::MessageId, const queue::Status& st) {
    if (done) done(st.isOk() ? ReportFate::Durable : ReportFate::NotQueued);
    bouncesPending_.fetch_sub(1);
    messageFinished();  // the report is due now: let the dispatcher look
  });
  if (appended.isOk()) {
    counters_.bouncesQueued.fetch_add(1, std::memory_order_relaxed);
  } else {
    bouncesPending_.fetch_sub(1);
    if (done) done(ReportFate::NotQueued);
  }
}

void EngineCore::reportRelayed(MessageTracker& msg, const std::vector<RelayedRecipient>& relayed) {
  // RFC 3461 §4.2 / esmtp-rules §6: relayed to a peer without DSN, the success the sender asked for is reported
  // here as "relayed". The recipients are already journaled Delivered (a crash must not deliver twice), so this
  // report is best effort.
  if (!config_.bounces || msg.view.reversePath().empty()) return;
  std::vector<DsnRecipient> blocks;
  for (const auto& r : relayed) {
    const queue::RecipientView rv = msg.view.recipient(r.index);
    smtp::RcptParams params;
    parseRcptParams(rv.params, params);
    DsnRecipient b = reportBlock(rv, params, DsnRecipient::Action::Relayed);
    b.status = "2.0.0";
    b.remoteMta = r.remoteMta;
    b.diagnostic = r.reply;
    blocks.push_back(std::move(b));
  }
  queueReport(msg, std::move(blocks), false, nullptr);
}

bool EngineCore::delayWarningDue(unsigned attempt) const {
  // The message's age at failed attempt k is, by the schedule, the sum of the first k-1 delays (jitter aside).
  // The warning goes at the first attempt whose age reaches delay_warning_after: once, without extra state.
  const std::int64_t after = config_.delayWarningAfter.count();
  std::int64_t age = 0, previous = -1;
  for (unsigned k = 1; k < attempt; ++k) {
    previous = age;
    age += retry_.baseDelayMs(k);
  }
  return age >= after && previous < after;
}

void EngineCore::reportDelayed(MessageTracker& msg, const std::vector<DeferredRecipient>& deferred) {
  if (!config_.bounces || msg.view.reversePath().empty() || !delayWarningDue(msg.attempt())) return;
  std::vector<DsnRecipient> blocks;
  for (const auto& d : deferred) {
    const queue::RecipientView rv = msg.view.recipient(d.index);
    smtp::RcptParams params;
    parseRcptParams(rv.params, params);
    if (!(params.notify & smtp::NotifyDelay)) continue;  // RFC 3461 §4.1: only when DELAY was asked for
    DsnRecipient b = reportBlock(rv, params, DsnRecipient::Action::Delayed);
    smtp::EnhancedCode e;
    std::size_t used = 0;
    std::size_t sp = d.reply.find(' ');
    if (sp != std::string::npos && smtp::parseEnhancedCode(std::string_view(d.reply).substr(sp + 1), e, used) &&
        e.cls == 4) {
      b.status = e.str();
    } else {
      b.status = "4.0.0";
    }
    b.remoteMta = d.remoteMta;
    b.diagnostic = d.reply;
    b.willRetryUntilMs = retry_.expiresAtMs(msg.view.arrivalMs());
    blocks.push_back(std::move(b));
  }
  if (!blocks.empty()) queueReport(msg, std::move(blocks), false, nullptr);
}

}  // namespace sluice::delivery
