// delivery_log.cpp: JSON line formatting and the O_APPEND writer (contract in delivery_log.hpp).
// Formatting appends into one std::string whose capacity is reserved once, so a line costs no allocation.
#include "engine/ops/delivery_log.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

namespace sluice::ops {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void appendInt(std::string& out, std::int64_t v) {
  char tmp[24];
  const auto res = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, res.ptr);
}
void appendUint(std::string& out, std::uint64_t v) {
  char tmp[24];
  const auto res = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, res.ptr);
}
// Appends v as exactly `width` digits (v < 10^width).
void appendPadded(std::string& out, unsigned v, int width) {
  char tmp[8];
  for (int i = width - 1; i >= 0; --i) {
    tmp[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(tmp, static_cast<std::size_t>(width));
}
void appendBool(std::string& out, bool b) { out.append(b ? "true" : "false"); }

// Appends ,"key":"escaped value".
void appendStringField(std::string& out, std::string_view key, std::string_view value) {
  out.append(",\"").append(key).append("\":\"");
  appendJsonEscaped(out, value);
  out.push_back('"');
}

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, <= U+10FFFF), or 0.
std::size_t utf8Length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

std::string_view statusLabel(DeliveryStatus s) {
  switch (s) {
    case DeliveryStatus::Delivered: return "delivered";
    case DeliveryStatus::Bounced: return "bounced";
    case DeliveryStatus::Deferred: return "deferred";
    case DeliveryStatus::Expired: return "expired";
  }
  return "deferred";
}

std::string_view bodyLabel(BodyTransport b) {
  switch (b) {
    case BodyTransport::EightBitMime: return "8bitmime";
    case BodyTransport::SevenBit: return "7bit";
    case BodyTransport::Converted: return "converted";
    case BodyTransport::BinaryMime: return "binarymime";
  }
  return "7bit";
}

void appendJsonEscaped(std::string& out, std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    // Copy the longest run of bytes that need no escaping in one append.
    std::size_t j = i;
    while (j < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[j]);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7F) break;
      ++j;
    }
    out.append(s.data() + i, j - i);
    i = j;
    if (i == s.size()) break;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(esc, 6);
      ++i;
    } else if (const std::size_t n = utf8Length(s, i); n != 0) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      out.append("\\ufffd");
      ++i;
    }
  }
}

void appendIsoTime(std::string& out, std::int64_t unixMs) {
  std::int64_t secs = unixMs / 1000;
  std::int64_t ms = unixMs % 1000;
  if (ms < 0) ms += 1000, secs -= 1;
  std::int64_t days = secs / 86400;
  std::int64_t sod = secs % 86400;
  if (sod < 0) sod += 86400, days -= 1;
  // Civil date from days since 1970-01-01 (proleptic Gregorian; H. Hinnant's days-to-civil algorithm).
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const unsigned d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  const unsigned m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  if (y >= 0 && y <= 9999) {
    appendPadded(out, static_cast<unsigned>(y), 4);
  } else {
    appendInt(out, y);
  }
  out.push_back('-');
  appendPadded(out, m, 2);
  out.push_back('-');
  appendPadded(out, d, 2);
  out.push_back('T');
  appendPadded(out, static_cast<unsigned>(sod / 3600), 2);
  out.push_back(':');
  appendPadded(out, static_cast<unsigned>(sod / 60 % 60), 2);
  out.push_back(':');
  appendPadded(out, static_cast<unsigned>(sod % 60), 2);
  out.push_back('.');
  appendPadded(out, static_cast<unsigned>(ms), 3);
  out.push_back('Z');
}

void appendDeliveryJson(std::string& out, const DeliveryRecord& r) {
  out.append("{\"time\":\"");
  appendIsoTime(out, r.timeMs);
  out.append("\",\"id\":");
  appendUint(out, r.messageId);
  appendStringField(out, "rcpt", r.recipient);
  out.append(",\"status\":\"").append(statusLabel(r.status)).append("\",\"code\":");
  appendInt(out, r.smtpCode);
  appendStringField(out, "enhanced", r.enhancedCode);
  appendStringField(out, "reply", r.reply);
  appendStringField(out, "mx", r.mxHost);
  appendStringField(out, "addr", r.address);
  out.append(",\"attempt\":");
  appendUint(out, r.attempt);
  out.append(",\"duration_ms\":");
  appendInt(out, r.durationMs);
  out.append(",\"transport\":{\"chunking\":");
  appendBool(out, r.transport.chunking);
  out.append(",\"body\":\"").append(bodyLabel(r.transport.body)).append("\",\"pipelined\":");
  appendBool(out, r.transport.pipelined);
  out.append(",\"tls\":");
  appendBool(out, r.transport.tls);
  out.append("},\"possible_duplicate\":");
  appendBool(out, r.possibleDuplicate);
  out.append(",\"synthesized\":");
  appendBool(out, r.synthesized);
  out.append("}\n");
}

DeliveryLog::DeliveryLog(std::size_t flushBytes) : flushBytes_(flushBytes) {}

DeliveryLog::~DeliveryLog() { close(); }

DeliveryLog::DeliveryLog(DeliveryLog&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      ownsFd_(std::exchange(o.ownsFd_, false)),
      regularFile_(o.regularFile_),
      flushBytes_(o.flushBytes_),
      lines_(std::exchange(o.lines_, 0)),
      buf_(std::move(o.buf_)),
      dropped_(o.dropped_),
      lastError_(std::move(o.lastError_)) {
  o.buf_.clear();
}

DeliveryLog& DeliveryLog::operator=(DeliveryLog&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    ownsFd_ = std::exchange(o.ownsFd_, false);
    regularFile_ = o.regularFile_;
    flushBytes_ = o.flushBytes_;
    lines_ = std::exchange(o.lines_, 0);
    buf_ = std::move(o.buf_);
    o.buf_.clear();
    dropped_ = o.dropped_;
    lastError_ = std::move(o.lastError_);
  }
  return *this;
}

void DeliveryLog::close() {
  if (fd_ >= 0) {
    flush();
    if (ownsFd_) ::close(fd_);
  }
  fd_ = -1;
  ownsFd_ = false;
  buf_.clear();
  lines_ = 0;
}

std::string DeliveryLog::open(std::string_view path) {
  close();
  if (path.empty()) return "";
  if (path == "-") {
    fd_ = STDOUT_FILENO;
    ownsFd_ = false;
  } else {
    const std::string p(path);
    fd_ = ::open(p.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) return "cannot open delivery log " + p + ": " + std::strerror(errno);
    ownsFd_ = true;
  }
  struct stat st {};
  regularFile_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  buf_.reserve(flushBytes_ + 8192);
  return "";
}

void DeliveryLog::append(const DeliveryRecord& r) {
  if (fd_ < 0) return;
  appendDeliveryJson(buf_, r);
  ++lines_;
  if (buf_.size() >= flushBytes_) flush();
}

bool DeliveryLog::writeAll(const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      lastError_ = std::string("delivery log write failed: ") + std::strerror(errno);
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool DeliveryLog::flush() {
  if (fd_ < 0 || buf_.empty()) return true;
  bool ok = true;
  if (regularFile_) {
    ok = writeAll(buf_.data(), buf_.size());
  } else {
    // Pipes keep writes of up to PIPE_BUF atomic: cut the buffer into pieces of whole lines within that bound.
    std::size_t start = 0;
    while (ok && start < buf_.size()) {
      std::size_t end = start;
      while (end < buf_.size()) {
        const std::size_t nl = buf_.find('\n', end);
        const std::size_t next = nl == std::string::npos ? buf_.size() : nl + 1;
        if (end != start && next - start > PIPE_BUF) break;
        end = next;
      }
      ok = writeAll(buf_.data() + start, end - start);
      start = end;
    }
  }
  if (!ok) dropped_ += lines_;
  buf_.clear();
  lines_ = 0;
  return ok;
}

}  // namespace sluice::ops
