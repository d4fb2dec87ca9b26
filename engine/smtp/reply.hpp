// reply.hpp: SMTP reply model and the incremental reply parser (RFC 5321 §4.2, RFC 2034/3463).
//
// Owner: the client side of a session. Pure, no I/O: bytes in, Reply values out. One parser per connection,
// single-threaded. Errors are values: a malformed or oversized reply makes next() return Status::Error and the
// parser stays in that state (the connection is unusable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::smtp {

// Named limits for untrusted replies. RFC 5321 §4.5.3.1.5 caps a reply line at 512 octets; real servers exceed it,
// so we accept longer lines up to a hard cap.
struct ReplyLimits {
  std::size_t maxLineLength = 4096;  // octets per line including CRLF
  std::size_t maxLines = 128;        // lines per (multi-line) reply
};

// An enhanced status code class.subject.detail (RFC 3463): each part 1-3 digits.
struct EnhancedCode {
  std::uint16_t cls = 0;
  std::uint16_t subject = 0;
  std::uint16_t detail = 0;
  bool present = false;
  std::string str() const;  // "5.1.1", or "" when absent
  friend bool operator==(const EnhancedCode&, const EnhancedCode&) = default;
};

// What the first digit of a reply code means to a client (RFC 5321 §4.2.1).
enum class ReplyClass { Positive, Intermediate, Transient, Permanent, Invalid };

struct Reply {
  int code = 0;                    // the three-digit code, 100..999
  EnhancedCode enhanced;           // from the first line; class disagreeing with code rewritten to X.0.0
  std::vector<std::string> lines;  // text of each line after "ddd-" / "ddd ", without CRLF, enhanced code included
  ReplyClass klass() const;        // by first digit; first digit outside 2..5 is Invalid
  std::string text() const;        // lines joined with "\n"
  std::string firstLine() const;   // "ddd text" of the first line, for logs
};

// A reply made locally, not received from a peer (a refusal before MAIL, a lost connection): `code` and one
// line "c.s.d text".
Reply localReply(int code, EnhancedCode enhanced, std::string_view text);

// Parses `s` as an enhanced status code at the start of reply text: "d.ddd.ddd" followed by space or end.
// Returns true and fills `out` (present=true) when it is one; `consumed` gets its length.
bool parseEnhancedCode(std::string_view s, EnhancedCode& out, std::size_t& consumed);

// Incremental reply parser: feed() bytes as they arrive, in any segmentation; next() yields complete replies in
// order. Bytes after a complete reply stay buffered for the next one (pipelining).
//
// Line endings: a line ends at LF; one CR right before it is stripped. A bare LF is therefore accepted as a line end
// (lenient on input), and a CR not followed by LF stays in the text as a byte. Text is never validated as UTF-8.
// Syntax per line: three digits (first 1-9), then end of line (bare "ddd", final), "-" (more lines follow) or " ".
// Anything else, a code differing from the first line's, a line longer than limits.maxLineLength (terminator
// included) or more than limits.maxLines lines is an Error. Enhanced codes are read from the first line only;
// for a reply whose first digit is not 2, 4 or 5 an enhanced code is dropped (RFC 3463 defines none there).
class ReplyParser {
 public:
  enum class Status { NeedMore, Ready, Error };

  explicit ReplyParser(ReplyLimits limits = {});

  void feed(std::string_view bytes);
  Status next(Reply& out);

  std::string_view error() const { return error_; }  // why the last Error happened
  std::size_t buffered() const;                       // bytes held that are not yet part of a returned reply
  void reset();                                       // forget buffered bytes and error (e.g. after STARTTLS)

 private:
  // Records `why` as the error and enters the sticky Error state.
  Status fail(std::string_view why);
  // Adds one complete line (without its terminator) to cur_; returns false (after fail()) when it is malformed.
  bool takeLine(std::string_view line, std::size_t wireBytes, bool& final);
  // Drops consumed bytes from the front of buf_ when that is cheap relative to what remains.
  void compact();

  ReplyLimits limits_;
  std::string buf_;
  std::size_t pos_ = 0;  // start of unconsumed bytes in buf_
  std::string error_;
  bool failed_ = false;
  // Added for the incremental parse: each buffered byte is scanned once, lines move into cur_ as they complete.
  std::size_t scan_ = 0;       // offset in buf_ up to which no LF was found (search resumes here)
  Reply cur_;                  // lines of the reply being assembled
  std::size_t curBytes_ = 0;   // wire bytes of the lines already in cur_
};

}  // namespace sluice::smtp
