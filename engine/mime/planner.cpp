// planner.cpp: convert(): the walk over a message's MIME tree (RFC 2045, RFC 2046 §5.1, RFC 6152 §3) that
// produces a Conversion's pieces: slices to copy, rewritten Content-Transfer-Encoding fields, and leaves to
// re-encode. The walk reads the message once per nesting level, allocates per part only its header's field
// list, and recurses at most min(maxDepth, kHardDepth) levels deep.
// Threads: a Planner is a local of one convert() call. Errors: a Refusal value, never an exception.
#include <algorithm>
#include <cstring>
#include <optional>

#include "engine/mime/headers.hpp"
#include "engine/mime/mime.hpp"
#include "engine/mime/scan.hpp"

namespace sluice::mime {

namespace {

using detail::ContentType;
using detail::Header;
using detail::Scan;

// Whatever maxDepth says, the walk never recurses deeper than this (stack safety).
constexpr std::size_t kHardDepth = 200;

constexpr std::string_view kCteName = "Content-Transfer-Encoding: ";

std::string cteField(std::string_view mechanism) {
  std::string s(kCteName);
  s += mechanism;
  s += "\r\n";
  return s;
}

bool endsWithCrlf(std::string_view s) { return s.size() >= 2 && s[s.size() - 2] == '\r' && s.back() == '\n'; }

// A boundary delimiter line found in a multipart body (RFC 2046 §5.1.1).
struct Delimiter {
  std::size_t start = 0;  // where the delimiter starts: the CRLF before the "--" (it belongs to the delimiter)
  std::size_t end = 0;    // after the line's CRLF (or the body's end)
  bool close = false;     // "--boundary--"
};

// Finds the first delimiter line of boundary in body whose line starts at or after `from` (a line start).
// The CRLF before the line is part of the delimiter, but never reaches back before `from`.
std::optional<Delimiter> findDelimiter(std::string_view body, std::string_view boundary, std::size_t from) {
  std::size_t ls = from;
  while (ls < body.size()) {
    const std::size_t rest = body.size() - ls;
    if (rest >= boundary.size() + 2 && body[ls] == '-' && body[ls + 1] == '-' &&
        body.compare(ls + 2, boundary.size(), boundary) == 0) {
      std::size_t i = ls + 2 + boundary.size();
      bool close = false;
      if (i + 1 < body.size() && body[i] == '-' && body[i + 1] == '-') {
        close = true;
        i += 2;
      }
      while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;  // transport padding
      std::size_t lineEnd = std::string_view::npos;  // offset after the line ending
      std::size_t contentEnd = i;
      if (i == body.size()) {
        lineEnd = i;
      } else if (body[i] == '\n') {
        lineEnd = i + 1;
      } else if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') {
        lineEnd = i + 2;
      } else if (body[i] == '\r' && i + 1 == body.size()) {
        lineEnd = i + 1;
      }
      // A delimiter line is a line of at most 998 octets; a longer one is content (so copies stay <= 998).
      if (lineEnd != std::string_view::npos && contentEnd - ls <= detail::kMaxLine) {
        Delimiter d;
        d.close = close;
        d.end = lineEnd;
        d.start = ls;
        if (ls >= from + 2 && body[ls - 2] == '\r' && body[ls - 1] == '\n') {
          d.start = ls - 2;
        } else if (ls >= from + 1 && body[ls - 1] == '\n') {
          d.start = ls - 1;
        }
        return d;
      }
    }
    const void* hit = std::memchr(body.data() + ls, '\n', body.size() - ls);
    if (hit == nullptr) break;
    ls = static_cast<std::size_t>(static_cast<const char*>(hit) - body.data()) + 1;
  }
  return std::nullopt;
}

}  // namespace

class Planner {
 public:
  Planner(std::string_view message, const ConvertOptions& options)
      : msg_(message),
        opt_(options),
        sevenBit_(options.target == Target::SevenBit),
        maxDepth_(std::min(options.maxDepth, kHardDepth)),
        conv_(std::make_shared<Conversion>()) {}

  ConvertResult run();

 private:
  bool walk(std::string_view entity, std::size_t depth, bool digestChild, bool top);
  bool multipart(std::string_view entity, const Header& h, const ContentType& ct, std::size_t depth);
  void leaf(std::string_view entity, const Header& h, const ContentType& ct, const std::string& cte);
  void copyFitting(std::string_view entity, const Header& h, const std::string& cte, const Scan& sc);

  // Emits the entity's header [0, bodyStart) with every Content-Transfer-Encoding field removed and `field`
  // standing where the first one was (or just before the empty line when there was none). Returns the index of
  // the Literal piece holding `field`.
  std::size_t header(std::string_view entity, const Header& h, std::string field, bool atEnd = false);

  // Appends s (joined to the previous Copy when adjacent); mayBeEightBit false when s is known to be 7-bit.
  void copy(std::string_view s, bool mayBeEightBit);
  // Appends header text (whole lines): copied, or, when it has a line over 998 octets (mayBeLong), folded at
  // white space (RFC 5322 §2.2.3: the same fields once unfolded) into a literal; a line that cannot be folded
  // refuses the conversion (5.6.3), since the output promises no line over 998.
  void copyHeader(std::string_view s, bool mayBeEightBit, bool mayBeLong);
  // The entity's header through its empty line, via copyHeader.
  void copyHead(std::string_view entity, const Header& h);
  std::size_t literal(std::string s);
  void encoded(Piece::Kind kind, std::string_view s, std::uint64_t outSize);
  // A repair piece (Requote / Rewrap64): counted as neither kind of re-encoded leaf.
  void encodedAs(Piece::Kind kind, std::string_view s, std::uint64_t outSize);
  bool refuse(std::string enhanced, std::string text) {
    refusal_ = Refusal{554, std::move(enhanced), std::move(text)};
    return false;
  }
  bool depthExceeded(std::size_t depth) {
    return refuse("5.6.3", "MIME nesting deeper than " + std::to_string(maxDepth_) + " levels");
  }

  std::string_view msg_;
  ConvertOptions opt_;
  bool sevenBit_;
  std::size_t maxDepth_;
  std::shared_ptr<Conversion> conv_;
  std::uint64_t eightBitPieces_ = 0;  // pieces emitted that carry octets >= 0x80
  std::optional<Refusal> refusal_;
};

void Planner::copy(std::string_view s, bool mayBeEightBit) {
  if (s.empty()) return;
  if (mayBeEightBit && detail::hasEightBit(s)) ++eightBitPieces_;
  auto& ps = conv_->pieces_;
  if (!ps.empty() && ps.back().kind == Piece::Kind::Copy &&
      ps.back().input.data() + ps.back().input.size() == s.data()) {
    Piece& p = ps.back();
    p.input = std::string_view(p.input.data(), p.input.size() + s.size());
    p.outSize = p.input.size();
    return;
  }
  Piece p;
  p.kind = Piece::Kind::Copy;
  p.input = s;
  p.outSize = s.size();
  ps.push_back(std::move(p));
}

void Planner::copyHeader(std::string_view s, bool mayBeEightBit, bool mayBeLong) {
  if (!mayBeLong || !detail::scan(s).longLine) {
    copy(s, mayBeEightBit);
    return;
  }
  std::string folded;
  if (!detail::foldHeaderText(s, folded) && !refusal_) {
    refusal_ = Refusal{554, "5.6.3", "a header line over 998 octets without white space to fold it at"};
  }
  if (mayBeEightBit && detail::hasEightBit(folded)) ++eightBitPieces_;
  literal(std::move(folded));
}

void Planner::copyHead(std::string_view entity, const Header& h) {
  copyHeader(entity.substr(0, h.end), h.eightBit, h.longLine);
  copy(entity.substr(h.end, h.bodyStart - h.end), false);
}

std::size_t Planner::literal(std::string s) {
  Piece p;
  p.kind = Piece::Kind::Literal;
  p.outSize = s.size();
  p.literal = std::move(s);
  conv_->pieces_.push_back(std::move(p));
  return conv_->pieces_.size() - 1;
}

void Planner::encoded(Piece::Kind kind, std::string_view s, std::uint64_t outSize) {
  encodedAs(kind, s, outSize);
  if (kind == Piece::Kind::QuotedPrintable) {
    ++conv_->qpLeaves_;
  } else {
    ++conv_->b64Leaves_;
  }
}

void Planner::encodedAs(Piece::Kind kind, std::string_view s, std::uint64_t outSize) {
  Piece p;
  p.kind = kind;
  p.input = s;
  p.outSize = outSize;
  conv_->pieces_.push_back(std::move(p));
}

std::size_t Planner::header(std::string_view entity, const Header& h, std::string field, bool atEnd) {
  const bool eight = h.eightBit;
  std::size_t pos = 0;
  std::size_t at = SIZE_MAX;
  for (const detail::Field& f : h.fields) {
    if (!detail::equalsLower(f.name, "content-transfer-encoding")) continue;
    copyHeader(entity.substr(pos, f.start - pos), eight, h.longLine);
    if (at == SIZE_MAX && !atEnd) at = literal(field);
    pos = f.end;
  }
  copyHeader(entity.substr(pos, h.end - pos), eight, h.longLine);
  if (at == SIZE_MAX) at = literal(std::move(field));
  copy(entity.substr(h.end, h.bodyStart - h.end), false);
  return at;
}

// A leaf (or a part that stays as it is) whose content fits the target: copied, 8bit / binary relabelled.
void Planner::copyFitting(std::string_view entity, const Header& h, const std::string& cte, const Scan& sc) {
  const std::string_view body = entity.substr(h.bodyStart);
  const char* label = nullptr;
  if (sevenBit_ && (cte == "8bit" || cte == "binary")) label = "7bit";
  if (!sevenBit_ && cte == "binary") label = sc.eightBit ? "8bit" : "7bit";  // 8BITMIME carries no binary
  if (label == nullptr) {
    copyHead(entity, h);
  } else {
    header(entity, h, cteField(label));
  }
  copy(body, sc.eightBit);
}

void Planner::leaf(std::string_view entity, const Header& h, const ContentType& ct, const std::string& cte) {
  const std::string_view body = entity.substr(h.bodyStart);
  const Scan sc = detail::scan(body);
  if (sc.fits(sevenBit_)) {
    copyFitting(entity, h, cte, sc);
    return;
  }
  const bool crlf = endsWithCrlf(body);  // keeps "output ends with CRLF" after a base64 body
  // A leaf already labelled quoted-printable / base64 that still holds raw 8-bit / binary octets (or overlong
  // lines) is repaired under its own label, so that it decodes to what it decoded to before: raw octets escaped
  // as =XX (a lenient decoder reads them as themselves), or dropped from base64 (decoders skip them).
  if (cte == "quoted-printable") {
    copyHead(entity, h);
    encodedAs(Piece::Kind::Requote, body, QuotedPrintableRequoter::measure(body));
    return;
  }
  if (cte == "base64") {
    copyHead(entity, h);
    encodedAs(Piece::Kind::Rewrap64, body, Base64Rewrapper::measure(body));
    if (crlf) literal("\r\n");
    return;
  }
  const std::uint64_t b64 = Base64Encoder::measure(body.size()) + (crlf ? 2 : 0);
  if (ct.type == "text") {
    const std::uint64_t qp = QuotedPrintableEncoder::measure(body);
    if (qp <= b64) {  // measured, not guessed; ties go to quoted-printable (still readable)
      header(entity, h, cteField("quoted-printable"));
      encoded(Piece::Kind::QuotedPrintable, body, qp);
      return;
    }
  }
  header(entity, h, cteField("base64"));
  encoded(Piece::Kind::Base64, body, b64 - (crlf ? 2 : 0));
  if (crlf) literal("\r\n");
}

bool Planner::multipart(std::string_view entity, const Header& h, const ContentType& ct, std::size_t depth) {
  const std::string_view body = entity.substr(h.bodyStart);
  const bool digest = ct.subtype == "digest";
  std::optional<Delimiter> d = findDelimiter(body, ct.boundary, 0);
  if (!d) {  // no delimiter at all: nothing to walk, and the content cannot be encoded as a multipart
    const Scan sc = detail::scan(body);
    if (!sc.fits(sevenBit_)) return refuse("5.6.3", "multipart without any boundary delimiter holds 8-bit data");
    copy(body, sc.eightBit);
    return true;
  }
  const std::string_view preamble = body.substr(0, d->start);
  const Scan ps = detail::scan(preamble);
  if (ps.fits(sevenBit_)) copy(preamble, ps.eightBit);  // otherwise dropped (RFC 2046 §5.1.1: ignored)
  for (;;) {
    copy(body.substr(d->start, d->end - d->start), false);
    if (d->close) {
      const std::string_view epilogue = body.substr(d->end);
      const Scan es = detail::scan(epilogue);
      if (es.fits(sevenBit_)) {
        copy(epilogue, es.eightBit);
      } else if (endsWithCrlf(epilogue) && !endsWithCrlf(body.substr(d->start, d->end - d->start))) {
        literal("\r\n");  // a close delimiter ending in a bare LF: the output still ends with CRLF
      }
      return true;
    }
    const std::optional<Delimiter> next = findDelimiter(body, ct.boundary, d->end);
    std::size_t partEnd = next ? next->start : body.size();
    // No close delimiter: the last part ends with the container, and a final CRLF is read as the missing
    // delimiter's (as MIME parsers do), so an encoded last part does not gain a line break.
    const bool finalCrlf = !next && partEnd - d->end >= 2 && endsWithCrlf(body.substr(d->end));
    if (finalCrlf) partEnd -= 2;
    if (!walk(body.substr(d->end, partEnd - d->end), depth + 1, digest, false)) return false;
    if (!next) {
      if (finalCrlf) copy(body.substr(partEnd, 2), false);
      return true;
    }
    d = next;
  }
}

bool Planner::walk(std::string_view entity, std::size_t depth, bool digestChild, bool top) {
  const Header h = detail::parseHeader(entity);
  if (h.nul) return refuse("5.6.3", "NUL octet in a header field");
  if (!top && h.eightBit && sevenBit_) return refuse("5.6.3", "8-bit octets in a body part's header");
  ContentType ct;
  if (h.contentType >= 0) ct = detail::parseContentType(h.fields[static_cast<std::size_t>(h.contentType)].value);
  if (!ct.valid) {
    ct = ContentType{};
    ct.valid = true;
    ct.type = digestChild ? "message" : "text";
    ct.subtype = digestChild ? "rfc822" : "plain";
  }
  std::string cte;
  if (h.transferEncoding >= 0) {
    cte = detail::parseTransferEncoding(h.fields[static_cast<std::size_t>(h.transferEncoding)].value);
  }
  // Containers may only be labelled 7bit / 8bit / binary (RFC 2045 §6.4); one labelled otherwise is a leaf.
  const bool identity = cte.empty() || cte == "7bit" || cte == "8bit" || cte == "binary";
  const bool isMultipart = ct.type == "multipart" && identity;
  const bool isMessage = ct.type == "message" && ct.subtype == "rfc822" && identity;
  const bool mustStay = ct.type == "message" && (ct.subtype == "partial" || ct.subtype == "external-body");

  if ((isMultipart && (!ct.hasBoundary || ct.boundary.empty())) || mustStay) {
    const Scan sc = detail::scan(entity.substr(h.bodyStart));
    if (!sc.fits(sevenBit_)) {
      if (mustStay) return refuse("5.6.3", "8-bit or binary content inside message/" + ct.subtype);
      return refuse("5.6.3", "multipart without a boundary parameter holds 8-bit data");
    }
    copyFitting(entity, h, cte, sc);
    return true;
  }
  if (!isMultipart && !isMessage) {
    leaf(entity, h, ct, cte);
    return true;
  }
  if (depth + 1 > maxDepth_) return depthExceeded(depth);
  // A container: walked, never encoded; an 8bit / binary label is rewritten once we know what remains inside.
  const bool relabel = cte == "8bit" || cte == "binary";
  std::size_t at = SIZE_MAX;
  if (relabel) {
    at = header(entity, h, std::string());
  } else {
    copyHead(entity, h);
  }
  const std::uint64_t before = eightBitPieces_;
  const bool ok = isMultipart ? multipart(entity, h, ct, depth)
                              : walk(entity.substr(h.bodyStart), depth + 1, false, false);
  if (!ok) return false;
  if (relabel) {
    Piece& p = conv_->pieces_[at];
    p.literal = cteField(!sevenBit_ && eightBitPieces_ > before ? "8bit" : "7bit");
    p.outSize = p.literal.size();
  }
  return true;
}

ConvertResult Planner::run() {
  const Header h = detail::parseHeader(msg_);
  if (h.eightBit && sevenBit_) return Refusal{554, "5.6.7", "8-bit header fields need SMTPUTF8"};
  if (h.nul) return Refusal{554, "5.6.3", "NUL octet in a header field"};
  const Scan whole = detail::scan(msg_);
  if (whole.fits(sevenBit_)) {  // already suits the target: one Copy
    copy(msg_, whole.eightBit);
  } else if (h.mimeVersion || h.contentType >= 0) {
    if (!walk(msg_, 0, false, true)) return std::move(*refusal_);
  } else {
    const std::string_view body = msg_.substr(h.bodyStart);
    const Scan bs = detail::scan(body);
    if (bs.fits(sevenBit_)) {
      copyHead(msg_, h);  // only a header line is long: folded
      copy(body, bs.eightBit);
    } else if (opt_.nonMime == NonMimePolicy::Bounce && bs.eightBit) {
      // Nothing says what the 8-bit octets mean; 7-bit text (a NUL, a long line) is wrapped whatever the policy.
      return Refusal{554, "5.6.3", "8-bit content in a message without MIME structure"};
    } else {
      header(msg_, h,
             std::string("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=") +
                 (bs.eightBit ? "utf-8" : "us-ascii") + "\r\nContent-Transfer-Encoding: quoted-printable\r\n",
             true);
      encoded(Piece::Kind::QuotedPrintable, body, QuotedPrintableEncoder::measure(body));
      conv_->wrapped_ = true;
    }
  }
  if (refusal_) return std::move(*refusal_);  // recorded on the way (a header line that cannot be folded)
  std::uint64_t total = 0;
  for (const Piece& p : conv_->pieces_) total += p.outSize;
  conv_->size_ = total;
  conv_->eightBit_ = eightBitPieces_ > 0;
  return std::shared_ptr<const Conversion>(std::move(conv_));
}

ConvertResult convert(std::string_view message, const ConvertOptions& options) {
  return Planner(message, options).run();
}

}  // namespace sluice::mime
