// dotstuff.hpp: streaming DATA encoder (RFC 5321 §4.5.2, §2.3.8): dot-stuffs every line starting with ".",
// turns any bare CR or bare LF into CRLF (nothing but CRLF ever reaches the wire), and on finish() adds a
// missing final CRLF and the ".\r\n" terminator.
//
// Works chunk by chunk with bounded state (two flags), so a body is never copied whole: the caller feeds slices
// of the spool mapping and writes out what each call appended. Single-threaded, no I/O.
#pragma once

#include <string>
#include <string_view>

namespace sluice::smtp {

class DotStuffer {
 public:
  // Appends the encoded form of `in` to `out`. Input may be split anywhere, including between CR and LF.
  void feed(std::string_view in, std::string& out);
  // Ends the body: completes a last line without CRLF, then appends ".\r\n". The stuffer is then reset.
  void finish(std::string& out);
  void reset();

 private:
  bool atLineStart_ = true;  // the next byte begins a line
  bool pendingCr_ = false;   // the last byte fed was a CR whose LF may come in the next chunk
};

}  // namespace sluice::smtp
