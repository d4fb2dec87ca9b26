// client_transaction.cpp: the transaction part of the client session: the pipelining sender (MAIL, RCPT...,
// DATA + dot-stuffed body, or BDAT chunks pointing into caller memory), deep pipelining across transactions up
// to a window (RFC 2920, RFC 3030), reply matching in wire order, per-recipient outcomes (RFC 5321 §6.1,
// §4.5.3.1.10) and RSET after failed transactions.
#include "engine/smtp/client_transaction.hpp"

#include <algorithm>
#include <utility>

#include "engine/smtp/client_session.hpp"

namespace sluice::smtp {

namespace {

// Outcome of a reply for recipients it decides; `poisoned` turns failures temporary.
Outcome outcomeOf(const Reply& r, bool poisoned) {
  switch (r.klass()) {
    case ReplyClass::Positive: return Outcome::Delivered;
    case ReplyClass::Permanent: return poisoned ? Outcome::TemporaryFailure : Outcome::PermanentFailure;
    default: return Outcome::TemporaryFailure;
  }
}

// True for a RCPT reply that means "too many recipients": 452 or 552 (RFC 5321 §4.5.3.1.10), unless an
// enhanced code names another cause (e.g. 452 4.2.2 mailbox full).
bool tooManyRecipients(const Reply& r) {
  if (r.code != 452 && r.code != 552) return false;
  return !r.enhanced.present || (r.enhanced.subject == 5 && r.enhanced.detail == 3);
}

}  // namespace

// True when commands may be pipelined: the peer advertised PIPELINING and the configuration allows it.
bool ClientSession::pipeliningInUse() const { return caps_.pipelining && config_.usePipelining; }

// True when bodies go by BDAT: the peer advertised CHUNKING and the configuration allows it.
bool ClientSession::chunkingInUse() const { return caps_.chunking && config_.useChunking; }

// Writes whatever the protocol allows now: continues the transaction being sent, RSET at a command boundary,
// new transactions up to the window, QUIT when asked and nothing is left.
void ClientSession::pump() {
  if (state_ != ClientState::Ready) return;
  const bool pipelining = pipeliningInUse();
  for (;;) {
    if (state_ != ClientState::Ready) return;
    if (sending_ != nullptr) {
      Txn& t = *sending_;
      if (t.stage == TxnStage::Done) {
        sending_ = nullptr;
        maybeCompleteTxn(t);
        continue;
      }
      if (!advance(t)) return;
      continue;
    }
    if (rsetWanted_) {
      if (!pipelining && !pending_.empty()) return;
      writeRset();
      continue;
    }
    if (queued_.empty()) {
      if (quitRequested_ && active_.empty() && pending_.empty()) sendQuit();
      return;
    }
    if (refuseUnsendable()) continue;
    if (!pipelining && !pending_.empty()) return;
    if (active_.size() >= config_.maxInFlightTransactions) return;
    if (needsCleanStart()) writeRset();
    startTxn();
  }
}

// True when the next transaction must start behind an RSET: deep pipelining (BDAT) while an earlier transaction
// still awaits replies. After BDAT LAST a failed transaction may still be open at the peer (Postfix answers "554
// no valid recipients" and keeps it), so the next pipelined MAIL would get 503 nested MAIL (RFC 3030 §2, §4;
// RFC 2920 §3.1 allows RSET anywhere in a group). A final "." always closes the peer's transaction (RFC 5321
// §4.1.1.4), and without pipelining nothing is in flight, so neither needs it.
bool ClientSession::needsCleanStart() const {
  if (!chunkingInUse() || lastRsetSeq_ == wireSeq_) return false;
  return std::any_of(active_.begin(), active_.end(), [](const auto& t) { return t->pendingCmds > 0; });
}

// Refuses, before anything of it is written, a message this peer cannot take as it is (every recipient fails
// permanently with a synthesized reply, attempted=false, and the message is done):
//  - larger than the peer's fixed SIZE limit: 552 5.3.4 (RFC 1870 §6). The size is the larger of the declared
//    SIZE and the body span total (both exclude dot-stuffing; the span total is exactly what BDAT sends);
//  - BODY=8BITMIME content to a peer without 8BITMIME (HELO peers included): 554 5.6.3 (RFC 6152 §3; no octet
//    above 0x7F may reach a 7-bit peer, so conversion is the caller's job, before submit);
//  - BODY=BINARYMIME content unless the peer offers BINARYMIME and this session sends BDAT: 554 5.6.3 (RFC 3030 §3);
//  - an SMTPUTF8 message to a peer without SMTPUTF8: 553 5.6.7 (RFC 6531 §3.2).
// Returns true when the oldest queued message was refused that way.
bool ClientSession::refuseUnsendable() {
  MsgState& m = *queued_.front();
  if (m.nextRcpt != 0) return false;
  const MailParams& p = m.msg.params;
  Reply why;
  if (caps_.size && caps_.sizeLimit != 0 && std::max(p.size, m.bodySize) > caps_.sizeLimit) {
    why = localReply(552, EnhancedCode{5, 3, 4, true}, "Message size exceeds fixed maximum message size of the peer");
  } else if (p.body == BodyType::EightBitMime && !caps_.eightBitMime) {
    why = localReply(554, EnhancedCode{5, 6, 3, true}, "8-bit content and the peer does not offer 8BITMIME");
  } else if (p.body == BodyType::BinaryMime && !(caps_.binaryMime && chunkingInUse())) {
    why = localReply(554, EnhancedCode{5, 6, 3, true}, "binary content needs BINARYMIME and CHUNKING at the peer");
  } else if (p.smtpUtf8 && !caps_.smtpUtf8) {
    why = localReply(553, EnhancedCode{5, 6, 7, true}, "internationalised message and the peer does not offer SMTPUTF8");
  } else {
    return false;
  }
  reportUnsent(m, Outcome::PermanentFailure, why);
  started_.push_back(std::move(queued_.front()));
  queued_.pop_front();
  maybeFinishMessage(*started_.back());
  return true;
}

// Starts a transaction over the next slice of the oldest queued message and writes its MAIL.
void ClientSession::startTxn() {
  MsgState& m = *queued_.front();
  auto t = std::make_unique<Txn>();
  t->id = nextTxnId_++;
  t->msg = &m;
  t->first = m.nextRcpt;
  t->count =
      static_cast<std::uint32_t>(std::min<std::size_t>(config_.maxRecipientsPerTransaction, m.count() - m.nextRcpt));
  t->rcpt.assign(t->count, RcptState::Open);
  t->remaining = m.bodySize;
  if (m.msg.source) t->reader = m.msg.source->open();
  m.nextRcpt += t->count;
  ++m.txnsOpen;
  if (m.nextRcpt == m.count()) {
    started_.push_back(std::move(queued_.front()));
    queued_.pop_front();
  }
  sending_ = t.get();
  active_.push_back(std::move(t));
  ++stats_.transactions;
}

// Writes the next commands / body of the transaction being sent. Returns false when it must wait (a reply, an
// acknowledgement), true when the caller should look again.
bool ClientSession::advance(Txn& t) {
  const bool pipelining = pipeliningInUse();
  const bool chunking = chunkingInUse();
  const OutboundMessage& msg = t.msg->msg;
  switch (t.stage) {
    case TxnStage::Mail:
      // refuseUnsendable() already turned away what this peer cannot take (8BITMIME, BINARYMIME, SMTPUTF8, SIZE).
      appendMail(line(), msg.reversePath, msg.params, caps_);
      writeFraming(line_);
      pushPending(CmdKind::Mail, &t, 0);
      t.stage = TxnStage::Rcpts;
      return pipelining;
    case TxnStage::Rcpts:
      if (pipelining) {
        for (; t.rcptSent < t.count; ++t.rcptSent) {
          const OutboundRecipient& rc = msg.recipients[t.first + t.rcptSent];
          appendRcpt(line(), rc.address, rc.params, caps_);
          writeFraming(line_);
          pushPending(CmdKind::Rcpt, &t, t.rcptSent);
        }
        t.stage = chunking ? TxnStage::Bdat : TxnStage::DataCmd;
        return true;
      }
      if (!pending_.empty()) return false;
      if (!t.ended && !t.stopRcpts && t.rcptSent < t.count) {
        const OutboundRecipient& rc = msg.recipients[t.first + t.rcptSent];
        appendRcpt(line(), rc.address, rc.params, caps_);
        writeFraming(line_);
        pushPending(CmdKind::Rcpt, &t, t.rcptSent);
        ++t.rcptSent;
        return false;
      }
      if (t.stopRcpts) {
        // Never sent: deferred with the peer's "too many recipients" reply, for a new transaction.
        for (std::uint32_t i = t.rcptSent; i < t.count; ++i) {
          finishRecipient(t, i, Outcome::TemporaryFailure, t.stopReply, false, false, false);
        }
      }
      if (t.ended || t.accepted == 0) {
        t.ended = true;  // no DATA / BDAT without an accepted recipient; RSET follows
        t.stage = TxnStage::Done;
        return true;
      }
      t.stage = chunking ? TxnStage::Bdat : TxnStage::DataCmd;
      return true;
    case TxnStage::DataCmd:
      appendSimple(line(), "DATA");
      writeFraming(line_);
      pushPending(CmdKind::Data, &t, 0);
      t.stage = TxnStage::Wait354;
      return false;
    case TxnStage::Wait354: return false;
    case TxnStage::Body:
      if (unackedDataBlocks_ >= config_.maxDataBlocksInFlight) return false;
      writeDataBlock(t);
      return true;
    case TxnStage::LoneDot:
      // RFC 2920 §3.1: 354 although no recipient was accepted: end the empty content and discard the reply.
      writeFraming(".\r\n");
      pushPending(CmdKind::DataEnd, &t, 0);
      t.loneDot = true;
      t.stage = TxnStage::Done;
      return true;
    case TxnStage::Bdat:
      if (t.ended) {  // a BDAT was refused: no further chunk (RFC 3030 §2)
        t.stage = TxnStage::Done;
        return true;
      }
      if (!pipelining && !pending_.empty()) return false;
      if (unackedBdat_ >= config_.maxUnackedBdatBytes) return false;
      writeBdatChunk(t);
      return pipelining;
    case TxnStage::Done: return true;
  }
  return false;
}

// Writes one dot-stuffed block of at most about dataBlockSize octets; after the last input also the terminator.
void ClientSession::writeDataBlock(Txn& t) {
  const std::vector<std::string_view>& body = t.msg->msg.body;
  const std::size_t budget = config_.dataBlockSize;
  std::size_t got = 0;
  if (t.reader) {
    // A produced body: read about half a block (stuffing at most doubles it), at most what is left of its size.
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(std::max<std::size_t>(budget / 2, 1), t.remaining));
    if (!readSource(t, want, got)) return;  // the connection failed: t is gone
  }
  WriteBuf& w = openWrite();
  std::size_t start = w.framing.size();
  if (t.reader) {
    t.stuffer.feed(std::string_view(chunk_.data(), got), w.framing);
    t.remaining -= got;
    if (t.remaining == 0) t.span = body.size() + 1;  // the source is exhausted: the data ends
  }
  while (!t.reader && t.span < body.size() && w.framing.size() - start < budget / 2) {
    std::string_view s = body[t.span].substr(t.off);
    std::size_t room = (budget - (w.framing.size() - start)) / 2;  // stuffing at most doubles the input
    std::string_view piece = s.substr(0, std::max<std::size_t>(room, 1));
    t.stuffer.feed(piece, w.framing);
    t.off += piece.size();
    if (t.off == body[t.span].size()) {
      ++t.span;
      t.off = 0;
    }
  }
  bool last = t.reader ? t.span > body.size() : t.span == body.size();
  if (last) t.stuffer.finish(w.framing);
  std::size_t len = w.framing.size() - start;
  w.segs.push_back({nullptr, start, len});
  w.bytes += len;
  stats_.bodyOctets += len;
  ++w.dataBlocks;
  ++unackedDataBlocks_;
  if (last) {
    pushPending(CmdKind::DataEnd, &t, 0);
    w.finals.push_back(t.id);
    t.stage = TxnStage::Done;
  }
}

// Writes "BDAT n [LAST]" and references to the next n body octets in caller memory (or, for a produced body,
// the next n octets read from its source, copied into the framing).
void ClientSession::writeBdatChunk(Txn& t) {
  const std::vector<std::string_view>& body = t.msg->msg.body;
  // A produced body goes in chunks of at most kSourceChunk: they are copied into the framing.
  std::uint64_t n = std::min<std::uint64_t>(t.reader ? std::min(config_.bdatChunkSize, kSourceChunk)
                                                      : config_.bdatChunkSize,
                                            t.remaining);
  bool last = n == t.remaining;
  if (t.reader) {
    // Read the chunk before announcing it: a source that is not exactly its declared size never leaves a BDAT
    // short of octets, nor a truncated message accepted.
    std::size_t got = 0;
    if (!readSource(t, static_cast<std::size_t>(n), got)) return;  // the connection failed: t is gone
  }
  appendBdat(line(), n, last);
  writeFraming(line_);
  WriteBuf& w = writes_.back();
  std::uint64_t left = n;
  if (t.reader) {
    writeFraming(chunk_);
    left = 0;
  }
  while (left > 0 && t.span < body.size()) {
    std::string_view s = body[t.span].substr(t.off);
    std::string_view piece = s.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(left, s.size())));
    writeExternal(piece);
    left -= piece.size();
    t.off += piece.size();
    if (t.off == body[t.span].size()) {
      ++t.span;
      t.off = 0;
    }
  }
  t.remaining -= n;
  w.bdatBytes += n;
  unackedBdat_ += n;
  stats_.bodyOctets += n;
  if (n > 0 && (w.refs.empty() || w.refs.back() != t.msg)) {
    w.refs.push_back(t.msg);
    ++t.msg->writeRefs;
  }
  pushPending(last ? CmdKind::BdatLast : CmdKind::Bdat, &t, 0);
  if (last) {
    w.finals.push_back(t.id);
    t.stage = TxnStage::Done;
  }
}

// Reads exactly `want` octets of a produced body into chunk_ (got = want), and when they are the last ones
// checks that the source ends there. A source that ends early or runs long breaks its declared size (the SIZE
// and BDAT counts already written): the connection is failed (every unfinished recipient deferred, nothing of the
// broken message accepted) and false is returned; the transaction no longer exists then.
bool ClientSession::readSource(Txn& t, std::size_t want, std::size_t& got) {
  chunk_.resize(want);
  got = 0;
  while (got < want) {
    const std::size_t r = t.reader->read(chunk_.data() + got, want - got);
    if (r == 0) break;
    got += r;
  }
  bool ok = got == want;
  if (ok && want == t.remaining) {
    char probe = 0;
    ok = t.reader->read(&probe, 1) == 0;
  }
  if (!ok) {
    fail(got < want ? "message body source ended before its declared size"
                    : "message body source ran past its declared size",
         nullptr, false, false, true);
  }
  return ok;
}

// Writes RSET (allowed anywhere in a pipelined group, RFC 2920 §3.1) after a failed transaction.
void ClientSession::writeRset() {
  appendSimple(line(), "RSET");
  writeFraming(line_);
  pushPending(CmdKind::Rset, nullptr, 0);
  lastRsetSeq_ = wireSeq_;
  rsetWanted_ = false;
}

// Applies the reply to one transaction command.
void ClientSession::onTxnReply(const Pending& p, const Reply& r) {
  Txn& t = *p.txn;
  --t.pendingCmds;
  const ReplyClass k = r.klass();
  switch (p.kind) {
    case CmdKind::Mail:
      if (k == ReplyClass::Positive) {
        t.poisoned = false;  // the peer took a new MAIL, so its state was clean
      } else if (!t.ended) {
        finishOpenRecipients(t, r, false, false);  // every recipient shares the MAIL reply
      }
      break;
    case CmdKind::Rcpt:
      if (t.ended || t.rcpt[p.rcpt] != RcptState::Open) break;
      if (k == ReplyClass::Positive) {
        t.rcpt[p.rcpt] = RcptState::Accepted;
        ++t.accepted;
      } else if (k == ReplyClass::Invalid || k == ReplyClass::Intermediate) {
        // RFC 5321 §4.2: a code outside 2..5 (or a 3xx here) ends the transaction; nothing is lost.
        finishOpenRecipients(t, r, false, false);  // accepted ones included: all temporary
      } else if (r.code == 552 || k == ReplyClass::Transient) {
        // 4xx, and 552 to RCPT (RFC 5321 §4.5.3.1.10): temporary for this recipient.
        finishRecipient(t, p.rcpt, Outcome::TemporaryFailure, r, false, false, true);
        if (tooManyRecipients(r) && !t.stopRcpts) {
          t.stopRcpts = true;
          t.stopReply = r;
        }
      } else {
        finishRecipient(t, p.rcpt, outcomeOf(r, t.poisoned), r, false, false, true);
      }
      break;
    case CmdKind::Data:
      if (r.code == 354) {
        t.stage = (!t.ended && t.accepted > 0) ? TxnStage::Body : TxnStage::LoneDot;
      } else {
        // DATA refused: RSET follows (RFC 2920 §3.1). A 2xx instead of 354 delivers nothing: no content went out.
        classifyAccepted(t, r, false);
        t.stage = TxnStage::Done;
      }
      break;
    case CmdKind::Bdat:
      if (!t.ended && k != ReplyClass::Positive) classifyAccepted(t, r, false);  // stop sending; RSET follows
      break;
    case CmdKind::DataEnd:
    case CmdKind::BdatLast:
      if (t.ended || t.loneDot) break;
      if (k == ReplyClass::Positive) t.succeeded = true;
      classifyAccepted(t, r, true);
      break;
    case CmdKind::Rset: break;
  }
  maybeCompleteTxn(t);
}

// Gives every recipient not yet final the outcome of `r` and ends the transaction; a 2xx here never delivers
// (only an end-of-data 2xx does). Recipients whose RCPT was never written are "not attempted".
void ClientSession::finishOpenRecipients(Txn& t, const Reply& r, bool synthesized, bool dup) {
  for (std::uint32_t i = 0; i < t.count; ++i) {
    if (t.rcpt[i] == RcptState::Final) continue;
    Outcome o = synthesized ? Outcome::TemporaryFailure : outcomeOf(r, t.poisoned);
    if (o == Outcome::Delivered) o = Outcome::TemporaryFailure;  // only an end-of-data 2xx delivers
    finishRecipient(t, i, o, r, synthesized, dup, i < t.rcptSent);
  }
  t.ended = true;
}

// Decides the accepted recipients by an end-of-data / BDAT / DATA reply (only `final` replies can deliver);
// recipients never answered are deferred.
void ClientSession::classifyAccepted(Txn& t, const Reply& r, bool final) {
  for (std::uint32_t i = 0; i < t.count; ++i) {
    if (t.rcpt[i] == RcptState::Accepted) {
      Outcome o = outcomeOf(r, t.poisoned);
      if (o == Outcome::Delivered && !final) o = Outcome::TemporaryFailure;
      finishRecipient(t, i, o, r, false, false, true);
    } else if (t.rcpt[i] == RcptState::Open) {
      finishRecipient(t, i, Outcome::TemporaryFailure, r, false, false, true);
    }
  }
  t.ended = true;
}

// Reports the result of one recipient (local index within the transaction).
void ClientSession::finishRecipient(Txn& t, std::uint32_t local, Outcome o, const Reply& r, bool synthesized, bool dup,
                                    bool attempted) {
  if (t.rcpt[local] == RcptState::Final) return;
  t.rcpt[local] = RcptState::Final;
  report(*t.msg, t.first + local, o, r, synthesized, dup, attempted);
}

// Emits the one result of recipient `index` of a message and counts it.
void ClientSession::report(MsgState& m, std::uint32_t index, Outcome o, const Reply& r, bool synthesized, bool dup,
                           bool attempted) {
  ++m.reported;
  switch (o) {
    case Outcome::Delivered:
      ++stats_.recipientsDelivered;
      m.anyDelivered = true;
      break;
    case Outcome::PermanentFailure: ++stats_.recipientsPermanent; break;
    case Outcome::TemporaryFailure: ++stats_.recipientsTemporary; break;
  }
  emit(RecipientResult{m.msg.handle, index, o, r, synthesized, dup, attempted});
}

// Gives every recipient not yet in a transaction the outcome `o` with a reply the session made (never written to
// the peer: synthesized, not attempted), so no transaction will take them.
void ClientSession::reportUnsent(MsgState& m, Outcome o, const Reply& r) {
  for (std::uint32_t i = m.nextRcpt; i < m.count(); ++i) report(m, i, o, r, true, false, false);
  m.nextRcpt = m.count();
}

// Completes the transaction once nothing more will be written for it and every written command has its reply.
void ClientSession::maybeCompleteTxn(Txn& t) {
  if (t.pendingCmds == 0 && t.stage == TxnStage::Done && sending_ != &t) completeTxn(t);
}

// Retires a finished transaction: RSET after a failure, poisoning transactions written behind it.
void ClientSession::completeTxn(Txn& t) {
  if (!t.ended) {
    finishOpenRecipients(t, localReply(451, EnhancedCode{4, 4, 2, true}, "transaction ended without a reply"), true,
                         false);
  }
  if (!t.succeeded) {
    if (lastRsetSeq_ < t.lastCmdSeq) rsetWanted_ = true;
    // Safety net: transactions written after t count failures as temporary until a 2xx to their MAIL shows the
    // peer's state was clean, also when an isolating RSET went before them (a peer might ignore it).
    for (auto& other : active_) {
      if (other.get() != &t) other->poisoned = true;
    }
  }
  MsgState& m = *t.msg;
  --m.txnsOpen;
  active_.erase(std::find_if(active_.begin(), active_.end(), [&](const auto& p) { return p.get() == &t; }));
  maybeFinishMessage(m);
}

// Emits MessageDone once every recipient has a result and no write references the body.
void ClientSession::maybeFinishMessage(MsgState& m) {
  if (m.done || m.reported != m.count() || m.txnsOpen != 0 || m.nextRcpt != m.count() || m.writeRefs != 0) return;
  m.done = true;
  ++stats_.messagesCompleted;
  if (m.anyDelivered) ++stats_.messagesSent;
  emit(MessageDone{m.msg.handle});
  auto it = std::find_if(started_.begin(), started_.end(), [&](const auto& p) { return p.get() == &m; });
  if (it != started_.end()) started_.erase(it);
}

// Defers everything in flight and everything queued (the connection is ending). `lost`: no reply will come, so
// a transaction whose end of data was handed out may have been delivered (RFC 5321 §6.1: possible duplicate).
void ClientSession::abandonEverything(const Reply& r, bool synthesized, bool lost) {
  std::deque<std::unique_ptr<Txn>> active = std::move(active_);
  active_.clear();
  pending_.clear();
  sending_ = nullptr;
  rsetWanted_ = false;
  for (auto& t : active) {
    bool dup = lost && t->finalHandedOut && !t->ended;
    for (std::uint32_t i = 0; i < t->count; ++i) {
      if (t->rcpt[i] != RcptState::Final) {
        finishRecipient(*t, i, Outcome::TemporaryFailure, r, synthesized, dup, i < t->rcptSent);
      }
    }
    --t->msg->txnsOpen;
  }
  const Reply na = localReply(451, EnhancedCode{4, 4, 2, true},
                              "not attempted: " + (r.lines.empty() ? std::string() : r.lines.front()));
  while (!queued_.empty()) {
    reportUnsent(*queued_.front(), Outcome::TemporaryFailure, na);
    started_.push_back(std::move(queued_.front()));
    queued_.pop_front();
  }
  std::vector<MsgState*> all;
  for (auto& m : started_) all.push_back(m.get());
  for (MsgState* m : all) maybeFinishMessage(*m);
}

}  // namespace sluice::smtp
