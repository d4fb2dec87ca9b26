// server_session.hpp: the SMTP server session state machine (RFC 5321, with PIPELINING RFC 2920, CHUNKING and
// BINARYMIME RFC 3030, SIZE RFC 1870, 8BITMIME RFC 6152, SMTPUTF8 RFC 6531, DSN RFC 3461, STARTTLS RFC 3207,
// AUTH PLAIN/LOGIN RFC 4954, ETRN RFC 1985, ENHANCEDSTATUSCODES RFC 2034). Used by the intake listener and by the
// benchmark sink.
//
// No I/O: the caller feeds received bytes, then writes output() in one write and clears it. Replies to a pipelined
// batch therefore leave together (RFC 2920 §3.2). The owner (a ServerHandler) is called once per event, never per
// byte: body octets arrive as spans of the fed buffer (DATA already dot-unstuffed, BDAT raw).
// An owner decision may be deferred (Verdict::pending()); the session then buffers further input unprocessed until
// resolve() is called, e.g. the intake listener answers end-of-data only after the queue's group commit.
//
// Ownership: the session keeps references to its ServerConfig and ServerHandler, which must outlive it. One
// session per connection, used by one thread. Errors are values (replies); nothing throws on the data path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/smtp/command.hpp"
#include "engine/smtp/server_command.hpp"

namespace sluice::smtp {

// What to do with a bare CR or bare LF inside DATA (RFC 5321 §2.3.8).
enum class BareLineEndingPolicy : std::uint8_t {
  Normalise,  // turn each into CRLF before the owner sees it (default)
  Reject,     // deliver as received, answer 550 5.5.2 at end of data
};

// What to do with a DATA text line longer than ServerLimits::maxTextLine (RFC 5321 §4.5.3.1.6).
enum class LongLinePolicy : std::uint8_t {
  Reject,  // answer 550 5.6.0 at end of data (default)
  Accept,  // deliver unchanged (e.g. the benchmark sink)
};

// Named limits for untrusted input, with their defaults.
struct ServerLimits {
  std::size_t maxCommandLine = 512;          // octets incl. CRLF (RFC 5321 §4.5.3.1.4); longer: 500 5.5.2
  std::size_t maxTextLine = 1000;            // octets incl. CRLF in DATA, stuffing dot not counted (§4.5.3.1.6)
  std::size_t maxAuthLine = 12288;           // AUTH command and responses (RFC 4954 §4)
  std::size_t maxRecipients = 100;           // per transaction; more: 452 4.5.3 (§4.5.3.1.8)
  std::uint64_t maxMessageSize = 52428800;   // octets as delivered (after unstuffing); 0 = none; 552 5.3.4
  unsigned maxErrors = 10;                   // client errors before 421 and close
  std::size_t maxPendingInput = 256 * 1024;  // input kept while an owner decision is pending (see wantsInput())
  std::uint32_t idleTimeoutMs = 300000;      // server timeout (§4.5.3.2.7), armed by the caller
  PathLimits paths;                          // local-part 64, domain 255, path 256 (§4.5.3.1.1-3)
};

// Static configuration, shared by all sessions of a listener.
struct ServerConfig {
  std::string hostname = "localhost";
  // Extensions to advertise after EHLO.
  bool pipelining = true;
  bool chunking = true;
  bool eightBitMime = true;
  bool binaryMime = false;
  bool smtpUtf8 = false;
  bool size = true;  // "SIZE n" with n = limits.maxMessageSize (0: no fixed limit)
  bool dsn = false;
  bool startTls = false;
  bool enhancedStatusCodes = true;
  bool etrn = false;
  bool help = true;
  std::vector<std::string> authMechanisms;  // "PLAIN" and/or "LOGIN"; empty: no AUTH
  bool authWithoutTls = false;              // offer and accept AUTH before TLS (only for trusted networks)
  bool refuseEhlo = false;                  // answer EHLO with 500 so clients fall back to HELO
  BareLineEndingPolicy bareLineEndings = BareLineEndingPolicy::Normalise;
  LongLinePolicy longLines = LongLinePolicy::Reject;
  ServerLimits limits;
};

// An owner's decision. code 0 means "the session's default reply for this event". status is an enhanced code
// ("2.1.0"), shown only when ENHANCEDSTATUSCODES was negotiated. The views need to live only during the call.
struct Verdict {
  enum class Kind : std::uint8_t { Accept, Reject, Pending };
  Kind kind = Kind::Accept;
  int code = 0;
  std::string_view status;
  std::string_view text;

  // Accepts, with the default reply or the given one.
  static constexpr Verdict accept(int code = 0, std::string_view status = {}, std::string_view text = {}) {
    return Verdict{Kind::Accept, code, status, text};
  }
  // Rejects with the given reply (4xx or 5xx).
  static constexpr Verdict reject(int code, std::string_view status, std::string_view text) {
    return Verdict{Kind::Reject, code, status, text};
  }
  // Defers: the owner calls ServerSession::resolve() later.
  static constexpr Verdict pending() { return Verdict{Kind::Pending, 0, {}, {}}; }
};

// Facts about a complete message, given at end of data.
struct MessageInfo {
  std::uint64_t octets = 0;      // octets delivered through onBody()
  bool chunked = false;          // BDAT (raw) rather than DATA (unstuffed)
  bool normalisedLines = false;  // a bare CR or LF was turned into CRLF
};

// A decoded AUTH PLAIN or LOGIN exchange (RFC 4954, RFC 4616).
struct AuthRequest {
  std::string_view mechanism;  // "PLAIN" or "LOGIN"
  std::string_view authzid;    // empty unless given (PLAIN)
  std::string_view authcid;
  std::string_view password;
};

// The owner's side of a session. Every hook is called once per event.
class ServerHandler {
 public:
  virtual ~ServerHandler() = default;
  // EHLO (extended) or HELO was received; a reject keeps the client un-greeted.
  virtual Verdict onHelo(std::string_view domain, bool extended) { return Verdict::accept(); }
  // MAIL FROM with a syntactically valid path and parameters; authParam is the decoded AUTH= value (empty: "<>").
  virtual Verdict onMail(std::string_view reversePath, const MailParams& params, std::string_view authParam) {
    return Verdict::accept();
  }
  // RCPT TO with a valid path and parameters; called only under the recipient limit.
  virtual Verdict onRcpt(std::string_view forwardPath, const RcptParams& params) { return Verdict::accept(); }
  // A span of message content, in order. Spans point into the fed bytes and are valid only during the call.
  virtual void onBody(std::string_view bytes) = 0;
  // The whole message arrived and passed the session's checks; the owner decides the final reply.
  virtual Verdict onMessageEnd(const MessageInfo& info) = 0;
  // A transaction accepted at MAIL was abandoned (RSET, EHLO, size exceeded, failed checks, close): drop its data.
  virtual void onTransactionAbort() {}
  // ETRN node ("@domain", "#queue" or "domain"): reply 250/251/252/253 (accept) or 458/459 (reject).
  virtual Verdict onEtrn(std::string_view node) { return Verdict::reject(458, "4.3.0", "Unable to queue messages"); }
  // STARTTLS: true if the owner will run the handshake after writing the 220; false answers 454.
  virtual bool onStartTls() { return false; }
  // Credentials to check; accept answers 235 2.7.0, reject defaults to 535 5.7.8.
  virtual Verdict onAuth(const AuthRequest& request) {
    return Verdict::reject(535, "5.7.8", "Authentication credentials invalid");
  }
};

class ServerSession {
 public:
  // Counters for logs, benchmarks and invariants.
  struct Stats {
    std::uint64_t lines = 0;       // command and AUTH response lines taken from the input (over-long ones too)
    std::uint64_t replies = 0;     // complete replies written (the greeting included)
    std::uint64_t messages = 0;    // messages handed to onMessageEnd()
    std::uint64_t dataEnds = 0;    // DATA bodies ended (each adds a reply after the 354)
    std::uint64_t chunksOpen = 0;  // 1 while a BDAT chunk is being read (its reply comes at the chunk's end)
    std::uint64_t errors = 0;      // client errors counted towards limits.maxErrors
  };

  ServerSession(const ServerConfig& config, ServerHandler& handler);
  ServerSession(const ServerConfig&& config, ServerHandler& handler) = delete;  // the config must outlive the session

  void greet();                        // writes the 220 greeting (RFC 5321 §3.1)
  void refuse(std::string_view text);  // writes a 554 greeting; then only QUIT is accepted (503 to the rest)
  void setTlsActive();                 // the connection is already TLS (implicit TLS, RFC 8314); call before greet()

  // Consumes received bytes (any segmentation). Processing stops while an owner decision is pending; the rest is
  // buffered. Ignored after close.
  void feed(std::string_view bytes);
  // Completes the pending owner decision, writes its reply and processes buffered input.
  void resolve(const Verdict& verdict);
  // The TLS handshake that followed a 220 to STARTTLS finished: back to the pre-EHLO state (RFC 3207 §4.2).
  void tlsStarted();
  // The timer armed with timeoutMs() fired: 421 4.4.2 and close.
  void onTimeout();

  const std::string& output() const { return out_; }  // bytes to write, replies in order
  void clearOutput() { out_.clear(); }                // after the caller wrote output()
  bool closeRequested() const { return closed_; }     // write output(), then close the connection
  bool awaitingOwner() const { return pending_ != Pending::None; }
  bool awaitingTls() const { return mode_ == Mode::AwaitTls; }  // write the 220, then start the handshake
  // False when the caller should stop reading: an owner decision is pending and maxPendingInput bytes are buffered,
  // or STARTTLS is waiting for the handshake, or the session closed.
  bool wantsInput() const;
  std::uint32_t timeoutMs() const;          // idle timeout to arm now; 0 = none (waiting for the owner)
  std::size_t buffered() const { return in_.size(); }
  bool tlsActive() const { return tls_; }
  bool authenticated() const { return authenticated_; }
  const std::string& authIdentity() const { return authUser_; }
  const std::string& heloName() const { return heloName_; }
  const Stats& stats() const { return stats_; }

 private:
  // The 552 5.3.4 text, at MAIL (declared SIZE=), at end of DATA and for a BDAT chunk (RFC 1870 §6).
  static constexpr const char* kSizeExceeded = "Message size exceeds fixed maximum message size";

  enum class Mode : std::uint8_t { Command, AuthResponse, SkipLine, Data, Chunk, AwaitTls, Closed };
  enum class Pending : std::uint8_t { None, Helo, Mail, Rcpt, MessageEnd, Etrn, Auth };
  enum class AuthStep : std::uint8_t { None, PlainResponse, LoginUser, LoginPassword };
  enum class DataState : std::uint8_t { LineStart, Text, Cr, Dot, DotCr };

  std::size_t process(const char* p, std::size_t n);
  std::size_t takeLine(const char* p, std::size_t n);
  std::size_t lineLimit() const;
  std::size_t scanData(const char* p, std::size_t n);
  std::size_t readChunk(const char* p, std::size_t n);
  void dispatch(std::string_view line);
  void cmdHelo(std::string_view args, bool extended);
  void cmdMail(std::string_view args);
  void cmdRcpt(std::string_view args);
  void cmdData(std::string_view args);
  void cmdBdat(std::string_view args);
  void cmdEtrn(std::string_view args);
  void cmdStartTls(std::string_view args);
  void cmdAuth(std::string_view args);
  void rejectParams(ParamError e);
  void askAuthResponse(AuthStep step, std::string_view challenge);
  void authResponse(std::string_view line);
  void authPlain(std::string_view base64);
  void authCheck(std::string_view mech, std::string_view authzid, std::string_view user, std::string_view pass);
  void endOfData();
  void endOfChunk();
  void messageEnd();
  void decide(Pending kind, const Verdict& v);
  void applyDecision(Pending kind, const Verdict& v);
  void writeEhloReply();
  void reply(int code, std::string_view status, std::string_view text);
  void error(int code, std::string_view status, std::string_view text);
  bool tooManyErrors();
  void deliver(const char* p, std::size_t n);
  void resetTransaction(bool notifyOwner);
  void close();
  Offered offered() const;
  bool escActive() const { return esmtp_ && config_.enhancedStatusCodes; }

  const ServerConfig& config_;
  ServerHandler& handler_;
  std::string out_;
  std::string in_;  // unprocessed input: a partial line, or everything fed while a decision is pending

  Mode mode_ = Mode::Command;
  Pending pending_ = Pending::None;
  bool closed_ = false;
  bool refused_ = false;
  bool tls_ = false;
  bool greeted_ = false;  // HELO or EHLO accepted
  bool esmtp_ = false;    // ... and it was EHLO
  bool pendingExtended_ = false;
  bool authenticated_ = false;
  AuthStep authStep_ = AuthStep::None;
  std::string heloName_;
  std::string authUser_;
  std::string scratch_;  // decoded base64 / xtext

  // Transaction state.
  bool mailActive_ = false;
  bool rcptTried_ = false;  // a RCPT command came in this transaction (accepted or not)
  bool bdatSeen_ = false;
  bool txUtf8_ = false;
  BodyType txBody_ = BodyType::Unspecified;
  std::size_t rcpts_ = 0;
  std::uint64_t txOctets_ = 0;
  bool tooBig_ = false;
  bool bareEnding_ = false;
  bool longLine_ = false;

  // DATA scanner.
  DataState dataState_ = DataState::LineStart;
  std::size_t lineLen_ = 0;

  // BDAT chunk in flight.
  std::uint64_t chunkLeft_ = 0;
  std::uint64_t chunkSize_ = 0;
  bool chunkLast_ = false;
  bool chunkDiscard_ = false;
  int chunkCode_ = 0;  // reply for a discarded chunk
  const char* chunkStatus_ = "";
  const char* chunkText_ = "";
  bool chunkIsError_ = false;

  Stats stats_;
};

}  // namespace sluice::smtp
