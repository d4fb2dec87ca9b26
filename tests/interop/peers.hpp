// peers.hpp: independently written SMTP peers for the interop tests, each started privately on loopback in its own
// temp directory and stopped (with the directory removed) on destruction: a private Postfix instance with three
// smtpd listeners, smtp-sink, aiosmtpd with a recording handler, and swaks as a client. None of them touches the
// system mail configuration or spool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/interop/process.hpp"

namespace sluice::interop {

// One Maildir file written by Postfix's virtual delivery agent.
struct PostfixDelivery {
  std::string returnPath;   // value of the prepended Return-Path header
  std::string deliveredTo;  // value of the prepended Delivered-To header
  std::string received;     // the prepended Received header (with its continuation lines)
  std::string message;      // everything after those lines: the message as sent, with LF line endings
};

// A private Postfix instance (configuration, queue, log and mailboxes in a temp dir). Listeners:
//   port()           - PIPELINING, CHUNKING, 8BITMIME (Postfix defaults)
//   noChunkingPort() - CHUNKING discarded from EHLO
//   plainPort()      - CHUNKING, 8BITMIME and PIPELINING discarded
// Every recipient domain is delivered into one Maildir. `extraMainCf` is appended to main.cf (a later setting
// overrides an earlier one); the smtp client service is configured for tests that relay through Postfix.
class PostfixPeer {
 public:
  explicit PostfixPeer(const std::string& extraMainCf = "");
  ~PostfixPeer();
  PostfixPeer(const PostfixPeer&) = delete;
  PostfixPeer& operator=(const PostfixPeer&) = delete;

  // True when `postfix start` succeeded and the first listener accepts connections.
  bool running() const { return running_; }
  // Output of `postfix start` (for failure messages).
  const std::string& startOutput() const { return startOutput_; }
  // The listener ports.
  std::uint16_t port() const { return port_; }
  std::uint16_t noChunkingPort() const { return noChunkingPort_; }
  std::uint16_t plainPort() const { return plainPort_; }
  // Waits until at least `n` messages are in the Maildir (at most `limit`) and returns all of them.
  std::vector<PostfixDelivery> waitDeliveries(std::size_t n, Millis limit) const;
  // The instance's mail log.
  std::string maillog() const;
  // Waits until the mail log contains `needle` `times` times; false after `limit`.
  bool waitLog(const std::string& needle, std::size_t times, Millis limit) const;

 private:
  TempDir dir_;  // first member: removed last, after the instance stopped
  std::uint16_t port_ = 0;
  std::uint16_t noChunkingPort_ = 0;
  std::uint16_t plainPort_ = 0;
  bool running_ = false;
  std::string startOutput_;
};

// One smtp-sink dump file, split into the sink's own headers and the message.
struct SinkDump {
  std::string clientProto;            // X-Client-Proto: SMTP or ESMTP
  std::string heloArgs;               // X-Helo-Args
  std::string mailArgs;               // X-Mail-Args: the MAIL FROM arguments, parameters included
  std::vector<std::string> rcptArgs;  // X-Rcpt-Args, one per RCPT
  std::string message;                // the message after the sink's Received header, LF endings, unstuffed
};

// smtp-sink from Postfix, dumping each message to a file. `flags` are extra options such as "-e" or "-8".
class SmtpSink {
 public:
  explicit SmtpSink(const std::vector<std::string>& flags = {});
  ~SmtpSink();
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  // True once it accepts connections.
  bool running() const { return running_; }
  // Its port.
  std::uint16_t port() const { return port_; }
  // Waits for `n` dump files (at most `limit`) and returns them in file-name order.
  std::vector<SinkDump> waitDumps(std::size_t n, Millis limit) const;

 private:
  TempDir dir_;
  std::uint16_t port_ = 0;
  bool running_ = false;
  Child child_;
};

// One message as recorded by the aiosmtpd handler.
struct AioMessage {
  std::string mailFrom;
  std::vector<std::string> mailOptions;  // MAIL FROM parameters as aiosmtpd parsed them
  std::vector<std::string> recipients;
  std::string content;  // envelope.original_content: byte-exact, dot-unstuffed, CRLF kept
};

// aiosmtpd (Python) with a handler written into the temp dir at run time that records envelope and content.
class AiosmtpdPeer {
 public:
  AiosmtpdPeer();
  ~AiosmtpdPeer();
  AiosmtpdPeer(const AiosmtpdPeer&) = delete;
  AiosmtpdPeer& operator=(const AiosmtpdPeer&) = delete;

  // True once it accepts connections.
  bool running() const { return running_; }
  // Its port.
  std::uint16_t port() const { return port_; }
  // Waits for `n` recorded messages (at most `limit`) and returns them in arrival order.
  std::vector<AioMessage> waitMessages(std::size_t n, Millis limit) const;
  // Its log (stdout and stderr).
  std::string log() const;

 private:
  TempDir dir_;
  std::uint16_t port_ = 0;
  bool running_ = false;
  Child child_;
};

// Runs swaks against 127.0.0.1:port with `args`; a data file is written into a temp dir by the caller.
RunResult runSwaks(std::uint16_t port, const std::vector<std::string>& args, Millis limit = Millis(20000));

}  // namespace sluice::interop
