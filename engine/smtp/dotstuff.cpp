// dotstuff.cpp: the streaming DATA encoder (RFC 5321 §4.5.2 transparency, §2.3.8 CRLF-only line endings).
//
// Speed: the input is scanned for CR and LF 16 bytes at a time; CRLF-terminated lines that do not start with "."
// are copied as one long run, so plain text costs one scan and one bulk copy.
#include "engine/smtp/dotstuff.hpp"

#include <cstddef>
#include <cstdint>

#include "engine/smtp/ascii.hpp"

namespace sluice::smtp {

namespace {

// Grows `out` geometrically when `extra` more bytes would not fit, so repeated feeds stay amortised O(n).
inline void ensureRoom(std::string& out, std::size_t extra) {
  if (out.capacity() - out.size() >= extra) return;
  std::size_t want = out.size() + extra;
  if (want < out.capacity() * 2) want = out.capacity() * 2;
  out.reserve(want);
}

}  // namespace

// Encodes one chunk: copies runs verbatim, rewrites bare CR/LF as CRLF, doubles a "." that starts a line.
void DotStuffer::feed(std::string_view in, std::string& out) {
  const char* p = in.data();
  const std::size_t n = in.size();
  if (n == 0) return;
  ensureRoom(out, n + n / 32 + 8);
  std::size_t i = 0;
  if (pendingCr_) {
    pendingCr_ = false;
    if (p[0] == '\n') i = 1;  // the LF of a CRLF split across chunks: its CRLF was already written
  }
  std::size_t run = i;  // start of input bytes still to be copied verbatim
  bool lineStart = atLineStart_;
  while (i < n) {
    if (lineStart) {
      lineStart = false;
      if (p[i] == '.') {  // §4.5.2: add one more "." in front; the original "." stays in the run
        out.append(p + run, i - run);
        out.push_back('.');
        run = i;
      }
    }
    const std::size_t k = i + findLineBreak(p + i, n - i);
    if (k == n) break;  // the chunk ends inside a line
    if (p[k] == '\r') {
      if (k + 1 < n && p[k + 1] == '\n') {  // a proper CRLF stays inside the run
        i = k + 2;
        lineStart = true;
        continue;
      }
      out.append(p + run, k - run);
      out.append("\r\n", 2);
      run = i = k + 1;
      lineStart = true;
      if (k + 1 == n) pendingCr_ = true;  // an LF opening the next chunk belongs to this CR
      continue;
    }
    out.append(p + run, k - run);  // bare LF
    out.append("\r\n", 2);
    run = i = k + 1;
    lineStart = true;
  }
  out.append(p + run, n - run);
  atLineStart_ = lineStart;
}

// Completes an unterminated last line, writes the ".\r\n" terminator and resets for the next message.
void DotStuffer::finish(std::string& out) {
  if (!atLineStart_) out.append("\r\n", 2);
  out.append(".\r\n", 3);
  reset();
}

// Returns to the state of a fresh stuffer (start of a line, no CR pending).
void DotStuffer::reset() {
  atLineStart_ = true;
  pendingCr_ = false;
}

}  // namespace sluice::smtp
