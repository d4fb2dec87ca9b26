// mime.hpp: the MIME side of delivery (RFC 2045/2046, RFC 6152, RFC 3030): classifying a message once at intake,
// and converting it for a peer that cannot take it as it is, without copying it.
//
// classify() looks at a whole message (header + body, CRLF line endings) and returns the flags stored with it in
// the spool record's flags byte. convert() plans a conversion: a short list of pieces, each either a slice of the
// original, a literal (a rewritten header field), or a slice to re-encode (quoted-printable or base64). The plan
// knows its exact output size (for SIZE) before a byte is produced; a Cursor then produces the output chunk by
// chunk, so the converted message never exists whole in memory. Several cursors may read one plan at once.
//
// Ownership: a Conversion holds views into the message it was planned from; the caller keeps that memory alive
// (the pinned spool mapping) for as long as the Conversion and its cursors live.
// Threads: pure functions; a Conversion is immutable and may be shared between threads; a Cursor is one thread's.
// Errors: a message that cannot be converted is a Refusal value (code, enhanced code, text), never an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sluice::mime {

// ---- classification (the spool record's flags byte)
inline constexpr std::uint8_t kClassified = 0x01;       // the other bits are meaningful (0 = never classified)
inline constexpr std::uint8_t kEightBit = 0x02;         // some body octet is >= 0x80
inline constexpr std::uint8_t kBinary = 0x04;           // a NUL or a line over 998 octets (CRLF excluded) in the
                                                        // body, or a top-level header line over 998 octets
inline constexpr std::uint8_t kEightBitHeaders = 0x08;  // some top-level header octet is >= 0x80 (needs SMTPUTF8)
inline constexpr std::uint8_t kMime = 0x10;             // a MIME-Version field is in the top-level header

// Classifies a whole message (header, blank line, body). A message without a blank line is all header.
std::uint8_t classify(std::string_view message);

// Intake's header repair (submission only; a relay never repairs, RFC 5321 §6.4): folds every top-level header
// line over 998 octets at white space (RFC 5322 §2.2.3), leaving a line with no usable white space as it is.
// The message must have CRLF line endings. Returns how many line breaks were inserted.
std::size_t foldLongHeaderLines(std::string& message);

namespace detail {
// Folds every line of a header section (no empty line inside) that is over 998 octets, into out. False when
// some line cannot be brought within the limit (out then holds what could be done).
bool foldHeaderText(std::string_view in, std::string& out);
}  // namespace detail

// ---- conversion
enum class Target : std::uint8_t {
  SevenBit,   // for a peer without 8BITMIME: every octet < 0x80, no NUL, lines <= 998 (RFC 5321 §2.4)
  EightBit,   // for an 8BITMIME peer without BINARYMIME: 8-bit text may stay, NUL and long lines may not
};

// What to do with 8-bit content in a message without MIME-Version (nothing says what it is).
enum class NonMimePolicy : std::uint8_t {
  Bounce,                // refuse with 554 5.6.3
  WrapQuotedPrintable,   // add MIME-Version, Content-Type: text/plain; charset=utf-8, CTE quoted-printable
};

struct ConvertOptions {
  Target target = Target::SevenBit;
  NonMimePolicy nonMime = NonMimePolicy::Bounce;
  std::size_t maxDepth = 32;  // nesting of multiparts / message/rfc822 beyond which the message is refused
};

// Why a message cannot be converted: e.g. {554, "5.6.3", "8-bit content inside message/partial"}.
struct Refusal {
  int code = 554;
  std::string enhanced = "5.6.3";
  std::string text;
};

enum class Encoding : std::uint8_t { QuotedPrintable, Base64 };

class Conversion;

// ---- encoders (also used by the benchmark). Both are streaming: feed input in pieces of any size.
// Quoted-printable per RFC 2045 §6.7: CRLF in the input is a hard line break, every other CR / LF and every
// octet outside 33..126 (except space / tab not at a line end) and "=" is =XX, lines at most 76 characters with
// soft breaks. The output never ends with a soft break; it ends where the input ends.
class QuotedPrintableEncoder {
 public:
  // Appends the encoding of in to out. `last` marks the end of the input (flushes held white space / CR).
  void encode(std::string_view in, bool last, std::string& out);
  // Output octets the encoding of the whole of in takes (no output kept).
  static std::uint64_t measure(std::string_view in);

 private:
  int col_ = 0;          // output column in the current line
  char heldWs_ = 0;      // a space or tab whose encoding depends on what follows; 0 when none
  bool heldCr_ = false;  // a CR that is a hard line break only if an LF follows
};

// Base64 per RFC 2045 §6.8: lines of 76 characters separated by CRLF; no CRLF after the last line.
class Base64Encoder {
 public:
  void encode(std::string_view in, bool last, std::string& out);
  static std::uint64_t measure(std::uint64_t inputSize);

 private:
  unsigned char carry_[3] = {0, 0, 0};
  int carried_ = 0;
  int col_ = 0;
};

// Re-escapes a part labelled quoted-printable whose text nevertheless holds raw octets a 7-bit or 8-bit-safe
// path cannot carry (>= 0x80, NUL, a lone CR or LF) or lines over 76: those octets become =XX and soft breaks
// "=\r\n" keep every line at most 76 characters. What the part decodes to is unchanged (a lenient decoder reads a
// raw octet as itself; a soft break decodes to nothing); existing =XX escapes and soft breaks are never split.
class QuotedPrintableRequoter {
 public:
  void encode(std::string_view in, bool last, std::string& out);
  static std::uint64_t measure(std::string_view in);

 private:
  void token(std::string_view t, bool breakable, std::string& out);
  int col_ = 0;
  int escapeLeft_ = 0;   // characters of an existing "=XX" still to copy
  bool heldCr_ = false;  // a CR that is a line break only if an LF follows
};

// Re-wraps a part labelled base64 whose text holds octets outside the base64 alphabet (8-bit, NUL) or lines over
// 76: only alphabet characters and "=" are kept (what RFC 2045 §6.8 decoders read anyway), in lines of 76.
class Base64Rewrapper {
 public:
  void encode(std::string_view in, bool last, std::string& out);
  static std::uint64_t measure(std::string_view in);

 private:
  int col_ = 0;
};

// Produces a Conversion's output from its start, chunk by chunk.
class Cursor {
 public:
  explicit Cursor(std::shared_ptr<const Conversion> plan);
  // Writes up to max octets of output to out; returns how many (0 only at the end, or when max is 0).
  std::size_t read(char* out, std::size_t max);
  // True once every octet was produced.
  bool done() const;

 private:
  void nextPiece();

  std::shared_ptr<const Conversion> plan_;
  std::size_t piece_ = 0;    // current piece
  std::uint64_t inPos_ = 0;  // Copy / Literal: octets produced; QuotedPrintable / Base64: input octets encoded
  bool flushed_ = false;     // the encoder of the current piece was given its last input
  QuotedPrintableEncoder qp_;
  Base64Encoder b64_;
  QuotedPrintableRequoter requote_;
  Base64Rewrapper rewrap_;
  std::string pending_;      // encoded octets produced but not yet returned (bounded: one block's encoding)
  std::size_t pendingOff_ = 0;
};

// One element of a plan.
struct Piece {
  // Requote / Rewrap64: a part already labelled quoted-printable / base64 repaired in place (see the classes).
  enum class Kind : std::uint8_t { Copy, Literal, QuotedPrintable, Base64, Requote, Rewrap64 };
  Kind kind = Kind::Copy;
  std::string_view input;  // Copy: the octets to copy; otherwise the octets to encode
  std::string literal;     // Literal: the octets to emit
  std::uint64_t outSize = 0;  // octets this piece produces
};

class Conversion : public std::enable_shared_from_this<Conversion> {
 public:
  // Exact number of octets the output has (what SIZE must declare).
  std::uint64_t size() const { return size_; }
  // True when the output still holds octets >= 0x80 (only with Target::EightBit): send BODY=8BITMIME.
  bool eightBit() const { return eightBit_; }
  // Leaves re-encoded, by encoding (for the log and the tests).
  unsigned quotedPrintableLeaves() const { return qpLeaves_; }
  unsigned base64Leaves() const { return b64Leaves_; }
  // True when the message had no MIME structure and was wrapped (NonMimePolicy::WrapQuotedPrintable).
  bool wrapped() const { return wrapped_; }
  // The plan itself (read by Cursor, and by tests).
  const std::vector<Piece>& pieces() const { return pieces_; }
  // A cursor from the start of the output.
  Cursor open() const { return Cursor(shared_from_this()); }

 private:
  friend class Planner;
  std::vector<Piece> pieces_;
  std::uint64_t size_ = 0;
  bool eightBit_ = false;
  unsigned qpLeaves_ = 0, b64Leaves_ = 0;
  bool wrapped_ = false;
};

using ConvertResult = std::variant<std::shared_ptr<const Conversion>, Refusal>;

// Plans the conversion of a whole message for `options.target`. Leaves that already suit the target are copied;
// 8-bit or binary leaves are re-encoded: text/* with whichever of quoted-printable and base64 is shorter for
// that part (both sizes are counted), anything else with base64. Containers (multipart/*, message/rfc822) are
// never encoded: they are walked and relabelled 7bit (8bit for Target::EightBit when 8-bit octets remain).
// Refused (554): 8-bit octets in the top-level header for Target::SevenBit (5.6.7, needs SMTPUTF8); 8-bit content
// in message/partial or message/external-body, 8-bit octets in a nested part's header for Target::SevenBit, a NUL
// in any header, non-MIME 8-bit under NonMimePolicy::Bounce, nesting deeper than maxDepth (all 5.6.3).
ConvertResult convert(std::string_view message, const ConvertOptions& options);

}  // namespace sluice::mime
