// reply.cpp: the SMTP reply model and the incremental, segmentation-proof reply parser (RFC 5321 §4.2,
// enhanced status codes per RFC 2034 / RFC 3463). Bytes in, Reply values out; no I/O, no exceptions.
#include "engine/smtp/reply.hpp"

#include <cstring>

#include "engine/smtp/ascii.hpp"

namespace sluice::smtp {

namespace {

// True for an ASCII decimal digit.
constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Reads 1-3 digits at s[i...]; returns the count read (0 when none) and the value in `value`.
std::size_t readDigits(std::string_view s, std::size_t i, std::uint16_t& value) {
  std::size_t n = 0;
  value = 0;
  while (i + n < s.size() && n < 3 && isDigit(s[i + n])) {
    value = static_cast<std::uint16_t>(value * 10 + (s[i + n] - '0'));
    ++n;
  }
  return n;
}

}  // namespace

// Formats the code as "c.s.d", or "" when absent.
std::string EnhancedCode::str() const {
  std::string out;
  if (!present) return out;
  appendDecimal(out, cls);
  out.push_back('.');
  appendDecimal(out, subject);
  out.push_back('.');
  appendDecimal(out, detail);
  return out;
}

// Maps the reply code's first digit to its meaning for a client.
ReplyClass Reply::klass() const {
  switch (code / 100) {
    case 2: return ReplyClass::Positive;
    case 3: return ReplyClass::Intermediate;
    case 4: return ReplyClass::Transient;
    case 5: return ReplyClass::Permanent;
    default: return ReplyClass::Invalid;
  }
}

// Joins the text of all lines with "\n".
std::string Reply::text() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i != 0) out.push_back('\n');
    out += lines[i];
  }
  return out;
}

// Returns "ddd text" for the first line (just "ddd" when that line has no text).
Reply localReply(int code, EnhancedCode enhanced, std::string_view text) {
  Reply r;
  r.code = code;
  r.enhanced = enhanced;
  std::string line = enhanced.str();
  line += ' ';
  line += text;
  r.lines.push_back(std::move(line));
  return r;
}

std::string Reply::firstLine() const {
  std::string out;
  appendDecimal(out, static_cast<unsigned>(code));
  if (!lines.empty() && !lines.front().empty()) {
    out.push_back(' ');
    out += lines.front();
  }
  return out;
}

// Recognises "c.s.d" (class one digit 2/4/5, subject and detail 1-3 digits) followed by a space or the end.
bool parseEnhancedCode(std::string_view s, EnhancedCode& out, std::size_t& consumed) {
  if (s.size() < 5) return false;
  if (s[0] != '2' && s[0] != '4' && s[0] != '5') return false;
  if (s[1] != '.') return false;
  std::uint16_t subject = 0, detail = 0;
  std::size_t i = 2;
  std::size_t n = readDigits(s, i, subject);
  if (n == 0) return false;
  i += n;
  if (i >= s.size() || s[i] != '.') return false;
  ++i;
  n = readDigits(s, i, detail);
  if (n == 0) return false;
  i += n;
  if (i < s.size() && s[i] != ' ') return false;  // a fourth digit or any other byte: not a code
  out.cls = static_cast<std::uint16_t>(s[0] - '0');
  out.subject = subject;
  out.detail = detail;
  out.present = true;
  consumed = i;
  return true;
}

// Builds a parser with the given limits.
ReplyParser::ReplyParser(ReplyLimits limits) : limits_(limits) {}

// Appends bytes that arrived from the peer; ignored once the parser has failed.
void ReplyParser::feed(std::string_view bytes) {
  if (failed_ || bytes.empty()) return;
  compact();
  buf_.append(bytes.data(), bytes.size());
}

// Number of bytes received but not yet returned as part of a reply.
std::size_t ReplyParser::buffered() const { return curBytes_ + (buf_.size() - pos_); }

// Forgets all state: buffered bytes, a half-assembled reply and any error.
void ReplyParser::reset() {
  buf_.clear();
  pos_ = 0;
  scan_ = 0;
  error_.clear();
  failed_ = false;
  cur_ = Reply{};
  curBytes_ = 0;
}

// Records the error and makes it sticky.
ReplyParser::Status ReplyParser::fail(std::string_view why) {
  failed_ = true;
  error_.assign(why.data(), why.size());
  return Status::Error;
}

// Drops consumed bytes when the buffer is empty, or when the consumed prefix is at least half of it (amortised O(1)).
void ReplyParser::compact() {
  if (pos_ == 0) return;
  if (pos_ == buf_.size()) {
    buf_.clear();
  } else if (pos_ * 2 >= buf_.size() || pos_ >= 65536) {
    buf_.erase(0, pos_);
  } else {
    return;
  }
  scan_ -= pos_;
  pos_ = 0;
}

// Validates one line and moves its text into cur_; sets `final` when it ends the reply.
bool ReplyParser::takeLine(std::string_view line, std::size_t wireBytes, bool& final) {
  if (line.size() < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) || line[0] == '0') {
    fail("reply line does not start with a three-digit code 100..999");
    return false;
  }
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  std::string_view text;
  if (line.size() == 3) {
    final = true;  // bare "ddd"
  } else if (line[3] == ' ') {
    final = true;
    text = line.substr(4);
  } else if (line[3] == '-') {
    final = false;
    text = line.substr(4);
  } else {
    fail("reply code not followed by space, hyphen or end of line");
    return false;
  }
  if (cur_.lines.empty()) {
    cur_.code = code;
    EnhancedCode ec;
    std::size_t used = 0;
    if (parseEnhancedCode(text, ec, used)) {
      const int first = code / 100;
      if (first == 2 || first == 4 || first == 5) {
        // RFC 3463 §2: the reply code wins; a disagreeing class becomes X.0.0.
        if (ec.cls != first) ec = EnhancedCode{static_cast<std::uint16_t>(first), 0, 0, true};
        cur_.enhanced = ec;
      }
    }
  } else if (code != cur_.code) {
    fail("lines of one multi-line reply carry different codes");
    return false;
  }
  if (cur_.lines.size() >= limits_.maxLines) {
    fail("multi-line reply has more lines than ReplyLimits::maxLines");
    return false;
  }
  cur_.lines.emplace_back(text);
  curBytes_ += wireBytes;
  return true;
}

// Assembles the next complete reply from buffered bytes, scanning each byte at most once.
ReplyParser::Status ReplyParser::next(Reply& out) {
  if (failed_) return Status::Error;
  for (;;) {
    const char* base = buf_.data();
    const std::size_t end = buf_.size();
    const void* hit = scan_ < end ? std::memchr(base + scan_, '\n', end - scan_) : nullptr;
    if (hit == nullptr) {
      scan_ = end;
      // An unterminated line of L bytes needs at least L+1 on the wire.
      if (end - pos_ >= limits_.maxLineLength) return fail("reply line longer than ReplyLimits::maxLineLength");
      return Status::NeedMore;
    }
    const std::size_t lf = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
    const std::size_t wire = lf + 1 - pos_;
    if (wire > limits_.maxLineLength) return fail("reply line longer than ReplyLimits::maxLineLength");
    std::size_t textEnd = lf;
    if (textEnd > pos_ && base[textEnd - 1] == '\r') --textEnd;
    bool final = false;
    if (!takeLine(std::string_view(base + pos_, textEnd - pos_), wire, final)) return Status::Error;
    pos_ = lf + 1;
    scan_ = pos_;
    if (final) {
      out = std::move(cur_);
      cur_ = Reply{};
      curBytes_ = 0;
      return Status::Ready;
    }
  }
}

}  // namespace sluice::smtp
