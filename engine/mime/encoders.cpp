// encoders.cpp: the streaming quoted-printable (RFC 2045 §6.7) and base64 (RFC 2045 §6.8) encoders, and their
// exact output measures. One state machine serves encode() and measure() (a sink that writes or only counts), so
// the size a plan declares is the size the cursor produces.
// Threads: an encoder object is one thread's; measure() is a pure function.
#include <algorithm>
#include <cstring>

#include "engine/mime/mime.hpp"

namespace sluice::mime {

namespace {

constexpr int kQpMaxText = 75;  // characters before a soft break's "=" (76 with it: RFC 2045 §6.7 rule 5)
constexpr char kHex[] = "0123456789ABCDEF";

// Writes into a buffer sized in advance for the worst case.
struct WriteSink {
  char* p;
  void lit(char c) { *p++ = c; }
  void lits(const unsigned char* from, std::size_t n) {
    std::memcpy(p, from, n);
    p += n;
  }
  void hex(unsigned char c) {
    p[0] = '=';
    p[1] = kHex[c >> 4];
    p[2] = kHex[c & 15];
    p += 3;
  }
  void crlf() {
    p[0] = '\r';
    p[1] = '\n';
    p += 2;
  }
  void soft() {
    p[0] = '=';
    p[1] = '\r';
    p[2] = '\n';
    p += 3;
  }
};

// Counts what WriteSink would write.
struct CountSink {
  std::uint64_t n = 0;
  void lit(char) { ++n; }
  void lits(const unsigned char*, std::size_t k) { n += k; }
  void hex(unsigned char) { n += 3; }
  void crlf() { n += 2; }
  void soft() { n += 3; }
};

// Octets that may stand for themselves anywhere in a line (33..126 except "=").
struct LiteralTable {
  bool ok[256] = {};
  constexpr LiteralTable() {
    for (int c = 33; c <= 126; ++c) ok[c] = c != '=';
  }
};
constexpr LiteralTable kLiteral;

// The quoted-printable state machine: col (output column), heldWs (space / tab waiting to learn whether a line
// break follows), heldCr (CR waiting to learn whether it starts a CRLF).
struct QpState {
  int col = 0;
  char heldWs = 0;
  bool heldCr = false;

  template <class Sink>
  void literal(Sink& s, char c) {
    if (col + 1 > kQpMaxText) {
      s.soft();
      col = 0;
    }
    if (col == 0 && c == '.') {  // a "." opening a line is encoded: the output never depends on dot-stuffing
      s.hex('.');
      col = 3;
      return;
    }
    s.lit(c);
    ++col;
  }
  template <class Sink>
  void encoded(Sink& s, unsigned char c) {
    if (col + 3 > kQpMaxText) {
      s.soft();
      col = 0;
    }
    s.hex(c);
    col += 3;
  }

  template <class Sink>
  void run(std::string_view in, bool last, Sink& s) {
    const auto* const p = reinterpret_cast<const unsigned char*>(in.data());
    const std::size_t n = in.size();
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned char c = p[i];
      if (!heldCr && heldWs == 0 && kLiteral.ok[c] && col > 0 && col < kQpMaxText) {
        // Fast path: a run of octets that stand for themselves, as many as fit on the line. The octet-by-octet
        // path below would write exactly the same (no soft break is due before column kQpMaxText, and the
        // leading-dot rule only applies at column 0).
        const std::size_t end = std::min(n, i + static_cast<std::size_t>(kQpMaxText - col));
        std::size_t j = i + 1;
        while (j < end && kLiteral.ok[p[j]]) ++j;
        s.lits(p + i, j - i);
        col += static_cast<int>(j - i);
        i = j - 1;
        continue;
      }
      if (heldCr) {
        heldCr = false;
        if (c == '\n') {  // CRLF: a hard line break; white space before it is encoded (rule 3)
          if (heldWs) encoded(s, static_cast<unsigned char>(heldWs));
          heldWs = 0;
          s.crlf();
          col = 0;
          continue;
        }
        if (heldWs) literal(s, heldWs);
        heldWs = 0;
        encoded(s, '\r');
      }
      if (c == '\r') {
        heldCr = true;
      } else if (c == ' ' || c == '\t') {
        if (heldWs) literal(s, heldWs);
        heldWs = static_cast<char>(c);
      } else {
        if (heldWs) literal(s, heldWs);
        heldWs = 0;
        if (kLiteral.ok[c]) {
          literal(s, static_cast<char>(c));
        } else {
          encoded(s, c);
        }
      }
    }
    if (last) {
      if (heldCr) {
        if (heldWs) literal(s, heldWs);
        encoded(s, '\r');
      } else if (heldWs) {
        encoded(s, static_cast<unsigned char>(heldWs));
      }
      heldWs = 0;
      heldCr = false;
      col = 0;
    }
  }
};

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr int kB64Line = 76;

}  // namespace

void QuotedPrintableEncoder::encode(std::string_view in, bool last, std::string& out) {
  // Worst case per input octet: a soft break and "=XX"; plus held octets flushed at the end.
  const std::size_t old = out.size();
  out.resize(old + (in.size() + 2) * 6 + 8);
  QpState st{col_, heldWs_, heldCr_};
  WriteSink sink{out.data() + old};
  st.run(in, last, sink);
  out.resize(static_cast<std::size_t>(sink.p - out.data()));
  col_ = st.col;
  heldWs_ = st.heldWs;
  heldCr_ = st.heldCr;
}

std::uint64_t QuotedPrintableEncoder::measure(std::string_view in) {
  QpState st;
  CountSink sink;
  st.run(in, true, sink);
  return sink.n;
}

void Base64Encoder::encode(std::string_view in, bool last, std::string& out) {
  const std::size_t old = out.size();
  const std::size_t groups = (in.size() + 3) / 3 + 1;
  out.resize(old + groups * 4 + (groups * 4 / kB64Line + 2) * 2);
  char* p = out.data() + old;
  auto emit = [&](unsigned a, unsigned b, unsigned c, int n) {  // n = input octets in this group (1..3)
    if (col_ == kB64Line) {
      *p++ = '\r';
      *p++ = '\n';
      col_ = 0;
    }
    const unsigned v = (a << 16) | (b << 8) | c;
    p[0] = kB64[(v >> 18) & 63];
    p[1] = kB64[(v >> 12) & 63];
    p[2] = n > 1 ? kB64[(v >> 6) & 63] : '=';
    p[3] = n > 2 ? kB64[v & 63] : '=';
    p += 4;
    col_ += 4;
  };
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t n = in.size();
  while (carried_ > 0 && carried_ < 3 && n > 0) {
    carry_[carried_++] = *s++;
    --n;
  }
  if (carried_ == 3) {
    emit(carry_[0], carry_[1], carry_[2], 3);
    carried_ = 0;
  }
  for (; n >= 3; s += 3, n -= 3) emit(s[0], s[1], s[2], 3);
  for (; n > 0; ++s, --n) carry_[carried_++] = *s;
  if (last) {
    if (carried_ > 0) emit(carry_[0], carried_ > 1 ? carry_[1] : 0, 0, carried_);
    carried_ = 0;
    col_ = 0;
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
}

std::uint64_t Base64Encoder::measure(std::uint64_t inputSize) {
  if (inputSize == 0) return 0;
  const std::uint64_t chars = (inputSize + 2) / 3 * 4;
  const std::uint64_t lines = (chars + kB64Line - 1) / kB64Line;
  return chars + (lines - 1) * 2;
}

// ---- QuotedPrintableRequoter

void QuotedPrintableRequoter::token(std::string_view t, bool breakable, std::string& out) {
  // A soft break first when the token would pass column 75 (the "=" of a soft break is the 76th character).
  if (breakable && col_ + static_cast<int>(t.size()) > 75) {
    out += "=\r\n";
    col_ = 0;
  }
  out.append(t);
  col_ += static_cast<int>(t.size());
}

void QuotedPrintableRequoter::encode(std::string_view in, bool last, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  auto escaped = [&](unsigned char c) {
    const char e[3] = {'=', kHex[c >> 4], kHex[c & 15]};
    token(std::string_view(e, 3), true, out);
    escapeLeft_ = 0;  // whatever escape was open is broken: what follows stands alone (and may be broken)
  };
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (heldCr_) {
      heldCr_ = false;
      if (c == '\n') {
        out += "\r\n";
        col_ = 0;
        escapeLeft_ = 0;
        continue;
      }
      escaped('\r');  // a lone CR
    }
    if (c == '\r') {
      heldCr_ = true;
      continue;
    }
    if (c == '\n' || c == 0 || c >= 0x80) {
      escaped(c);
      continue;
    }
    if (escapeLeft_ > 0) {  // the two characters of an existing escape: never split from their "="
      --escapeLeft_;
      token(std::string_view(&ch, 1), false, out);
      continue;
    }
    if (c == '=') {
      // Keep "=XX" together: break before it if the three would not fit.
      if (col_ + 3 > 75) {
        out += "=\r\n";
        col_ = 0;
      }
      token("=", false, out);
      escapeLeft_ = 2;
      continue;
    }
    token(std::string_view(&ch, 1), true, out);
  }
  if (last && heldCr_) {
    heldCr_ = false;
    escaped('\r');
  }
}

std::uint64_t QuotedPrintableRequoter::measure(std::string_view in) {
  QuotedPrintableRequoter r;
  std::string scratch;
  std::uint64_t n = 0;
  constexpr std::size_t kStep = 4096;
  std::size_t i = 0;
  do {
    const std::size_t k = std::min(kStep, in.size() - i);
    scratch.clear();
    r.encode(in.substr(i, k), i + k >= in.size(), scratch);
    n += scratch.size();
    i += k;
  } while (i < in.size());
  return n;
}

// ---- Base64Rewrapper

namespace {
bool base64Char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
         c == '=';
}
}  // namespace

void Base64Rewrapper::encode(std::string_view in, bool, std::string& out) {
  for (char ch : in) {
    if (!base64Char(static_cast<unsigned char>(ch))) continue;
    if (col_ == 76) {
      out += "\r\n";
      col_ = 0;
    }
    out.push_back(ch);
    ++col_;
  }
}

std::uint64_t Base64Rewrapper::measure(std::string_view in) {
  std::uint64_t k = 0;
  for (char ch : in) k += base64Char(static_cast<unsigned char>(ch)) ? 1 : 0;
  return k == 0 ? 0 : k + 2 * ((k - 1) / 76);
}

}  // namespace sluice::mime
