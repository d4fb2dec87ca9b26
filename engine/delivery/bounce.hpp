// bounce.hpp: builds delivery status notifications (bounces, delay and success reports) as complete messages.
//
// Formats: RFC 3464 (multipart/report; report-type=delivery-status, RFC 6522), RFC 3461 (ENVID, ORCPT, RET),
// RFC 3463 status codes, RFC 5322 header fields and dates, RFC 3834 Auto-Submitted.
// Owner: the delivery engine, on its loop thread, when a recipient's outcome calls for a report (the NOTIFY decision
// is the caller's). Pure: no I/O, no clock (times come in as Unix milliseconds), no global state; any thread may call.
// Errors: buildDsn() returns std::nullopt and sets *error (when error is not null) for input it must not turn into
// a message: a null reverse-path (never bounce a bounce), no recipients, no reporting MTA name. Untrusted text (the
// peer's reply, addresses) is sanitised, never rejected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::delivery {

// One recipient's block in the report (RFC 3464 §2.3).
struct DsnRecipient {
  std::string finalRecipient;     // the address delivery was attempted to (Final-Recipient: rfc822; addr)
  std::string originalRecipient;  // ORCPT as given, decoded from xtext, e.g. "rfc822;a@b"; empty = field omitted
  enum class Action { Failed, Delayed, Delivered, Relayed, Expanded } action = Action::Failed;
  std::string status;              // RFC 3463 "5.1.1"; empty or malformed becomes 5.0.0 / 4.0.0 / 2.0.0 by action
  std::string remoteMta;           // host name of the peer that answered; empty = Remote-MTA omitted
  std::string diagnostic;          // the peer's reply, e.g. "550 5.1.1 no such user"; empty = Diagnostic-Code omitted
  std::int64_t lastAttemptMs = 0;  // Unix ms; 0 = Last-Attempt-Date omitted
  std::int64_t willRetryUntilMs = 0;  // Unix ms, Delayed only; 0 = Will-Retry-Until omitted
};

// Everything one report is built from; one report covers recipients of one original message.
struct DsnInput {
  std::string reportingMta;        // our host name: From's domain and Reporting-MTA; must be non-empty
  std::string originalEnvelopeId;  // ENVID decoded from xtext; empty = Original-Envelope-Id omitted
  std::int64_t arrivalMs = 0;      // when the original was accepted (Arrival-Date)
  std::int64_t nowMs = 0;          // the report's Date
  std::string originalSender;      // the reverse-path; the report's To. Empty or "<>" is refused.
  std::vector<DsnRecipient> recipients;  // at least one
  std::string_view originalMessage;      // the original, CRLF line endings (bare CR/LF are normalised anyway)
  enum class Return { Headers, Full } ret = Return::Headers;  // RET=HDRS / RET=FULL
  std::size_t fullLimit = 50 * 1024;  // a Full original larger than this octet count is returned as headers only
  std::string messageIdDomain;        // right side of the report's Message-ID; empty = reportingMta
  std::uint64_t uniqueId = 0;         // makes the Message-ID and the MIME boundary unique; e.g. a queue id
};

// A finished report, ready to be queued with MAIL FROM:<> to the original sender.
struct DsnMessage {
  std::string bytes;  // the complete RFC 5322 message: CRLF line endings, every line <= 998 octets
  bool eightBit = false;  // the returned original has 8-bit octets: send with BODY=8BITMIME (or downgrade)
};

// Named bounds on what goes into a report.
inline constexpr std::size_t kDsnMaxLine = 998;          // RFC 5322 §2.1.1 hard limit, CRLF excluded
inline constexpr std::size_t kDsnFoldWidth = 78;         // preferred line width when folding fields and text
inline constexpr std::size_t kDsnMaxDiagnostic = 8192;   // octets of a peer's reply kept per recipient

// Builds the report. Returns std::nullopt and sets *error (if error != nullptr) when originalSender is empty or
// "<>" (RFC 5321 §6.1, RFC 3464 §2: a report is never sent about a report), when recipients is empty, or when
// reportingMta is empty. Subject by the most serious action present: Failed > Delayed > Delivered/Expanded > Relayed.
std::optional<DsnMessage> buildDsn(const DsnInput& input, std::string* error);

// "failed", "delayed", "delivered", "relayed", "expanded" (RFC 3464 §2.3.3).
const char* dsnActionName(DsnRecipient::Action action);

// RFC 5322 §3.3 date-time in UTC, e.g. "Sun, 29 Nov 2026 05:54:06 +0000"; milliseconds are dropped.
std::string rfc5322Date(std::int64_t unixMs);

}  // namespace sluice::delivery
