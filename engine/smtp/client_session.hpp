// client_session.hpp: the SMTP client session state machine (RFC 5321, RFC 2920 PIPELINING, RFC 3030 CHUNKING,
// RFC 3207 STARTTLS hook) with no I/O. The delivery engine drives one ClientSession per connection.
//
// Ownership: the session owns its framing buffers (command lines, dot-stuffed DATA blocks) and keeps each alive
// until the caller acknowledges the write that references it (onWritten). Message bodies belong to the CALLER:
// OutboundMessage::body is a list of spans (later: slices of a read-only spool mapping) that must stay valid until
// the MessageDone event for that message. BDAT bodies are never copied; write requests point into them.
//
// Threading: single-threaded; every call runs on the connection's loop thread. No clock, no sockets, no DNS.
//
// Driving it (the contract with the I/O layer):
//   1. submit() messages at any time; call onConnected() once the TCP connection is up.
//   2. After EVERY call into the session, drain its outputs:
//        - while (auto w = s.takeWrite()) write w->slices to the socket, in order; call s.onWritten() once for
//          each taken write when it completes (writes complete in FIFO order on a stream);
//        - while (auto e = s.nextEvent()) handle the event (results, MessageDone, StartTlsNow, ...);
//        - if s.deadline().generation changed since you last looked, re-arm (or stop) your timer with
//          deadline().after; when it fires call onTimeout().
//   3. Feed received bytes with onBytes() (any segmentation), onPeerClosed() on EOF or read error.
//   4. On StartTlsNow: stop feeding plaintext, run the TLS handshake, then onTlsEstablished() (or onTlsFailed()).
//   5. On Closed: flush the writes already taken (graceful) or drop them (abort), then close the socket.
// Errors are values: peer misbehaviour becomes events (ConnectionUnusable, per-recipient results), never exceptions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/smtp/capabilities.hpp"
#include "engine/smtp/command.hpp"
#include "engine/smtp/reply.hpp"

namespace sluice::smtp {

using MessageHandle = std::uint64_t;
using Millis = std::chrono::milliseconds;

// Per-command timeouts (RFC 5321 §4.5.3.2). The session has no clock: it tells the caller which duration to arm.
struct ClientTimeouts {
  Millis greeting{std::chrono::seconds(300)};
  Millis ehlo{std::chrono::seconds(300)};  // EHLO and HELO
  Millis startTls{std::chrono::seconds(120)};
  Millis tlsHandshake{std::chrono::seconds(120)};
  Millis mail{std::chrono::seconds(300)};
  Millis rcpt{std::chrono::seconds(300)};
  Millis dataInit{std::chrono::seconds(120)};   // DATA -> 354
  Millis dataBlock{std::chrono::seconds(180)};  // each body block written (DATA block or BDAT chunk)
  Millis dataEnd{std::chrono::seconds(600)};    // final "." or BDAT (also non-LAST BDAT replies)
  Millis rset{std::chrono::seconds(30)};
  Millis quit{std::chrono::seconds(30)};
};

enum class TlsPolicy { Never, Opportunistic, Require };

struct ClientConfig {
  std::string heloName = "localhost";             // our FQDN (the PTR name) or an address literal (RFC 5321 §4.1.4)
  TlsPolicy tls = TlsPolicy::Opportunistic;       // STARTTLS when advertised; Require: defer on a peer without it
  bool heloFallbackOnOther5xx = false;            // also fall back to HELO on EHLO 501/504/550 (always on 500/502)
  bool usePipelining = true;                      // use PIPELINING when advertised
  bool useChunking = true;                        // use BDAT when CHUNKING is advertised
  std::size_t maxRecipientsPerTransaction = 100;  // bigger recipient lists are split into several transactions
  std::size_t maxInFlightTransactions = 32;       // deep-pipelining window (transactions awaiting replies)
  std::size_t bdatChunkSize = 1 << 20;            // octets per BDAT chunk (>= 1)
  std::size_t maxUnackedBdatBytes = 4 << 20;      // BDAT body octets handed out but not yet acknowledged
  std::size_t dataBlockSize = 64 << 10;           // dot-stuffed output per DATA write request
  std::size_t maxDataBlocksInFlight = 2;          // DATA blocks handed out but not yet acknowledged
  ReplyLimits replyLimits;
  ClientTimeouts timeouts;
};

struct OutboundRecipient {
  std::string address;  // bare forward-path, "user@example.org"
  RcptParams params;
};

// A body produced on demand rather than read from caller memory: a converted variant of a stored message
// (7-bit MIME for a peer without 8BITMIME). Its octets are copied into the session's write buffers chunk by chunk
// (one DATA block or one BDAT chunk at a time), so the whole body never exists at once.
class BodySource {
 public:
  class Reader {
   public:
    virtual ~Reader() = default;
    // Writes up to max octets to out and returns how many; 0 only at the end (or when max is 0).
    virtual std::size_t read(char* out, std::size_t max) = 0;
  };
  virtual ~BodySource() = default;
  // Exact octet count every reader produces (what SIZE declares and BDAT counts).
  virtual std::uint64_t size() const = 0;
  // A reader from the start; each transaction over the message reads the body once.
  virtual std::unique_ptr<Reader> open() const = 0;
};

// One message to deliver. The body spans are caller memory; they must stay valid until MessageDone for `handle`.
// The body must already be CRLF-clean (intake normalises it): BDAT sends it verbatim; DATA dot-stuffs it and
// also repairs bare CR / LF. An empty body is legal (BDAT 0 LAST, or DATA with only the terminator).
struct OutboundMessage {
  MessageHandle handle = 0;
  std::string reversePath;  // bare address, "" for the null reverse-path
  MailParams params;        // parameters the peer did not advertise are dropped when written
  std::vector<OutboundRecipient> recipients;
  std::vector<std::string_view> body;
  std::shared_ptr<const BodySource> source;  // when set, the body comes from here and `body` is ignored
};

enum class Outcome { Delivered, PermanentFailure, TemporaryFailure };

// The final outcome for one recipient of one message. Exactly one per recipient per submitted message.
struct RecipientResult {
  MessageHandle message = 0;
  std::uint32_t recipient = 0;  // index into OutboundMessage::recipients
  Outcome outcome = Outcome::TemporaryFailure;
  Reply reply;                     // the peer's reply, or a synthesized one (see `synthesized`)
  bool synthesized = false;        // reply made up locally (451 for a lost connection, timeout, not attempted)
  bool possibleDuplicate = false;  // end of data was handed to the transport but its reply never came (§6.1)
  bool attempted = true;           // false: the recipient was never sent to this peer (connection ended first)
};
// All recipients of the message have results; its body spans are no longer referenced.
struct MessageDone {
  MessageHandle message = 0;
};
// The peer accepted STARTTLS: start the TLS handshake, then call onTlsEstablished().
struct StartTlsNow {};
// This connection (or this host) cannot be used for mail; `hostRefused` means the host itself declined service
// (554 greeting): try the next MX, count it against the host, not the message.
struct ConnectionUnusable {
  std::string reason;
  Reply reply;  // code 0 when no reply caused it
  bool hostRefused = false;
};
// The session is finished. graceful: flush the writes already taken, then close; otherwise close at once.
struct Closed {
  bool graceful = true;
};
using ClientEvent = std::variant<RecipientResult, MessageDone, StartTlsNow, ConnectionUnusable, Closed>;

// A buffer reference with the layout of struct iovec / uv_buf_t on Linux.
struct IoSlice {
  const char* data = nullptr;
  std::size_t size = 0;
};
// One write request: send the slices in order. Valid until onWritten() acknowledges it.
struct WriteRequest {
  std::span<const IoSlice> slices;
  std::size_t bytes = 0;
};
// The current deadline: arm a timer for `after` whenever `generation` changes; `armed` false means stop it.
struct Deadline {
  bool armed = false;
  Millis after{0};
  std::uint64_t generation = 0;
};

// Counters the connection pool reads (e.g. to retire a connection after N messages).
struct ClientStats {
  std::uint64_t transactions = 0;       // transactions started (MAIL written)
  std::uint64_t messagesSent = 0;       // messages with at least one recipient delivered
  std::uint64_t messagesCompleted = 0;  // MessageDone events emitted
  std::uint64_t recipientsDelivered = 0;
  std::uint64_t recipientsPermanent = 0;
  std::uint64_t recipientsTemporary = 0;
  std::uint64_t bodyOctets = 0;  // body octets handed out (after dot-stuffing on the DATA path)
};

// Connection states. They only move forward (see transition()); Ready is where transactions run.
enum class ClientState : std::uint8_t {
  Initial,       // not connected yet
  Greeting,      // waiting for the (possibly multi-line) 220
  Ehlo,          // EHLO sent
  Helo,          // HELO fallback sent
  StartTls,      // STARTTLS sent
  TlsHandshake,  // the caller runs the handshake; any byte received now is an attack
  TlsEhlo,       // EHLO sent again over TLS
  Ready,         // transactions (MAIL / RCPT / DATA / BDAT / RSET)
  Quitting,      // QUIT sent, waiting for 221 or close
  Closed,        // terminal
};
// The log label of a state ("greeting", "ehlo", ...).
std::string_view stateLabel(ClientState s);

struct Txn;       // one MAIL transaction (client_transaction.hpp)
struct MsgState;  // one submitted message, possibly split into several transactions (client_transaction.hpp)

// Commands that wait for a reply while the session is Ready, in wire order.
enum class CmdKind : std::uint8_t { Mail, Rcpt, Data, DataEnd, Bdat, BdatLast, Rset };

class ClientSession {
 public:
  explicit ClientSession(ClientConfig config = {});
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // ---- inputs
  void onConnected();                      // TCP is up: wait for the greeting (never talk first)
  void onBytes(std::string_view bytes);    // bytes from the peer (plaintext, or decrypted after TLS)
  void onTimeout();                        // the timer armed from deadline() fired
  void onWritten();                        // the oldest taken write completed
  void onTlsEstablished();                 // handshake done after StartTlsNow: EHLO again
  void onTlsFailed(std::string_view why);  // handshake failed: the connection is dropped
  void onPeerClosed();                     // EOF or read error
  void submit(OutboundMessage message);    // queue a message (sent once the session is Ready)
  void quit();                             // QUIT once every submitted message is finished
  // Takes back the submitted messages no transaction has started on (nothing of them was written): no event
  // will come for them and their body spans are no longer referenced. For a pool that is stopping.
  std::vector<MessageHandle> withdrawUnstarted();

  // ---- outputs
  // The oldest write not yet handed out; its slices stay valid until onWritten() acknowledges it.
  std::optional<WriteRequest> takeWrite();
  // The oldest event not yet handed out.
  std::optional<ClientEvent> nextEvent();
  // The timer the caller should have armed now (see Deadline).
  Deadline deadline() const { return deadline_; }

  // ---- inspection
  // The connection state.
  ClientState state() const { return state_; }
  // What the peer advertised in its last EHLO (empty, esmtp=false, after HELO).
  const Capabilities& capabilities() const { return caps_; }
  // Counters for the pool.
  const ClientStats& stats() const { return stats_; }
  // True once onTlsEstablished() was called.
  bool tlsActive() const { return tlsActive_; }
  // PIPELINING / BDAT are used on this connection: advertised by the peer and allowed by the configuration.
  bool pipeliningInUse() const;
  bool chunkingInUse() const;
  // Ready with nothing queued or in flight: the pool may park the connection or submit more.
  bool idle() const;
  // Messages submitted whose recipients are not all in a started transaction yet.
  std::size_t queuedMessages() const { return queued_.size(); }

 private:
  // One write request being built or handed out. Framing bytes live in `framing` (stable once taken: the
  // element never moves inside the deque); body bytes are referenced where the caller keeps them.
  struct WriteBuf {
    struct Seg {
      const char* ext = nullptr;  // caller memory, or nullptr for framing[off, off + len)
      std::size_t off = 0;
      std::size_t len = 0;
    };
    std::string framing;
    std::vector<Seg> segs;
    std::vector<IoSlice> slices;        // resolved when taken
    std::vector<std::uint64_t> finals;  // transactions whose end of data is in this write
    std::vector<MsgState*> refs;        // messages whose body this write references
    std::size_t bytes = 0;
    std::size_t bdatBytes = 0;
    std::size_t dataBlocks = 0;
  };
  // A written command awaiting its reply.
  struct Pending {
    CmdKind kind;
    Txn* txn;            // nullptr for RSET
    std::uint32_t rcpt;  // recipient index within the transaction (RCPT only)
  };

  // connection level (client_session.cpp)
  void transition(ClientState next);
  void handleReply(const Reply& r);
  void onGreeting(const Reply& r);
  void onEhloReply(const Reply& r, bool afterTls);
  void onHeloReply(const Reply& r);
  void onStartTlsReply(const Reply& r);
  void enterReady();
  void sendQuit();
  void fail(std::string_view reason, const Reply* reply, bool hostRefused, bool sendQuitFirst, bool lost);
  void closeNow(bool graceful);
  Millis timeoutFor(CmdKind k) const;
  void emit(ClientEvent e);

  // write buffers (client_session.cpp)
  WriteBuf& openWrite();
  void writeFraming(std::string_view bytes);
  void writeExternal(std::string_view bytes);
  void pushPending(CmdKind kind, Txn* txn, std::uint32_t rcpt);
  void retireWrite(bool newest);
  std::string& line();
  void finishCall();

  // transactions (client_transaction.cpp)
  void pump();
  bool advance(Txn& t);
  void startTxn();
  void onTxnReply(const Pending& p, const Reply& r);
  void writeDataBlock(Txn& t);
  void writeBdatChunk(Txn& t);
  bool readSource(Txn& t, std::size_t want, std::size_t& got);
  void report(MsgState& m, std::uint32_t index, Outcome o, const Reply& r, bool synthesized, bool dup,
              bool attempted);
  void reportUnsent(MsgState& m, Outcome o, const Reply& r);
  void finishRecipient(Txn& t, std::uint32_t local, Outcome o, const Reply& r, bool synthesized, bool dup,
                       bool attempted);
  void finishOpenRecipients(Txn& t, const Reply& r, bool synthesized, bool dup);
  void classifyAccepted(Txn& t, const Reply& r, bool final);
  void maybeCompleteTxn(Txn& t);
  void completeTxn(Txn& t);
  void maybeFinishMessage(MsgState& m);
  void abandonEverything(const Reply& r, bool synthesized, bool lost);
  void writeRset();
  bool needsCleanStart() const;
  bool refuseUnsendable();

  ClientConfig config_;
  ClientState state_ = ClientState::Initial;
  ReplyParser parser_;
  Capabilities caps_;
  bool tlsActive_ = false;
  bool quitRequested_ = false;
  bool rsetWanted_ = false;        // a failed transaction needs an RSET at the next command boundary
  bool progress_ = false;          // something happened that restarts the deadline
  std::uint64_t wireSeq_ = 0;      // commands written so far
  std::uint64_t lastRsetSeq_ = 0;  // wireSeq_ of the last RSET written
  std::uint64_t nextTxnId_ = 1;

  std::deque<std::unique_ptr<MsgState>> queued_;    // submitted, not all recipients in a transaction yet
  std::vector<std::unique_ptr<MsgState>> started_;  // some transaction started; awaiting results
  std::deque<std::unique_ptr<Txn>> active_;         // started transactions, oldest first
  Txn* sending_ = nullptr;                          // the transaction whose commands are still being written
  std::deque<Pending> pending_;                     // written commands awaiting replies, in wire order

  std::deque<WriteBuf> writes_;  // [0, taken_) taken and unacknowledged, then not yet taken
  std::size_t taken_ = 0;
  std::size_t unackedBdat_ = 0;
  std::size_t unackedDataBlocks_ = 0;

  std::string line_;  // scratch for one command line before it is copied into the open write
  std::string chunk_;  // scratch for octets read from a BodySource (at most kSourceChunk, or a DATA half-block)
  static constexpr std::size_t kSourceChunk = 64 << 10;  // BDAT chunk size for a produced body
  std::deque<ClientEvent> events_;
  Deadline deadline_;
  ClientStats stats_;
};

}  // namespace sluice::smtp
