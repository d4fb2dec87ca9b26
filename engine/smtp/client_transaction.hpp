// client_transaction.hpp: request state of the client session, kept apart from connection state: a submitted
// message (MsgState) and one MAIL transaction over a slice of its recipients (Txn). Internal to engine/smtp;
// the delivery engine only sees OutboundMessage and the events of client_session.hpp. Plain data, owned by the
// session and touched only from its thread; no error reporting of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/smtp/client_session.hpp"
#include "engine/smtp/dotstuff.hpp"

namespace sluice::smtp {

// One submitted message. Lives from submit() until MessageDone (which waits until no write references its body).
struct MsgState {
  OutboundMessage msg;
  std::uint64_t bodySize = 0;   // sum of the body spans
  std::uint32_t nextRcpt = 0;   // first recipient not yet given to a transaction
  std::uint32_t reported = 0;   // recipients with a result
  std::uint32_t txnsOpen = 0;   // transactions over this message not yet complete
  std::uint32_t writeRefs = 0;  // unacknowledged writes that point into the body
  bool anyDelivered = false;
  bool done = false;  // MessageDone emitted
  std::uint32_t count() const { return static_cast<std::uint32_t>(msg.recipients.size()); }
};

// How far the sender got with a transaction. Stages only move forward.
enum class TxnStage : std::uint8_t {
  Mail,     // MAIL not written yet
  Rcpts,    // writing RCPTs (one at a time without PIPELINING)
  DataCmd,  // DATA to write
  Wait354,  // DATA written, waiting for 354
  Body,     // writing dot-stuffed blocks
  LoneDot,  // 354 with no accepted recipient: write ".\r\n" and discard
  Bdat,     // writing BDAT chunks
  Done,     // nothing more to write for this transaction
};

enum class RcptState : std::uint8_t { Open, Accepted, Final };

// One MAIL transaction over recipients [first, first + count) of a message.
struct Txn {
  std::uint64_t id = 0;
  MsgState* msg = nullptr;
  std::uint32_t first = 0;
  std::uint32_t count = 0;
  std::vector<RcptState> rcpt;
  TxnStage stage = TxnStage::Mail;
  std::uint32_t rcptSent = 0;
  std::uint32_t accepted = 0;
  std::uint32_t pendingCmds = 0;  // written commands of this transaction awaiting replies
  std::uint64_t lastCmdSeq = 0;   // wire sequence number of its last written command
  bool ended = false;             // outcome decided; later replies of this transaction are read and ignored
  bool succeeded = false;         // a 2xx to end of data / BDAT LAST
  bool poisoned = false;          // written behind a failed transaction before its RSET: failures are temporary
  bool stopRcpts = false;         // 452 / 552 "too many recipients" without PIPELINING: send no more RCPT
  bool loneDot = false;           // the "." was sent only to close an empty DATA
  bool finalHandedOut = false;    // the write with the end of data was taken by the caller
  Reply stopReply;                // the reply that made stopRcpts
  // body cursor
  std::unique_ptr<BodySource::Reader> reader;  // set when the message's body comes from a BodySource
  std::size_t span = 0;
  std::size_t off = 0;
  std::uint64_t remaining = 0;
  DotStuffer stuffer;
};

}  // namespace sluice::smtp
