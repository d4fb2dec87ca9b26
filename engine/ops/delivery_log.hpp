// delivery_log.hpp: the delivery log, one JSON object per line for every recipient outcome (format in README.md).
//
// Ownership: a DeliveryLog owns its file descriptor (opened with O_APPEND; "-" borrows stdout, never closed) and a
// line buffer. Records are copied into the buffer by append(); nothing else is kept.
// Threads: one DeliveryLog per thread (engine loops each own one, all on the same file). A DeliveryLog itself is
// not thread-safe. flush() hands whole lines to the kernel in one write(): on a regular file opened with O_APPEND
// two writers never interleave inside a line; on a pipe or terminal the buffer is written in pieces of whole
// lines of at most PIPE_BUF bytes, which pipes keep atomic (a single longer line is written alone).
// Errors: open() returns a message; a failed write drops the buffered lines (counted in droppedLines(), the error
// kept in lastError()); the log never blocks delivery and never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::ops {

enum class DeliveryStatus : std::uint8_t { Delivered, Bounced, Deferred, Expired };
enum class BodyTransport : std::uint8_t { EightBitMime, SevenBit, Converted, BinaryMime };

// "delivered", "bounced", "deferred", "expired".
std::string_view statusLabel(DeliveryStatus s);
// "8bitmime", "7bit", "converted", "binarymime".
std::string_view bodyLabel(BodyTransport b);

struct DeliveryRecord {
  std::int64_t timeMs = 0;          // unix ms of the outcome
  std::uint64_t messageId = 0;      // the spool's message id
  std::string_view recipient;       // forward-path, "user@example.org"
  DeliveryStatus status = DeliveryStatus::Deferred;
  int smtpCode = 0;                 // 0 when there was no reply at all
  std::string_view enhancedCode;    // "2.0.0", or "" when absent
  std::string_view reply;           // reply text (lines joined by the caller), any bytes
  std::string_view mxHost;          // MX host name, or "" when none was reached
  std::string_view address;         // "ip:port" / "[ipv6]:port", or ""
  unsigned attempt = 0;             // 1 for the first attempt
  std::int64_t durationMs = 0;      // time spent on this attempt
  struct Transport {
    bool chunking = false;          // BDAT was used
    BodyTransport body = BodyTransport::SevenBit;
    bool pipelined = false;         // PIPELINING was used
    bool tls = false;               // the connection was encrypted
  } transport;
  bool possibleDuplicate = false;   // the peer may already have the message (RFC 5321 §6.1)
  bool synthesized = false;         // the reply was made up locally (timeout, lost connection, expiry)
};

// Appends one JSON line (with its '\n') for r to out. Exposed for tests and other writers.
void appendDeliveryJson(std::string& out, const DeliveryRecord& r);
// Appends s as a JSON string body (no quotes): '"', '\\' and control bytes escaped (\u00XX), invalid UTF-8 bytes
// replaced by \ufffd.
void appendJsonEscaped(std::string& out, std::string_view s);
// Appends unix ms as ISO-8601 UTC with milliseconds: "2026-11-29T05:52:05.123Z".
void appendIsoTime(std::string& out, std::int64_t unixMs);

class DeliveryLog {
 public:
  static constexpr std::size_t kDefaultFlushBytes = 64 * 1024;

  // A disabled log until open(). flushBytes: append() flushes once the buffer passes this size.
  explicit DeliveryLog(std::size_t flushBytes = kDefaultFlushBytes);
  ~DeliveryLog();  // flushes, closes
  DeliveryLog(DeliveryLog&& other) noexcept;
  DeliveryLog& operator=(DeliveryLog&& other) noexcept;
  DeliveryLog(const DeliveryLog&) = delete;
  DeliveryLog& operator=(const DeliveryLog&) = delete;

  // path: a file (created 0640 if missing, appended to), "-" for stdout, "" to disable. Returns "" or a message.
  // A log that was open is flushed and closed first.
  std::string open(std::string_view path);
  bool enabled() const { return fd_ >= 0; }

  // Formats r into the buffer (no-op when disabled); flushes once the buffer passes flushBytes.
  void append(const DeliveryRecord& r);
  // Writes the buffered lines. Returns false when a write failed (those lines are dropped).
  bool flush();

  std::size_t bufferedBytes() const { return buf_.size(); }
  std::uint64_t droppedLines() const { return dropped_; }
  const std::string& lastError() const { return lastError_; }

 private:
  void close();
  bool writeAll(const char* p, std::size_t n);

  int fd_ = -1;
  bool ownsFd_ = false;
  bool regularFile_ = false;
  std::size_t flushBytes_;
  std::size_t lines_ = 0;  // lines in buf_
  std::string buf_;
  std::uint64_t dropped_ = 0;
  std::string lastError_;
};

}  // namespace sluice::ops
