// bounce.cpp: buildDsn() and its helpers (see bounce.hpp): sanitising untrusted text, folding fields, RFC 5322
// dates, splitting the original into its header section, picking a MIME boundary, and assembling the three parts.
#include "engine/delivery/bounce.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/delivery/idna.hpp"

namespace sluice::delivery {

namespace {

using Action = DsnRecipient::Action;

constexpr std::string_view kCrlf = "\r\n";

// Replaces every CR, LF, other control octet and run of white space with one space, every octet >= 0x80 with '?',
// trims both ends and keeps at most maxLen octets. Untrusted text (a peer's reply) becomes one safe ASCII line.
std::string sanitiseText(std::string_view in, std::size_t maxLen) {
  std::string out;
  out.reserve(std::min(in.size(), maxLen));
  bool pendingSpace = false;
  for (unsigned char c : in) {
    if (out.size() >= maxLen) break;
    if (c < 0x20 || c == 0x20 || c == 0x7f) {
      pendingSpace = !out.empty();
      continue;
    }
    if (pendingSpace) {
      out.push_back(' ');
      pendingSpace = false;
      if (out.size() >= maxLen) break;
    }
    out.push_back(c >= 0x80 ? '?' : static_cast<char>(c));
  }
  return out;
}

// Length of the valid UTF-8 sequence at in[i] (RFC 3629: no overlongs, no surrogates, <= U+10FFFF), 0 if none;
// its code point in *cp.
std::size_t utf8Sequence(std::string_view in, std::size_t i, std::uint32_t* cp) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(in[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (n == 0 || c >= 0xF5 || i + n > in.size()) return 0;
  std::uint32_t v = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  if ((n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) || (n == 4 && (v < 0x10000 || v > 0x10FFFF))) return 0;
  *cp = v;
  return n;
}

// An address for the report: control octets and white space dropped, one pair of enclosing angle brackets
// removed. `utf8` keeps valid UTF-8 as it is (a To: field under RFC 6532); otherwise each non-ASCII character of
// an internationalised address (and its "+", "=", "\") becomes the RFC 6533 §3 utf-8-addr-xtext escape "\x{HEX}",
// ASCII-only for message/delivery-status and the text part. Invalid octets become '?'. *international tells
// whether the address has a non-ASCII character (the utf-8 address type).
std::string sanitiseAddress(std::string_view in, bool utf8 = false, bool* international = nullptr) {
  // An address with a non-ASCII character goes in the utf-8 address type, whose xtext form also escapes the
  // three ASCII characters outside QCHAR: "+", "=" and "\\" (RFC 6533 §3).
  bool intl = false;
  for (std::size_t i = 0; i < in.size() && !intl; ++i) {
    std::uint32_t cp = 0;
    intl = static_cast<unsigned char>(in[i]) >= 0x80 && utf8Sequence(in, i, &cp) != 0;
  }
  if (international) *international = intl;
  std::string out;
  for (std::size_t i = 0; i < in.size() && out.size() < kDsnMaxDiagnostic;) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      if (c > 0x20 && c != 0x7f) {
        if (intl && !utf8 && (c == '\\' || c == '+' || c == '=')) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\x{%X}", static_cast<unsigned>(c));
          out += hex;
        } else {
          out.push_back(static_cast<char>(c));
        }
      }
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t n = utf8Sequence(in, i, &cp);
    if (n == 0) {
      out.push_back('?');
      ++i;
      continue;
    }
    if (utf8) {
      out.append(in.substr(i, n));
    } else {
      char hex[16];
      std::snprintf(hex, sizeof hex, "\\x{%X}", static_cast<unsigned>(cp));
      out += hex;
    }
    i += n;
  }
  if (out.size() >= 2 && out.front() == '<' && out.back() == '>') out = out.substr(1, out.size() - 2);
  return out;
}

// A host name or address literal: only letters, digits and . - _ : [ ] survive.
std::string sanitiseHost(std::string_view in) {
  std::string out;
  for (char c : in) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
    if (ok && out.size() < 255) out.push_back(c);
  }
  return out;
}

// True for an RFC 3463 code: class 2, 4 or 5, then ".subject.detail" of 1-3 digits each.
bool validStatus(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
    if (digits < 1 || digits > 3) return false;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

// The status to report: the caller's when well formed, else the generic code of the action's class.
std::string statusFor(const DsnRecipient& r) {
  std::string s = sanitiseText(r.status, 16);
  if (validStatus(s)) return s;
  switch (r.action) {
    case Action::Failed: return "5.0.0";
    case Action::Delayed: return "4.0.0";
    default: return "2.0.0";
  }
}

// Appends `text` (one line, no CR/LF) as lines of at most `width` octets where spaces allow, each starting with
// `first` (first line) or `rest` (later lines), each ending in CRLF. A word too long for kDsnMaxLine is cut.
void appendWrapped(std::string& out, std::string_view first, std::string_view rest, std::string_view text,
                   std::size_t width) {
  std::string line(first);
  bool lineHasWord = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) continue;
    const std::size_t sep = lineHasWord ? 1 : 0;
    if (lineHasWord && line.size() + sep + word.size() > width) {
      out.append(line).append(kCrlf);
      line.assign(rest);
      lineHasWord = false;
    }
    if (lineHasWord) line.push_back(' ');
    // A word that cannot fit in a legal line is cut into pieces, each on a line of its own.
    while (line.size() + word.size() > kDsnMaxLine) {
      const std::size_t room = kDsnMaxLine - line.size();
      line.append(word.substr(0, room));
      out.append(line).append(kCrlf);
      line.assign(rest);
      word.remove_prefix(room);
    }
    line.append(word);
    lineHasWord = true;
  }
  out.append(line).append(kCrlf);
}

// Appends a header field "Name: value", folded at spaces (RFC 5322 §2.2.3); continuation lines start with a space.
void appendField(std::string& out, std::string_view name, std::string_view value) {
  std::string first(name);
  first.append(": ");
  appendWrapped(out, first, " ", value, kDsnFoldWidth);
}

std::string twoDigits(unsigned v) {
  char buf[4];
  std::snprintf(buf, sizeof buf, "%02u", v % 100);
  return buf;
}

std::string hex(std::uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

// The original's lines, split at CRLF, bare LF or bare CR (a bare CR or LF is treated as a line end).
struct Original {
  std::vector<std::string_view> headerLines;  // up to, not including, the empty line that ends the header section
  std::vector<std::string_view> allLines;     // every line (without the final empty piece after a last CRLF)
  bool binary = false;                        // NUL octet or a line over kDsnMaxLine anywhere
};

Original splitOriginal(std::string_view msg) {
  Original o;
  bool inHeaders = true;
  std::size_t pos = 0;
  while (pos < msg.size()) {
    std::size_t end = pos;
    while (end < msg.size() && msg[end] != '\r' && msg[end] != '\n') ++end;
    std::string_view line = msg.substr(pos, end - pos);
    if (end < msg.size() && msg[end] == '\r' && end + 1 < msg.size() && msg[end + 1] == '\n') {
      pos = end + 2;
    } else {
      pos = end + 1;
    }
    if (line.size() > kDsnMaxLine || line.find('\0') != std::string_view::npos) o.binary = true;
    o.allLines.push_back(line);
    if (inHeaders) {
      if (line.empty()) {
        inHeaders = false;
      } else {
        o.headerLines.push_back(line);
      }
    }
  }
  return o;
}

bool hasEightBit(const std::vector<std::string_view>& lines) {
  for (std::string_view l : lines)
    for (unsigned char c : l)
      if (c >= 0x80) return true;
  return false;
}

// Appends lines as CRLF lines; in header-only mode NUL octets are dropped and over-long lines cut at kDsnMaxLine.
void appendLines(std::string& out, const std::vector<std::string_view>& lines) {
  for (std::string_view l : lines) {
    std::string_view cut = l.substr(0, std::min(l.size(), kDsnMaxLine));
    for (char c : cut)
      if (c != '\0') out.push_back(c);
    out.append(kCrlf);
  }
}

// The most serious action present decides the Subject.
Action headlineAction(const std::vector<DsnRecipient>& rs) {
  auto has = [&](Action a) { return std::any_of(rs.begin(), rs.end(), [&](const DsnRecipient& r) { return r.action == a; }); };
  if (has(Action::Failed)) return Action::Failed;
  if (has(Action::Delayed)) return Action::Delayed;
  if (has(Action::Delivered) || has(Action::Expanded)) return Action::Delivered;
  return Action::Relayed;
}

const char* subjectFor(Action a) {
  switch (a) {
    case Action::Failed: return "Undelivered Mail Returned to Sender";
    case Action::Delayed: return "Delayed Mail (still being retried)";
    case Action::Relayed: return "Mail relayed";
    default: return "Successful Mail Delivery Report";
  }
}

// One sentence per action present, for the human-readable part.
const char* introFor(Action a) {
  switch (a) {
    case Action::Failed:
      return "Your message could not be delivered to the recipients marked \"failed\" below. Delivery to them will "
             "not be attempted again.";
    case Action::Delayed:
      return "Your message has not yet been delivered to the recipients marked \"delayed\" below. Delivery will be "
             "attempted again; you do not need to send the message again.";
    case Action::Delivered:
      return "Your message was delivered to the recipients marked \"delivered\" below, as you asked to be told.";
    case Action::Relayed:
      return "Your message was passed on to a system that does not send delivery reports, for the recipients marked "
             "\"relayed\" below. No further notice will come from there.";
    case Action::Expanded:
      return "Your message was delivered to the recipients marked \"expanded\" below and forwarded from there to "
             "further addresses.";
  }
  return "";
}

struct CleanRecipient {
  std::string finalRecipient, originalRecipient, status, remoteMta, diagnostic;
  const DsnRecipient* src;
  bool international = false;  // finalRecipient is in the utf-8 address type (RFC 6533 §3)
};

std::string buildText(const std::string& mta, const std::vector<CleanRecipient>& rs, bool fullReturned) {
  std::string t;
  appendWrapped(t, "", "", "This is the mail system at host " + mta + ".", kDsnFoldWidth);
  t.append(kCrlf);
  for (Action a : {Action::Failed, Action::Delayed, Action::Delivered, Action::Expanded, Action::Relayed}) {
    if (std::none_of(rs.begin(), rs.end(), [&](const CleanRecipient& r) { return r.src->action == a; })) continue;
    appendWrapped(t, "", "", introFor(a), kDsnFoldWidth);
    t.append(kCrlf);
  }
  appendWrapped(t, "", "",
                fullReturned ? "Your original message is attached below."
                             : "The header of your original message is attached below.",
                kDsnFoldWidth);
  t.append(kCrlf);
  for (const CleanRecipient& r : rs) {
    appendWrapped(t, "", "    ", "<" + r.finalRecipient + ">: " + dsnActionName(r.src->action) + ", status " + r.status,
                  kDsnFoldWidth);
    if (!r.diagnostic.empty()) {
      std::string said = (r.remoteMta.empty() ? std::string("The remote host") : "Host " + r.remoteMta) +
                         " said: " + r.diagnostic;
      appendWrapped(t, "    ", "    ", said, kDsnFoldWidth);
    }
    if (r.src->action == Action::Delayed && r.src->willRetryUntilMs != 0)
      appendWrapped(t, "    ", "    ", "Delivery will be attempted until " + rfc5322Date(r.src->willRetryUntilMs) + ".",
                    kDsnFoldWidth);
    t.append(kCrlf);
  }
  return t;
}

std::string buildStatus(const DsnInput& in, const std::string& mta, const std::vector<CleanRecipient>& rs) {
  std::string s;
  appendField(s, "Reporting-MTA", "dns; " + mta);
  const std::string envid = sanitiseText(in.originalEnvelopeId, kDsnMaxDiagnostic);
  if (!envid.empty()) appendField(s, "Original-Envelope-Id", envid);
  appendField(s, "Arrival-Date", rfc5322Date(in.arrivalMs));
  for (const CleanRecipient& r : rs) {
    s.append(kCrlf);
    if (!r.originalRecipient.empty()) appendField(s, "Original-Recipient", r.originalRecipient);
    appendField(s, "Final-Recipient", (r.international ? "utf-8; " : "rfc822; ") + r.finalRecipient);
    appendField(s, "Action", dsnActionName(r.src->action));
    appendField(s, "Status", r.status);
    if (!r.remoteMta.empty()) appendField(s, "Remote-MTA", "dns; " + r.remoteMta);
    if (!r.diagnostic.empty()) appendField(s, "Diagnostic-Code", "smtp; " + r.diagnostic);
    if (r.src->lastAttemptMs != 0) appendField(s, "Last-Attempt-Date", rfc5322Date(r.src->lastAttemptMs));
    if (r.src->action == Action::Delayed && r.src->willRetryUntilMs != 0)
      appendField(s, "Will-Retry-Until", rfc5322Date(r.src->willRetryUntilMs));
  }
  return s;
}

bool fail(std::string* error, const char* why) {
  if (error != nullptr) *error = why;
  return false;
}

}  // namespace

const char* dsnActionName(DsnRecipient::Action action) {
  switch (action) {
    case Action::Failed: return "failed";
    case Action::Delayed: return "delayed";
    case Action::Delivered: return "delivered";
    case Action::Relayed: return "relayed";
    case Action::Expanded: return "expanded";
  }
  return "failed";
}

std::string rfc5322Date(std::int64_t unixMs) {
  using namespace std::chrono;
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_time<milliseconds> tp{milliseconds{unixMs}};
  const sys_days day = floor<days>(tp);
  const year_month_day ymd{day};
  const weekday wd{day};
  const auto secs = duration_cast<seconds>(floor<seconds>(tp) - day).count();  // 0..86399
  std::string out = kDays[wd.c_encoding()];
  out += ", " + std::to_string(static_cast<unsigned>(ymd.day())) + " " +
         kMonths[static_cast<unsigned>(ymd.month()) - 1] + " " + std::to_string(static_cast<int>(ymd.year())) + " ";
  out += twoDigits(static_cast<unsigned>(secs / 3600)) + ":" + twoDigits(static_cast<unsigned>(secs / 60 % 60)) +
         ":" + twoDigits(static_cast<unsigned>(secs % 60)) + " +0000";
  return out;
}

std::optional<DsnMessage> buildDsn(const DsnInput& in, std::string* error) {
  // The report's To: keeps a UTF-8 mailbox as it is (RFC 6532: the report then needs SMTPUTF8, as the sender's
  // address does anyway); an internationalised domain alone goes as A-labels so no SMTPUTF8 is needed.
  const std::string sender = asciiDomainAddress(sanitiseAddress(in.originalSender, true));
  if (sender.empty()) {
    fail(error, "null reverse-path: a report is never sent about a report (RFC 5321 6.1, RFC 3464 2)");
    return std::nullopt;
  }
  if (in.recipients.empty()) {
    fail(error, "no recipients to report on");
    return std::nullopt;
  }
  const std::string mta = sanitiseHost(in.reportingMta);
  if (mta.empty()) {
    fail(error, "reporting MTA name is empty");
    return std::nullopt;
  }
  std::string idDomain = sanitiseHost(in.messageIdDomain);
  if (idDomain.empty()) idDomain = mta;

  std::vector<CleanRecipient> rs;
  rs.reserve(in.recipients.size());
  for (const DsnRecipient& r : in.recipients) {
    bool international = false;
    std::string final = sanitiseAddress(r.finalRecipient, false, &international);
    CleanRecipient c{std::move(final), sanitiseText(r.originalRecipient, kDsnMaxDiagnostic), statusFor(r),
                     sanitiseHost(r.remoteMta), sanitiseText(r.diagnostic, kDsnMaxDiagnostic), &r, international};
    // An ORCPT without its address type gets the only type RFC 3461 defines for SMTP.
    if (!c.originalRecipient.empty() && c.originalRecipient.find(';') == std::string::npos)
      c.originalRecipient = "rfc822;" + c.originalRecipient;
    rs.push_back(std::move(c));
  }

  // What is returned: the whole original when asked, small enough and free of NULs and over-long lines.
  const Original orig = splitOriginal(in.originalMessage);
  const bool full = in.ret == DsnInput::Return::Full && in.originalMessage.size() <= in.fullLimit && !orig.binary;
  const std::vector<std::string_view>& returned = full ? orig.allLines : orig.headerLines;
  DsnMessage msg;
  msg.eightBit = hasEightBit(returned);

  const std::string text = buildText(mta, rs, full);
  const std::string status = buildStatus(in, mta, rs);
  std::string original;
  original.reserve(full ? in.originalMessage.size() + 64 : 4096);
  appendLines(original, returned);
  if (!full) original.append(kCrlf);  // the empty line that ends a header section

  // A boundary that occurs in none of the parts (RFC 2046 §5.1.1); the counter moves on until one is free.
  std::string boundary;
  for (std::uint64_t n = 0;; ++n) {
    boundary = "=_dsn_" + hex(in.uniqueId) + "_" + hex(static_cast<std::uint64_t>(in.nowMs)) + "_" + hex(n);
    if (text.find(boundary) == std::string::npos && status.find(boundary) == std::string::npos &&
        original.find(boundary) == std::string::npos)
      break;
  }

  std::string& b = msg.bytes;
  b.reserve(text.size() + status.size() + original.size() + 2048);
  appendField(b, "From", "Mail Delivery System <MAILER-DAEMON@" + mta + ">");
  appendField(b, "To", "<" + sender + ">");
  appendField(b, "Subject", subjectFor(headlineAction(in.recipients)));
  appendField(b, "Date", rfc5322Date(in.nowMs));
  appendField(b, "Message-ID", "<" + hex(in.uniqueId) + "." + std::to_string(in.nowMs) + ".dsn@" + idDomain + ">");
  appendField(b, "MIME-Version", "1.0");
  appendField(b, "Auto-Submitted", "auto-replied");
  appendField(b, "Content-Type", "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
  if (msg.eightBit) appendField(b, "Content-Transfer-Encoding", "8bit");
  b.append(kCrlf);
  b.append("This is a MIME-encapsulated message.").append(kCrlf).append(kCrlf);

  b.append("--").append(boundary).append(kCrlf);
  appendField(b, "Content-Description", "Notification");
  appendField(b, "Content-Type", "text/plain; charset=us-ascii");
  b.append(kCrlf).append(text);

  b.append("--").append(boundary).append(kCrlf);
  appendField(b, "Content-Description", "Delivery report");
  appendField(b, "Content-Type", "message/delivery-status");
  b.append(kCrlf).append(status).append(kCrlf);

  b.append("--").append(boundary).append(kCrlf);
  appendField(b, "Content-Description", full ? "Original message" : "Original message headers");
  appendField(b, "Content-Type", full ? "message/rfc822" : "text/rfc822-headers");
  if (msg.eightBit) appendField(b, "Content-Transfer-Encoding", "8bit");
  b.append(kCrlf).append(original);
  b.append("--").append(boundary).append("--").append(kCrlf);
  return msg;
}

}  // namespace sluice::delivery
