// server_session_verbs.cpp: what the server session does with each command (RFC 5321 §4.1.1 and the extension
// RFCs): sequencing checks (503), argument checks (501/555), extension availability (502), then the owner hook.
// Input framing and reply formatting live in server_session.cpp; argument parsing in server_command.cpp.
#include <cstring>

#include "engine/smtp/server_session.hpp"

namespace sluice::smtp {
namespace {

constexpr std::string_view kLoginUser = "VXNlcm5hbWU6";      // base64 "Username:"
constexpr std::string_view kLoginPassword = "UGFzc3dvcmQ6";  // base64 "Password:"

// Skips leading spaces (lenient "MAIL FROM: <a@b>").
std::string_view skipSpaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

// Reply text for a path error, by kind.
std::string_view pathErrorText(PathError e, bool sender) {
  switch (e) {
    case PathError::LocalPartTooLong: return "Local part too long";
    case PathError::DomainTooLong: return "Domain too long";
    case PathError::PathTooLong: return "Path too long";
    default: return sender ? "Bad sender address syntax" : "Bad recipient address syntax";
  }
}

}  // namespace

// Executes one command line.
void ServerSession::dispatch(std::string_view line) {
  std::string_view args;
  Verb verb = parseVerb(line, args);
  if (refused_ && verb != Verb::Quit) {  // after a 554 greeting only QUIT (RFC 5321 §3.1)
    error(503, "5.5.1", "Service refused, send QUIT");
    return;
  }
  switch (verb) {
    case Verb::Ehlo: cmdHelo(args, true); return;
    case Verb::Helo: cmdHelo(args, false); return;
    case Verb::Mail: cmdMail(args); return;
    case Verb::Rcpt: cmdRcpt(args); return;
    case Verb::Data: cmdData(args); return;
    case Verb::Bdat: cmdBdat(args); return;
    case Verb::Etrn: cmdEtrn(args); return;
    case Verb::StartTls: cmdStartTls(args); return;
    case Verb::Auth: cmdAuth(args); return;
    case Verb::Rset:
      if (!args.empty()) {
        error(501, "5.5.4", "Syntax: RSET");
        return;
      }
      resetTransaction(true);
      reply(250, "2.0.0", "Ok");
      return;
    case Verb::Noop:
      reply(250, "2.0.0", "Ok");
      return;
    case Verb::Quit: {
      std::string text = config_.hostname;
      text += " closing connection";
      reply(221, "2.0.0", text);
      close();
      return;
    }
    case Verb::Help:
      if (config_.help) {
        reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY ETRN STARTTLS AUTH");
      } else {
        error(502, "5.5.1", "Command not implemented");
      }
      return;
    case Verb::Vrfy:
      if (args.empty()) {
        error(501, "5.5.4", "Syntax: VRFY <address>");
      } else {
        reply(252, "2.1.5", "Cannot VRFY user, but will accept message and attempt delivery");
      }
      return;
    case Verb::Expn:
      reply(502, "5.5.1", "EXPN not available");
      return;
    case Verb::Turn:
      error(502, "5.5.1", "Command not implemented");
      return;
    case Verb::Unknown:
      error(500, "5.5.1", "Command unrecognized");
      return;
  }
}

// Answers MAIL or RCPT parameters that did not parse: 501 for bad syntax, 555 for unknown or not offered.
void ServerSession::rejectParams(ParamError e) {
  switch (e) {
    case ParamError::None: return;
    case ParamError::Syntax: error(501, "5.5.4", "Invalid parameter syntax"); return;
    case ParamError::Unknown: error(555, "5.5.4", "Unsupported parameter"); return;
    case ParamError::NotOffered: error(555, "5.5.4", "Parameter of an extension not offered"); return;
  }
}

// EHLO / HELO (RFC 5321 §4.1.1.1): resets any transaction; EHLO may be refused by configuration.
void ServerSession::cmdHelo(std::string_view args, bool extended) {
  if (extended && config_.refuseEhlo) {  // the client must fall back to HELO (RFC 5321 §3.2)
    reply(500, "5.5.1", "Command unrecognized");
    return;
  }
  if (args.empty()) {
    error(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
    return;
  }
  std::size_t sp = args.find(' ');
  resetTransaction(true);
  greeted_ = false;
  esmtp_ = false;
  heloName_.assign(args.substr(0, sp));
  pendingExtended_ = extended;
  decide(Pending::Helo, handler_.onHelo(heloName_, extended));
}

// MAIL FROM:<reverse-path> [params] (RFC 5321 §4.1.1.2, RFC 1870, 6152, 3030, 6531, 3461, 4954).
void ServerSession::cmdMail(std::string_view args) {
  if (!greeted_) {
    error(503, "5.5.1", "Send HELO/EHLO first");
    return;
  }
  if (mailActive_) {
    error(503, "5.5.1", "Nested MAIL command");
    return;
  }
  if (!startsWithNoCase(args, "FROM:")) {
    error(501, "5.5.2", "Syntax: MAIL FROM:<address>");
    return;
  }
  ParsedPath path;
  std::string_view rest;
  PathError pe = parsePath(skipSpaces(args.substr(5)), true, false, config_.limits.paths, path, rest);
  if (pe != PathError::None) {
    error(501, "5.1.7", pathErrorText(pe, true));
    return;
  }
  MailParams params;
  bool authGiven = false;
  if (const ParamError pe = parseMailParams(rest, offered(), params, scratch_, authGiven); pe != ParamError::None) {
    rejectParams(pe);
    return;
  }
  if (path.nonAscii && !params.smtpUtf8) {
    error(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
    return;
  }
  const std::uint64_t max = config_.limits.maxMessageSize;
  if (max != 0 && params.size > max) {  // RFC 1870 §6.1
    reply(552, "5.3.4", kSizeExceeded);
    return;
  }
  txBody_ = params.body;
  txUtf8_ = params.smtpUtf8;
  std::string_view auth = authGiven ? std::string_view(scratch_) : std::string_view{};
  decide(Pending::Mail, handler_.onMail(path.mailbox, params, auth));
}

// RCPT TO:<forward-path> [params] (RFC 5321 §4.1.1.3, RFC 3461 §4).
void ServerSession::cmdRcpt(std::string_view args) {
  if (!mailActive_) {
    error(503, "5.5.1", "Need MAIL command");
    return;
  }
  if (bdatSeen_) {
    error(503, "5.5.1", "RCPT after BDAT");
    return;
  }
  rcptTried_ = true;
  if (!startsWithNoCase(args, "TO:")) {
    error(501, "5.5.2", "Syntax: RCPT TO:<address>");
    return;
  }
  ParsedPath path;
  std::string_view rest;
  PathError pe = parsePath(skipSpaces(args.substr(3)), false, true, config_.limits.paths, path, rest);
  if (pe != PathError::None) {
    error(501, "5.1.3", pathErrorText(pe, false));
    return;
  }
  RcptParams params;
  if (const ParamError pe = parseRcptParams(rest, offered(), params); pe != ParamError::None) {
    rejectParams(pe);
    return;
  }
  if (path.nonAscii && !txUtf8_) {
    error(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
    return;
  }
  if (rcpts_ >= config_.limits.maxRecipients) {  // RFC 5321 §4.5.3.1.10
    reply(452, "4.5.3", "Too many recipients");
    return;
  }
  decide(Pending::Rcpt, handler_.onRcpt(path.mailbox, params));
}

// DATA (RFC 5321 §4.1.1.4): 354, then content up to CRLF.CRLF.
void ServerSession::cmdData(std::string_view args) {
  if (!args.empty()) {
    error(501, "5.5.4", "Syntax: DATA");
    return;
  }
  if (!mailActive_) {
    error(503, "5.5.1", "Need MAIL command");
    return;
  }
  if (bdatSeen_) {  // RFC 3030 §2: no DATA in a transaction that used BDAT
    error(503, "5.5.1", "DATA not allowed after BDAT");
    return;
  }
  if (txBody_ == BodyType::BinaryMime) {  // RFC 3030 §3: BINARYMIME only with BDAT
    error(503, "5.5.1", "BODY=BINARYMIME requires BDAT");
    return;
  }
  if (!rcptTried_) {
    error(503, "5.5.1", "Need RCPT command");
    return;
  }
  if (rcpts_ == 0) {  // RFC 5321 §3.3: every RCPT was rejected
    reply(554, "5.5.1", "No valid recipients");
    return;
  }
  reply(354, {}, "End data with <CR><LF>.<CR><LF>");
  mode_ = Mode::Data;
  dataState_ = DataState::LineStart;
  lineLen_ = 0;
  txOctets_ = 0;
  tooBig_ = false;
  bareEnding_ = false;
  longLine_ = false;
}

// BDAT n [LAST] (RFC 3030 §2). Once a chunk size is read, the chunk's octets are always consumed; a rejected
// chunk is discarded and answered after its last octet, so its payload is never executed as commands.
// When CHUNKING is not offered (configuration, or after HELO) the line is a command only: 502.
void ServerSession::cmdBdat(std::string_view args) {
  if (!config_.chunking || (greeted_ && !esmtp_)) {
    error(502, "5.5.1", "BDAT not available");
    return;
  }
  std::uint64_t size = 0;
  bool last = false;
  BdatArgs parsed = parseBdatArgs(args, size, last);
  if (parsed == BdatArgs::NoSize) {
    error(501, "5.5.4", "Syntax: BDAT size [LAST]");
    return;
  }
  chunkSize_ = size;
  chunkLeft_ = size;
  chunkLast_ = last;
  chunkDiscard_ = false;
  // Marks the chunk as rejected with the reply to give after its octets.
  auto rejectChunk = [&](int code, const char* status, const char* text, bool isError) {
    chunkDiscard_ = true;
    chunkCode_ = code;
    chunkStatus_ = status;
    chunkText_ = text;
    chunkIsError_ = isError;
  };
  const std::uint64_t max = config_.limits.maxMessageSize;
  if (parsed == BdatArgs::BadSyntax) {
    rejectChunk(501, "5.5.4", "Syntax: BDAT size [LAST]", true);
  } else if (!mailActive_) {
    rejectChunk(503, "5.5.1", "Need MAIL command", true);
  } else if (!rcptTried_) {
    rejectChunk(503, "5.5.1", "Need RCPT command", true);
  } else if (rcpts_ == 0) {
    rejectChunk(554, "5.5.1", "No valid recipients", false);
  } else if (max != 0 && (size > max || txOctets_ > max - size)) {
    rejectChunk(552, "5.3.4", kSizeExceeded, false);
    resetTransaction(true);  // RFC 3030 §2: the transaction failed
  } else {
    bdatSeen_ = true;
  }
  if (chunkLeft_ == 0) {
    endOfChunk();
    return;
  }
  stats_.chunksOpen = 1;
  mode_ = Mode::Chunk;
}

// ETRN [@|#]node (RFC 1985): the owner starts the queue run and chooses the reply.
void ServerSession::cmdEtrn(std::string_view args) {
  if (!config_.etrn || (greeted_ && !esmtp_)) {
    error(502, "5.5.1", "ETRN not available");
    return;
  }
  if (!greeted_) {
    error(503, "5.5.1", "Send EHLO first");
    return;
  }
  if (mailActive_) {
    error(503, "5.5.1", "ETRN not permitted during a mail transaction");
    return;
  }
  if (args.empty() || !validEtrnNode(args)) {
    error(501, "5.5.4", "Syntax: ETRN [@|#]node");
    return;
  }
  decide(Pending::Etrn, handler_.onEtrn(args));
}

// STARTTLS (RFC 3207 §4): 220 then the owner's handshake; input already buffered is discarded.
void ServerSession::cmdStartTls(std::string_view args) {
  if (!config_.startTls || tls_ || (greeted_ && !esmtp_)) {
    error(502, "5.5.1", "STARTTLS not available");
    return;
  }
  if (!greeted_) {
    error(503, "5.5.1", "Send EHLO first");
    return;
  }
  if (!args.empty()) {
    error(501, "5.5.4", "Syntax: STARTTLS");
    return;
  }
  if (!handler_.onStartTls()) {
    reply(454, "4.7.0", "TLS not available due to temporary reason");
    return;
  }
  reply(220, "2.0.0", "Ready to start TLS");
  resetTransaction(true);
  mode_ = Mode::AwaitTls;  // process() drops the rest of the input; feed() ignores more until tlsStarted()
}

// AUTH mechanism [initial-response] (RFC 4954 §4): PLAIN (RFC 4616) and LOGIN.
void ServerSession::cmdAuth(std::string_view args) {
  if (config_.authMechanisms.empty()) {
    error(502, "5.5.1", "AUTH not available");
    return;
  }
  if (!esmtp_) {
    error(503, "5.5.1", "Send EHLO first");
    return;
  }
  if (authenticated_) {
    error(503, "5.5.1", "Already authenticated");
    return;
  }
  if (mailActive_) {
    error(503, "5.5.1", "AUTH not permitted during a mail transaction");
    return;
  }
  std::size_t sp = args.find(' ');
  std::string_view mech = args.substr(0, sp);
  std::string_view initial = sp == std::string_view::npos ? std::string_view{} : skipSpaces(args.substr(sp + 1));
  if (mech.empty()) {
    error(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
    return;
  }
  const bool plain = equalsNoCase(mech, "PLAIN");
  const bool login = equalsNoCase(mech, "LOGIN");
  bool configured = false;
  for (const std::string& m : config_.authMechanisms) configured = configured || equalsNoCase(m, mech);
  if (!configured || (!plain && !login)) {
    error(504, "5.5.4", "Unrecognized authentication type");
    return;
  }
  if (!tls_ && !config_.authWithoutTls) {
    reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
    return;
  }
  if (plain) {
    if (!initial.empty()) {
      authPlain(initial == "=" ? std::string_view{} : initial);
      return;
    }
    askAuthResponse(AuthStep::PlainResponse, "");
    return;
  }
  if (!initial.empty()) {
    if (!base64Decode(initial == "=" ? std::string_view{} : initial, scratch_)) {
      error(501, "5.5.2", "Invalid base64 data");
      return;
    }
    authUser_ = scratch_;
    askAuthResponse(AuthStep::LoginPassword, kLoginPassword);
    return;
  }
  askAuthResponse(AuthStep::LoginUser, kLoginUser);
}

// Sends a 334 challenge (RFC 4954 §4) and reads the next line as the response for `step`.
void ServerSession::askAuthResponse(AuthStep step, std::string_view challenge) {
  authStep_ = step;
  mode_ = Mode::AuthResponse;
  reply(334, {}, challenge);
}

// One client line inside an AUTH exchange: "*" cancels (501), otherwise base64.
void ServerSession::authResponse(std::string_view line) {
  mode_ = Mode::Command;
  AuthStep step = authStep_;
  authStep_ = AuthStep::None;
  if (line == "*") {
    authUser_.clear();
    reply(501, "5.0.0", "Authentication cancelled");
    return;
  }
  if (step == AuthStep::PlainResponse) {
    authPlain(line);
    return;
  }
  if (!base64Decode(line, scratch_)) {
    authUser_.clear();
    error(501, "5.5.2", "Invalid base64 data");
    return;
  }
  if (step == AuthStep::LoginUser) {
    authUser_ = scratch_;
    askAuthResponse(AuthStep::LoginPassword, kLoginPassword);
    return;
  }
  authCheck("LOGIN", {}, authUser_, scratch_);
}

// Decodes a PLAIN response "authzid NUL authcid NUL password" (RFC 4616 §2) and checks it.
void ServerSession::authPlain(std::string_view base64) {
  if (!base64Decode(base64, scratch_)) {
    error(501, "5.5.2", "Invalid base64 data");
    return;
  }
  std::string_view all = scratch_;
  std::size_t a = all.find('\0');
  std::size_t b = a == std::string_view::npos ? a : all.find('\0', a + 1);
  if (b == std::string_view::npos || all.find('\0', b + 1) != std::string_view::npos || b == a + 1) {
    error(501, "5.5.2", "Invalid PLAIN response");
    return;
  }
  authCheck("PLAIN", all.substr(0, a), all.substr(a + 1, b - a - 1), all.substr(b + 1));
}

// Asks the owner to verify decoded credentials.
void ServerSession::authCheck(std::string_view mech, std::string_view authzid, std::string_view user,
                              std::string_view pass) {
  if (user.data() != authUser_.data()) authUser_.assign(user);
  AuthRequest req{mech, authzid, authUser_, pass};
  decide(Pending::Auth, handler_.onAuth(req));
}

}  // namespace sluice::smtp
