// server_session.cpp: the SMTP server state machine: input framing (command lines, DATA, BDAT chunks), command
// sequencing, owner decisions and reply formatting. Parsing of arguments lives in server_command.cpp.
#include "engine/smtp/server_session.hpp"

#include <algorithm>
#include <cstring>

#include "engine/smtp/ascii.hpp"

namespace sluice::smtp {
namespace {

// True when the reply code belongs to the class a verdict kind needs (2xx for accept, 4xx/5xx for reject).
bool codeFits(int code, bool accept) {
  return accept ? (code >= 200 && code < 300) : (code >= 400 && code < 600);
}

// The owner's enhanced status code when it is well formed (class.subject.detail, 1-3 digits each) and its class
// matches the reply code; otherwise X.0.0 for the code's class (RFC 3463 §2: never trust a mismatch).
std::string_view checkedStatus(int code, std::string_view status) {
  static constexpr std::string_view kGeneric[] = {"2.0.0", "4.0.0", "5.0.0"};
  const int cls = code / 100;
  if (status.empty() || (cls != 2 && cls != 4 && cls != 5)) return {};
  EnhancedCode parsed;
  std::size_t used = 0;
  if (parseEnhancedCode(status, parsed, used) && used == status.size() && parsed.cls == cls) return status;
  return kGeneric[cls == 2 ? 0 : cls == 4 ? 1 : 2];
}

}  // namespace

// Binds the session to its shared configuration and owner.
ServerSession::ServerSession(const ServerConfig& config, ServerHandler& handler)
    : config_(config), handler_(handler) {
  out_.reserve(1024);
}

// Writes the 220 greeting.
void ServerSession::greet() {
  std::string text = config_.hostname;
  text += " ESMTP ready";
  reply(220, {}, text);
}

// Writes a 554 greeting; from now on only QUIT is accepted.
void ServerSession::refuse(std::string_view text) {
  refused_ = true;
  reply(554, {}, text);
}

// Marks the connection as already encrypted (implicit TLS).
void ServerSession::setTlsActive() { tls_ = true; }

// Whether the caller should keep reading from the peer.
bool ServerSession::wantsInput() const {
  return !closed_ && mode_ != Mode::AwaitTls && in_.size() < config_.limits.maxPendingInput;
}

// The idle timeout the caller arms now (0: none).
std::uint32_t ServerSession::timeoutMs() const {
  if (closed_ || pending_ != Pending::None) return 0;
  return config_.limits.idleTimeoutMs;
}

// Consumes received bytes, processing in place and keeping only an incomplete line (or all, while pending).
void ServerSession::feed(std::string_view bytes) {
  if (closed_ || bytes.empty() || mode_ == Mode::AwaitTls) return;  // plaintext after STARTTLS is discarded
  const std::size_t hardCap = 2 * config_.limits.maxPendingInput + config_.limits.maxAuthLine;
  if (pending_ != Pending::None) {
    if (in_.size() + bytes.size() > hardCap) {  // the caller ignored wantsInput()
      reply(421, "4.7.0", "Too much pipelined input");
      close();
      return;
    }
    in_.append(bytes);
    return;
  }
  if (!in_.empty()) {
    // Complete the buffered partial line (only that, so the rest can be processed without a copy).
    std::size_t take = bytes.size();
    if (mode_ == Mode::Command || mode_ == Mode::AuthResponse) {
      const void* lf = std::memchr(bytes.data(), '\n', bytes.size());
      if (lf) {
        take = static_cast<std::size_t>(static_cast<const char*>(lf) - bytes.data()) + 1;
      } else if (in_.size() + bytes.size() < lineLimit()) {
        in_.append(bytes);  // still a partial line: no rescan (keeps byte-at-a-time input linear)
        return;
      }
    }
    in_.append(bytes.data(), take);
    bytes.remove_prefix(take);
    std::size_t used = process(in_.data(), in_.size());
    if (closed_ || mode_ == Mode::AwaitTls) {
      in_.clear();
      return;
    }
    in_.erase(0, used);
    if (!in_.empty()) {
      in_.append(bytes);
      return;
    }
  }
  std::size_t used = process(bytes.data(), bytes.size());
  if (closed_ || mode_ == Mode::AwaitTls) return;
  if (used < bytes.size()) in_.append(bytes.substr(used));
}

// Applies a deferred owner decision, then processes the input buffered meanwhile.
void ServerSession::resolve(const Verdict& verdict) {
  if (pending_ == Pending::None || closed_ || verdict.kind == Verdict::Kind::Pending) return;
  Pending kind = pending_;
  pending_ = Pending::None;
  applyDecision(kind, verdict);
  if (in_.empty()) return;
  std::size_t used = process(in_.data(), in_.size());
  if (closed_ || mode_ == Mode::AwaitTls) {
    in_.clear();
    return;
  }
  in_.erase(0, used);
}

// Returns to the pre-EHLO state once the TLS handshake is done (RFC 3207 §4.2).
void ServerSession::tlsStarted() {
  if (mode_ != Mode::AwaitTls) return;
  tls_ = true;
  mode_ = Mode::Command;
  greeted_ = false;
  esmtp_ = false;
  heloName_.clear();
  authenticated_ = false;
  authUser_.clear();
  resetTransaction(false);
  in_.clear();
}

// Answers 421 4.4.2 and closes when the idle timer fires.
void ServerSession::onTimeout() {
  if (closed_) return;
  std::string text = config_.hostname;
  text += " Error: timeout exceeded";
  reply(421, "4.4.2", text);
  close();
}

// Runs the input state machine over p[0..n); returns how many bytes were consumed.
std::size_t ServerSession::process(const char* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n && pending_ == Pending::None) {
    switch (mode_) {
      case Mode::Command:
      case Mode::AuthResponse: {
        std::size_t used = takeLine(p + i, n - i);
        if (used == 0) return i;
        i += used;
        break;
      }
      case Mode::SkipLine: {
        const void* lf = std::memchr(p + i, '\n', n - i);
        if (!lf) return n;
        i = static_cast<std::size_t>(static_cast<const char*>(lf) - p) + 1;
        mode_ = Mode::Command;
        break;
      }
      case Mode::Data:
        i += scanData(p + i, n - i);
        break;
      case Mode::Chunk:
        i += readChunk(p + i, n - i);
        break;
      case Mode::AwaitTls:
      case Mode::Closed:
        return n;
    }
  }
  return i;
}

// Takes one complete line (command or AUTH response) and executes it; 0 when the line is not complete yet.
std::size_t ServerSession::takeLine(const char* p, std::size_t n) {
  const std::size_t limit = lineLimit();
  const void* lf = std::memchr(p, '\n', n);
  if (!lf) {
    if (n < limit) return 0;
    // Already too long: answer once now, then discard up to the end of the line (RFC 5321 §4.5.3.1.4).
    ++stats_.lines;
    authStep_ = AuthStep::None;
    mode_ = Mode::Command;
    error(500, "5.5.2", "Line too long");
    if (!closed_) mode_ = Mode::SkipLine;
    return n;
  }
  std::size_t len = static_cast<std::size_t>(static_cast<const char*>(lf) - p) + 1;
  std::size_t content = len - 1;
  if (content > 0 && p[content - 1] == '\r') --content;
  ++stats_.lines;
  if (content + 2 > limit) {
    authStep_ = AuthStep::None;
    mode_ = Mode::Command;
    error(500, "5.5.2", "Line too long");
    return len;
  }
  std::string_view line(p, content);
  if (std::memchr(p, '\0', content) || std::memchr(p, '\r', content)) {
    authStep_ = AuthStep::None;
    mode_ = Mode::Command;
    error(500, "5.5.2", "Invalid character in command");
    return len;
  }
  if (mode_ == Mode::AuthResponse) {
    authResponse(line);
  } else {
    dispatch(line);
  }
  return len;
}

// The longest line the current mode accepts, CRLF included.
std::size_t ServerSession::lineLimit() const {
  return mode_ == Mode::AuthResponse ? config_.limits.maxAuthLine : config_.limits.maxCommandLine;
}

// Scans DATA content: ends only at CRLF.CRLF (RFC 5321 §4.1.1.4), removes stuffing dots (§4.5.2), applies the
// bare CR/LF and line-length policies, and delivers the content as spans of p. Returns bytes consumed.
std::size_t ServerSession::scanData(const char* p, std::size_t n) {
  const std::size_t maxLine = config_.limits.maxTextLine >= 2 ? config_.limits.maxTextLine - 2 : 0;
  const bool normalise = config_.bareLineEndings == BareLineEndingPolicy::Normalise;
  std::size_t span = 0;  // first byte not yet delivered
  std::size_t i = 0;
  while (i < n) {
    switch (dataState_) {
      case DataState::Text: {
        std::size_t start = i;
        i += findLineBreak(p + i, n - i);
        lineLen_ += i - start;
        if (lineLen_ > maxLine) longLine_ = true;
        if (i == n) break;
        if (p[i] == '\r') {
          dataState_ = DataState::Cr;
          ++i;
          break;
        }
        bareEnding_ = true;  // bare LF
        if (normalise) {
          deliver(p + span, i - span);
          deliver("\r\n", 2);
          span = i + 1;
        }
        lineLen_ = 0;
        ++i;
        break;
      }
      case DataState::Cr:
        if (p[i] == '\n') {
          ++i;
          lineLen_ = 0;
          dataState_ = DataState::LineStart;
          break;
        }
        bareEnding_ = true;  // bare CR: it was delivered (or is in the span); add the LF
        if (normalise) {
          deliver(p + span, i - span);
          deliver("\n", 1);
          span = i;
        }
        lineLen_ = 0;
        dataState_ = DataState::Text;  // p[i] is looked at again
        break;
      case DataState::LineStart:
        if (p[i] == '.') {
          deliver(p + span, i - span);
          span = ++i;
          lineLen_ = 0;  // the dropped dot does not count (§4.5.3.1.6)
          dataState_ = DataState::Dot;
          break;
        }
        dataState_ = DataState::Text;
        break;
      case DataState::Dot:
        if (p[i] == '\r') {
          span = ++i;  // hold the CR: it may belong to the terminator
          dataState_ = DataState::DotCr;
          break;
        }
        dataState_ = DataState::Text;  // the stuffing dot stays dropped
        break;
      case DataState::DotCr:
        if (p[i] == '\n') {
          ++i;
          dataState_ = DataState::LineStart;
          endOfData();
          return i;
        }
        // "." then a bare CR: not the terminator. Deliver the held CR (and its LF when normalising).
        bareEnding_ = true;
        deliver("\r", 1);
        if (normalise) deliver("\n", 1);
        span = i;
        lineLen_ = 0;
        dataState_ = DataState::Text;
        break;
    }
  }
  deliver(p + span, n - span);
  return n;
}

// Reads (or discards) the bytes of the BDAT chunk in flight (RFC 3030 §2).
std::size_t ServerSession::readChunk(const char* p, std::size_t n) {
  std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(chunkLeft_, n));
  if (!chunkDiscard_) deliver(p, take);
  chunkLeft_ -= take;
  if (chunkLeft_ == 0) endOfChunk();
  return take;
}

// Hands content to the owner, enforcing the message size limit (RFC 1870 §6).
void ServerSession::deliver(const char* p, std::size_t n) {
  if (n == 0 || tooBig_) return;
  txOctets_ += n;
  const std::uint64_t max = config_.limits.maxMessageSize;
  if (max != 0 && txOctets_ > max) {
    tooBig_ = true;
    return;
  }
  handler_.onBody(std::string_view(p, n));
}

// DATA content ended at CRLF.CRLF: apply the content checks, then ask the owner.
void ServerSession::endOfData() {
  mode_ = Mode::Command;
  ++stats_.dataEnds;
  if (tooBig_) {
    reply(552, "5.3.4", kSizeExceeded);
    resetTransaction(true);
  } else if (bareEnding_ && config_.bareLineEndings == BareLineEndingPolicy::Reject) {
    reply(550, "5.5.2", "Bare CR or LF in message content");
    resetTransaction(true);
  } else if (longLine_ && config_.longLines == LongLinePolicy::Reject) {
    reply(550, "5.6.0", "Message contains a line longer than 998 octets");
    resetTransaction(true);
  } else {
    messageEnd();
  }
}

// The BDAT chunk in flight is complete: one reply per chunk (RFC 3030 §2).
void ServerSession::endOfChunk() {
  mode_ = Mode::Command;
  stats_.chunksOpen = 0;
  if (chunkDiscard_) {
    chunkDiscard_ = false;
    if (chunkIsError_) {
      error(chunkCode_, chunkStatus_, chunkText_);
    } else {
      reply(chunkCode_, chunkStatus_, chunkText_);
    }
    return;
  }
  if (chunkLast_) {
    messageEnd();
    return;
  }
  constexpr std::string_view kReceived = " octets received";
  char text[20 + kReceived.size()];
  const std::size_t len = writeDecimal(text, chunkSize_);
  std::memcpy(text + len, kReceived.data(), kReceived.size());
  reply(250, "2.0.0", std::string_view(text, len + kReceived.size()));
}

// Offers the complete message to the owner.
void ServerSession::messageEnd() {
  ++stats_.messages;
  MessageInfo info;
  info.octets = txOctets_;
  info.chunked = bdatSeen_;
  info.normalisedLines = !bdatSeen_ && bareEnding_;
  decide(Pending::MessageEnd, handler_.onMessageEnd(info));
}

// Applies an owner verdict now, or records that it will come through resolve().
void ServerSession::decide(Pending kind, const Verdict& v) {
  if (v.kind == Verdict::Kind::Pending) {
    pending_ = kind;
    return;
  }
  applyDecision(kind, v);
}

// Writes the reply for an owner verdict and moves the state accordingly.
void ServerSession::applyDecision(Pending kind, const Verdict& v) {
  const bool ok = v.kind == Verdict::Kind::Accept;
  // Writes the owner's reply when it fits the verdict, else the default.
  auto answer = [&](int defCode, std::string_view defStatus, std::string_view defText) {
    if (v.code != 0 && codeFits(v.code, ok)) {
      std::string_view text = v.text.empty() ? defText : v.text;
      std::string clean;
      if (text.find_first_of("\r\n") != std::string_view::npos) {  // one reply line, whatever the owner wrote
        clean.assign(text);
        for (char& c : clean)
          if (c == '\r' || c == '\n') c = ' ';
        text = clean;
      }
      reply(v.code, checkedStatus(v.code, v.status), text);
    } else {
      reply(defCode, defStatus, defText);
    }
  };
  switch (kind) {
    case Pending::None:
      return;
    case Pending::Helo:
      if (ok) {
        greeted_ = true;
        esmtp_ = pendingExtended_;
        if (esmtp_) {
          writeEhloReply();
        } else {
          reply(250, {}, config_.hostname);
        }
      } else {
        heloName_.clear();
        answer(550, "5.7.1", "Access denied");
      }
      return;
    case Pending::Mail:
      if (ok) {
        mailActive_ = true;
        answer(250, "2.1.0", "Sender OK");
      } else {
        txBody_ = BodyType::Unspecified;
        txUtf8_ = false;
        answer(550, "5.7.1", "Sender rejected");
      }
      return;
    case Pending::Rcpt:
      if (ok) {
        ++rcpts_;
        answer(250, "2.1.5", "Recipient OK");
      } else {
        answer(550, "5.1.1", "Recipient rejected");
      }
      return;
    case Pending::MessageEnd:
      answer(ok ? 250 : 554, ok ? "2.0.0" : "5.0.0", ok ? "Message accepted" : "Message rejected");
      resetTransaction(false);
      return;
    case Pending::Etrn:
      answer(ok ? 250 : 458, ok ? "2.0.0" : "4.3.0", ok ? "Queuing started" : "Unable to queue messages");
      return;
    case Pending::Auth:
      if (ok) {
        authenticated_ = true;
        answer(235, "2.7.0", "Authentication successful");
      } else {
        authUser_.clear();
        if (!tooManyErrors()) answer(535, "5.7.8", "Authentication credentials invalid");  // a failed AUTH counts
      }
      return;
  }
}

// The multi-line EHLO reply listing the extensions offered in this state (RFC 5321 §4.1.1.1).
void ServerSession::writeEhloReply() {
  const Offered o = offered();  // the same set decides which MAIL/RCPT parameters are legal
  std::string_view items[16];
  std::size_t count = 0;
  std::string sizeLine;
  if (config_.pipelining) items[count++] = "PIPELINING";
  if (o.size) {
    sizeLine = "SIZE ";
    appendDecimal(sizeLine, config_.limits.maxMessageSize);
    items[count++] = sizeLine;
  }
  if (o.eightBitMime) items[count++] = "8BITMIME";
  if (o.binaryMime) items[count++] = "BINARYMIME";
  if (config_.chunking) items[count++] = "CHUNKING";
  if (o.smtpUtf8) items[count++] = "SMTPUTF8";
  if (o.dsn) items[count++] = "DSN";
  if (config_.etrn) items[count++] = "ETRN";
  if (config_.startTls && !tls_) items[count++] = "STARTTLS";
  std::string auth;
  if (o.auth) {
    auth = "AUTH";
    for (const std::string& m : config_.authMechanisms) {
      auth += ' ';
      auth += m;
    }
    items[count++] = auth;
  }
  if (config_.enhancedStatusCodes) items[count++] = "ENHANCEDSTATUSCODES";
  if (config_.help) items[count++] = "HELP";
  out_ += count ? "250-" : "250 ";
  out_ += config_.hostname;
  out_ += "\r\n";
  for (std::size_t k = 0; k < count; ++k) {
    out_ += k + 1 < count ? "250-" : "250 ";
    out_ += items[k];
    out_ += "\r\n";
  }
  ++stats_.replies;
}

// Appends one reply line: code, the enhanced status code when negotiated (RFC 2034 §3), text, CRLF.
void ServerSession::reply(int code, std::string_view status, std::string_view text) {
  char digits[4] = {static_cast<char>('0' + code / 100 % 10), static_cast<char>('0' + code / 10 % 10),
                    static_cast<char>('0' + code % 10), ' '};
  out_.append(digits, 4);
  if (!status.empty() && escActive()) {
    out_ += status;
    out_ += ' ';
  }
  out_ += text;
  out_ += "\r\n";
  ++stats_.replies;
}

// A reply to a client error: counts it, and past limits.maxErrors answers 421 and closes instead.
void ServerSession::error(int code, std::string_view status, std::string_view text) {
  if (!tooManyErrors()) reply(code, status, text);
}

// Counts one client error; the one that reaches limits.maxErrors is answered 421 4.7.0 and closes (returns true).
bool ServerSession::tooManyErrors() {
  ++stats_.errors;
  if (config_.limits.maxErrors == 0 || stats_.errors < config_.limits.maxErrors) return false;
  std::string t = config_.hostname;
  t += " Error: too many errors";
  reply(421, "4.7.0", t);
  close();
  return true;
}

// Forgets the mail transaction (RFC 5321 §4.1.1.5); the login and the greeting stay.
void ServerSession::resetTransaction(bool notifyOwner) {
  if (mailActive_ && notifyOwner) handler_.onTransactionAbort();
  mailActive_ = false;
  rcptTried_ = false;
  bdatSeen_ = false;
  txUtf8_ = false;
  txBody_ = BodyType::Unspecified;
  rcpts_ = 0;
  txOctets_ = 0;
  tooBig_ = false;
  bareEnding_ = false;
  longLine_ = false;
}

// Ends the session: nothing more is read; the caller writes output() and closes.
void ServerSession::close() {
  resetTransaction(true);
  mode_ = Mode::Closed;
  closed_ = true;
  pending_ = Pending::None;
}

// Which parameters are legal now: only those of extensions the current EHLO advertised (RFC 5321 §4.1.1.3);
// writeEhloReply() lists the extensions from this same set.
Offered ServerSession::offered() const {
  Offered o;
  if (!esmtp_) return o;
  o.size = config_.size;
  o.eightBitMime = config_.eightBitMime;
  o.binaryMime = config_.binaryMime && config_.chunking;
  o.smtpUtf8 = config_.smtpUtf8;
  o.dsn = config_.dsn;
  o.auth = !config_.authMechanisms.empty() && (tls_ || config_.authWithoutTls);
  return o;
}

}  // namespace sluice::smtp
