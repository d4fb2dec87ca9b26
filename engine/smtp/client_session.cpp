// client_session.cpp: connection-level part of the client session: the state table and transition function,
// greeting, EHLO / HELO fallback, the STARTTLS hook, QUIT, failures, write buffers, events and the deadline.
// Transactions (MAIL / RCPT / DATA / BDAT / RSET) are in client_transaction.cpp.
#include "engine/smtp/client_session.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <utility>

#include "engine/smtp/client_transaction.hpp"

namespace sluice::smtp {

namespace {

// Per-state log label and timeout (a member of ClientTimeouts, or none).
struct StateInfo {
  std::string_view label;
  Millis ClientTimeouts::*timeout;
};

constexpr std::array<StateInfo, 10> kStates{{
    {"initial", nullptr},
    {"greeting", &ClientTimeouts::greeting},
    {"ehlo", &ClientTimeouts::ehlo},
    {"helo", &ClientTimeouts::ehlo},
    {"starttls", &ClientTimeouts::startTls},
    {"tls-handshake", &ClientTimeouts::tlsHandshake},
    {"ehlo-tls", &ClientTimeouts::ehlo},
    {"ready", nullptr},  // per command, see kCommands
    {"quit", &ClientTimeouts::quit},
    {"closed", nullptr},
}};

// Per-command log label and timeout while Ready.
constexpr std::array<StateInfo, 7> kCommands{{
    {"MAIL", &ClientTimeouts::mail},
    {"RCPT", &ClientTimeouts::rcpt},
    {"DATA", &ClientTimeouts::dataInit},
    {"end of data", &ClientTimeouts::dataEnd},
    {"BDAT", &ClientTimeouts::dataEnd},
    {"BDAT LAST", &ClientTimeouts::dataEnd},
    {"RSET", &ClientTimeouts::rset},
}};

// Builds a locally made reply "451 4.4.2 <text>".
Reply synthesize(std::string_view text) { return localReply(451, EnhancedCode{4, 4, 2, true}, text); }

}  // namespace

// Returns the log label of a state.
std::string_view stateLabel(ClientState s) { return kStates[static_cast<std::size_t>(s)].label; }

// Builds a session; clamps limits that would make no sense at zero.
ClientSession::ClientSession(ClientConfig config) : config_(std::move(config)), parser_(config_.replyLimits) {
  config_.maxRecipientsPerTransaction = std::max<std::size_t>(config_.maxRecipientsPerTransaction, 1);
  config_.maxInFlightTransactions = std::max<std::size_t>(config_.maxInFlightTransactions, 1);
  config_.bdatChunkSize = std::max<std::size_t>(config_.bdatChunkSize, 1);
  config_.maxUnackedBdatBytes = std::max<std::size_t>(config_.maxUnackedBdatBytes, 1);
  config_.dataBlockSize = std::max<std::size_t>(config_.dataBlockSize, 64);
  config_.maxDataBlocksInFlight = std::max<std::size_t>(config_.maxDataBlocksInFlight, 1);
}

// Out of line because Txn and MsgState are incomplete in the header.
ClientSession::~ClientSession() = default;

// Moves to a later state; a move backwards is a broken invariant and aborts.
void ClientSession::transition(ClientState next) {
  if (next <= state_) std::abort();
  state_ = next;
  progress_ = true;
}

// Queues an event for nextEvent().
void ClientSession::emit(ClientEvent e) { events_.push_back(std::move(e)); }

// TCP is up: the peer talks first (RFC 5321 §3.1).
void ClientSession::onConnected() {
  if (state_ == ClientState::Initial) transition(ClientState::Greeting);
  finishCall();
}

// Feeds peer bytes to the reply parser and handles every complete reply.
void ClientSession::onBytes(std::string_view bytes) {
  if (state_ == ClientState::Initial) transition(ClientState::Greeting);
  if (state_ == ClientState::Closed || bytes.empty()) return finishCall();
  if (state_ == ClientState::TlsHandshake) {
    // RFC 3207 §4.2 / CVE-2011-0411: nothing may arrive in plaintext between the 220 and the handshake.
    fail("plaintext received after the STARTTLS 220", nullptr, false, false, true);
    return finishCall();
  }
  parser_.feed(bytes);
  while (state_ != ClientState::Closed && state_ != ClientState::TlsHandshake) {
    Reply r;
    ReplyParser::Status st = parser_.next(r);
    if (st == ReplyParser::Status::NeedMore) break;
    if (st == ReplyParser::Status::Error) {
      fail("reply parse error: " + std::string(parser_.error()), nullptr, false, false, true);
      break;
    }
    progress_ = true;
    handleReply(r);
  }
  finishCall();
}

// Dispatches one complete reply by state.
void ClientSession::handleReply(const Reply& r) {
  if (r.code == 421 && state_ != ClientState::Quitting) {
    // RFC 5321 §3.8: the peer is closing; everything in flight is deferred, no QUIT.
    fail("peer closing the connection (421)", &r, false, false, false);
    return;
  }
  switch (state_) {
    case ClientState::Greeting: return onGreeting(r);
    case ClientState::Ehlo: return onEhloReply(r, false);
    case ClientState::TlsEhlo: return onEhloReply(r, true);
    case ClientState::Helo: return onHeloReply(r);
    case ClientState::StartTls: return onStartTlsReply(r);
    case ClientState::Quitting: return closeNow(true);
    case ClientState::Ready: break;
    default: return;
  }
  if (pending_.empty()) {
    fail("reply without a command: " + r.firstLine(), &r, false, false, true);
    return;
  }
  Pending p = pending_.front();
  pending_.pop_front();
  if (p.kind == CmdKind::Rset) {
    if (r.klass() != ReplyClass::Positive) fail("RSET rejected: " + r.firstLine(), &r, false, true, false);
  } else {
    onTxnReply(p, r);
  }
  pump();
}

// Greeting: 220 -> EHLO; 554 -> QUIT and "host refused"; anything else -> unusable (RFC 5321 §3.1).
void ClientSession::onGreeting(const Reply& r) {
  if (r.klass() == ReplyClass::Positive) {
    appendEhlo(line(), config_.heloName);
    writeFraming(line_);
    transition(ClientState::Ehlo);
    return;
  }
  if (r.klass() == ReplyClass::Invalid) return fail("invalid greeting: " + r.firstLine(), &r, false, false, false);
  bool refused = r.code == 554;
  fail((refused ? "host refused: " : "greeting rejected: ") + r.firstLine(), &r, refused, true, false);
}

// EHLO reply: capabilities, STARTTLS, or the HELO fallback on 500/502 (RFC 5321 §3.2, §4.1.4).
void ClientSession::onEhloReply(const Reply& r, bool afterTls) {
  if (r.klass() == ReplyClass::Positive) {
    caps_ = parseEhlo(r);  // a 2xx: esmtp is true
    if (!afterTls && !tlsActive_ && config_.tls != TlsPolicy::Never && caps_.startTls) {
      appendSimple(line(), "STARTTLS");
      writeFraming(line_);
      transition(ClientState::StartTls);
      return;
    }
    if (config_.tls == TlsPolicy::Require && !tlsActive_) {
      return fail("TLS required but the peer does not offer STARTTLS", nullptr, false, true, false);
    }
    return enterReady();
  }
  bool fallback = r.code == 500 || r.code == 502 ||
                  (config_.heloFallbackOnOther5xx && (r.code == 501 || r.code == 504 || r.code == 550));
  if (!afterTls && fallback) {
    appendHelo(line(), config_.heloName);
    writeFraming(line_);
    transition(ClientState::Helo);
    return;
  }
  fail("EHLO rejected: " + r.firstLine(), &r, false, r.klass() != ReplyClass::Invalid, false);
}

// HELO reply: 2xx -> Ready with no extension at all; anything else -> unusable.
void ClientSession::onHeloReply(const Reply& r) {
  if (r.klass() != ReplyClass::Positive) {
    return fail("HELO rejected: " + r.firstLine(), &r, false, r.klass() != ReplyClass::Invalid, false);
  }
  caps_ = Capabilities{};  // esmtp = false: no PIPELINING, SIZE, BODY=, DSN, BDAT, STARTTLS
  if (config_.tls == TlsPolicy::Require) {
    return fail("TLS required but the peer only speaks HELO", nullptr, false, true, false);
  }
  enterReady();
}

// STARTTLS reply: 220 -> hand over to TLS (refusing injected bytes); 454 and others -> plaintext or unusable.
void ClientSession::onStartTlsReply(const Reply& r) {
  if (r.code == 220) {
    if (parser_.buffered() > 0) {
      // RFC 3207 §4.2, CVE-2011-0411 class: bytes glued to the 220 would be read as if they came over TLS.
      return fail("data injected after the STARTTLS 220", nullptr, false, false, true);
    }
    transition(ClientState::TlsHandshake);
    emit(StartTlsNow{});
    return;
  }
  if (config_.tls == TlsPolicy::Require || r.klass() == ReplyClass::Invalid) {
    return fail("STARTTLS refused: " + r.firstLine(), &r, false, r.klass() != ReplyClass::Invalid, false);
  }
  enterReady();  // opportunistic: go on in plaintext with the capabilities we have
}

// The TLS handshake finished: forget everything learned in plaintext and EHLO again (RFC 3207 §4.2).
void ClientSession::onTlsEstablished() {
  if (state_ != ClientState::TlsHandshake) return finishCall();
  tlsActive_ = true;
  parser_.reset();
  caps_ = Capabilities{};
  appendEhlo(line(), config_.heloName);
  writeFraming(line_);
  transition(ClientState::TlsEhlo);
  finishCall();
}

// The TLS handshake failed: the connection cannot be used.
void ClientSession::onTlsFailed(std::string_view why) {
  if (state_ != ClientState::Closed) fail("TLS handshake failed: " + std::string(why), nullptr, false, false, true);
  finishCall();
}

// EOF or read error from the peer.
void ClientSession::onPeerClosed() {
  if (state_ == ClientState::Quitting) {
    closeNow(true);
  } else if (state_ != ClientState::Closed) {
    fail("connection closed by peer in state " + std::string(stateLabel(state_)), nullptr, false, false, true);
  }
  finishCall();
}

// The caller's timer fired: everything unanswered is deferred (RFC 5321 §4.5.3.2).
void ClientSession::onTimeout() {
  if (!deadline_.armed || state_ == ClientState::Closed) return finishCall();
  if (state_ == ClientState::Quitting) {
    closeNow(true);
    return finishCall();
  }
  std::string what(stateLabel(state_));
  if (state_ == ClientState::Ready) {
    if (unackedBdat_ > 0 || unackedDataBlocks_ > 0) {
      what = "data block";
    } else if (!pending_.empty()) {
      what = kCommands[static_cast<std::size_t>(pending_.front().kind)].label;
    }
  }
  fail("timeout waiting for " + what, nullptr, false, false, true);
  finishCall();
}

// Queues a message; starts it at once when the session is Ready.
void ClientSession::submit(OutboundMessage message) {
  auto m = std::make_unique<MsgState>();
  m->msg = std::move(message);
  if (m->msg.source) {
    m->bodySize = m->msg.source->size();
  } else {
    for (std::string_view s : m->msg.body) m->bodySize += s.size();
  }
  if (state_ == ClientState::Closed || state_ == ClientState::Quitting || m->msg.recipients.empty()) {
    started_.push_back(std::move(m));
    MsgState& ms = *started_.back();
    reportUnsent(ms, Outcome::TemporaryFailure, synthesize("not attempted: connection not usable"));
    maybeFinishMessage(ms);
    return finishCall();
  }
  queued_.push_back(std::move(m));
  pump();
  finishCall();
}

// Asks for QUIT once everything submitted is finished.
void ClientSession::quit() {
  quitRequested_ = true;
  if (state_ == ClientState::Initial) {
    // Never connected: hand queued messages back untouched.
    abandonEverything(synthesize("session ended before connecting"), true, false);
    closeNow(true);
  } else {
    pump();
  }
  finishCall();
}

std::vector<MessageHandle> ClientSession::withdrawUnstarted() {
  std::vector<MessageHandle> out;
  for (auto it = queued_.begin(); it != queued_.end();) {
    if ((*it)->nextRcpt == 0 && (*it)->writeRefs == 0) {
      out.push_back((*it)->msg.handle);
      it = queued_.erase(it);
    } else {
      ++it;
    }
  }
  finishCall();
  return out;
}

// True when Ready with nothing queued or in flight.
bool ClientSession::idle() const {
  return state_ == ClientState::Ready && queued_.empty() && active_.empty() && pending_.empty() && !rsetWanted_;
}

// Enters Ready and starts queued transactions.
void ClientSession::enterReady() {
  transition(ClientState::Ready);
  pump();
}

// Writes QUIT and waits for 221 or close.
void ClientSession::sendQuit() {
  appendSimple(line(), "QUIT");
  writeFraming(line_);
  transition(ClientState::Quitting);
}

// The connection cannot go on: defer everything, report why, then QUIT (when the peer may still listen) or close.
void ClientSession::fail(std::string_view reason, const Reply* reply, bool hostRefused, bool sendQuitFirst, bool lost) {
  if (state_ == ClientState::Closed) return;
  if (reply != nullptr && reply->code == 421) {
    abandonEverything(*reply, false, false);
  } else {
    abandonEverything(synthesize(reason), true, lost);
  }
  ConnectionUnusable u;
  u.reason = std::string(reason);
  if (reply != nullptr) u.reply = *reply;
  u.hostRefused = hostRefused;
  emit(std::move(u));
  bool canQuit = sendQuitFirst && state_ != ClientState::Quitting && state_ != ClientState::TlsHandshake &&
                 state_ != ClientState::Initial;
  if (canQuit) {
    sendQuit();
  } else {
    closeNow(false);
  }
}

// Terminal: drops writes not yet taken and reports Closed.
void ClientSession::closeNow(bool graceful) {
  if (state_ == ClientState::Closed) return;
  if (!graceful) {
    while (writes_.size() > taken_) retireWrite(true);
  }
  transition(ClientState::Closed);
  emit(Closed{graceful});
}

// Returns the timeout of the reply a command waits for.
Millis ClientSession::timeoutFor(CmdKind k) const {
  return config_.timeouts.*(kCommands[static_cast<std::size_t>(k)].timeout);
}

// Ends every input call: recomputes the deadline and bumps its generation when it must be re-armed.
void ClientSession::finishCall() {
  Deadline d;
  const StateInfo& si = kStates[static_cast<std::size_t>(state_)];
  if (si.timeout != nullptr) {
    d.armed = true;
    d.after = config_.timeouts.*(si.timeout);
  } else if (state_ == ClientState::Ready) {
    if (unackedBdat_ > 0 || unackedDataBlocks_ > 0) {
      d.armed = true;
      d.after = config_.timeouts.dataBlock;
    } else if (!pending_.empty()) {
      d.armed = true;
      d.after = timeoutFor(pending_.front().kind);
    }
  }
  if (progress_ || d.armed != deadline_.armed || d.after != deadline_.after) {
    d.generation = deadline_.generation + 1;
    deadline_ = d;
  }
  progress_ = false;
}

// ---- write buffers

// The write request being built (the last one, unless the caller already took it).
ClientSession::WriteBuf& ClientSession::openWrite() {
  if (writes_.size() == taken_) writes_.emplace_back();
  progress_ = true;
  return writes_.back();
}

// Appends session-owned framing bytes to the open write.
void ClientSession::writeFraming(std::string_view bytes) {
  if (bytes.empty()) return;
  WriteBuf& w = openWrite();
  if (!w.segs.empty() && w.segs.back().ext == nullptr && w.segs.back().off + w.segs.back().len == w.framing.size()) {
    w.segs.back().len += bytes.size();
  } else {
    w.segs.push_back({nullptr, w.framing.size(), bytes.size()});
  }
  w.framing.append(bytes);
  w.bytes += bytes.size();
}

// Appends a reference to caller-owned bytes to the open write (zero copy).
void ClientSession::writeExternal(std::string_view bytes) {
  if (bytes.empty()) return;
  WriteBuf& w = openWrite();
  w.segs.push_back({bytes.data(), 0, bytes.size()});
  w.bytes += bytes.size();
}

// Clears and returns the scratch line the command writers append to (then passed to writeFraming()).
std::string& ClientSession::line() {
  line_.clear();
  return line_;
}

// Records a written command that awaits a reply.
void ClientSession::pushPending(CmdKind kind, Txn* txn, std::uint32_t rcpt) {
  pending_.push_back({kind, txn, rcpt});
  ++wireSeq_;
  if (txn != nullptr) {
    ++txn->pendingCmds;
    txn->lastCmdSeq = wireSeq_;
  }
}

// Removes the oldest write (acknowledged) or the newest (never taken, dropped) and releases what it held: its
// unacknowledged body octets and blocks, and its body references, which may let a message finish.
void ClientSession::retireWrite(bool newest) {
  WriteBuf& w = newest ? writes_.back() : writes_.front();
  unackedBdat_ -= w.bdatBytes;
  unackedDataBlocks_ -= w.dataBlocks;
  std::vector<MsgState*> refs = std::move(w.refs);
  if (newest) {
    writes_.pop_back();
  } else {
    writes_.pop_front();
  }
  for (MsgState* m : refs) {
    --m->writeRefs;
    maybeFinishMessage(*m);
  }
}

// Hands out the oldest write not yet taken; its slices stay valid until onWritten() acknowledges it.
std::optional<WriteRequest> ClientSession::takeWrite() {
  if (taken_ == writes_.size()) return std::nullopt;
  WriteBuf& w = writes_[taken_++];
  w.slices.clear();
  w.slices.reserve(w.segs.size());
  for (const WriteBuf::Seg& s : w.segs) {
    w.slices.push_back({s.ext != nullptr ? s.ext : w.framing.data() + s.off, s.len});
  }
  for (std::uint64_t id : w.finals) {
    for (auto& t : active_) {
      if (t->id == id) t->finalHandedOut = true;
    }
  }
  return WriteRequest{std::span<const IoSlice>(w.slices), w.bytes};
}

// The oldest taken write completed (successfully or not): release its buffers and send more body if allowed.
void ClientSession::onWritten() {
  if (taken_ == 0) return finishCall();
  --taken_;
  progress_ = true;
  retireWrite(false);
  pump();
  finishCall();
}

// Hands out the oldest queued event.
std::optional<ClientEvent> ClientSession::nextEvent() {
  if (events_.empty()) return std::nullopt;
  ClientEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

}  // namespace sluice::smtp
