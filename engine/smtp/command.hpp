// command.hpp: writes client commands (RFC 5321 §4.1.1) with ESMTP parameters: SIZE= (RFC 1870), BODY= (RFC 6152,
// RFC 3030), SMTPUTF8 (RFC 6531), RET= ENVID= NOTIFY= ORCPT= (RFC 3461). A parameter is written only when the
// peer advertised its extension (RFC 5321 §4.1.1.3). Also xtext encoding (RFC 3461 §4).
//
// Pure functions appending to a caller-owned std::string; no I/O, no allocation beyond the output string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/smtp/capabilities.hpp"

namespace sluice::smtp {

enum class BodyType { Unspecified, SevenBit, EightBitMime, BinaryMime };
enum class DsnRet { Unspecified, Full, Headers };

// NOTIFY bits (RFC 3461 §4.1). Zero means "not given". Never is exclusive of the others.
enum NotifyFlags : std::uint8_t {
  NotifyNone = 0,
  NotifyNever = 1,
  NotifySuccess = 2,
  NotifyFailure = 4,
  NotifyDelay = 8,
};

struct MailParams {
  std::uint64_t size = 0;  // message size in octets (CRLF included, no dot-stuffing); 0 = do not declare
  BodyType body = BodyType::Unspecified;
  bool smtpUtf8 = false;
  DsnRet ret = DsnRet::Unspecified;
  std::string envid;  // raw (decoded) ENVID; empty = none
};

struct RcptParams {
  std::uint8_t notify = NotifyNone;
  std::string orcptType = "rfc822";  // address type of ORCPT
  std::string orcpt;                 // raw (decoded) original recipient; empty = none
};

// "MAIL FROM:<path> params\r\n". Parameters the peer did not advertise are dropped.
void appendMail(std::string& out, std::string_view reversePath, const MailParams& p, const Capabilities& caps);
// "RCPT TO:<path> params\r\n".
void appendRcpt(std::string& out, std::string_view forwardPath, const RcptParams& p, const Capabilities& caps);
// "BDAT n\r\n" or "BDAT n LAST\r\n" (RFC 3030 §2).
void appendBdat(std::string& out, std::uint64_t octets, bool last);
// "EHLO name\r\n".
void appendEhlo(std::string& out, std::string_view name);
// "HELO name\r\n" (the fallback when EHLO is refused).
void appendHelo(std::string& out, std::string_view name);
// A command without argument: "DATA", "RSET", "QUIT", "NOOP", "STARTTLS", then CRLF.
void appendSimple(std::string& out, std::string_view verb);

// xtext (RFC 3461 §4): "+" and "=", controls, space and octets outside 33..126 as "+HH".
void xtextEncode(std::string& out, std::string_view raw);
// Decodes xtext; false when malformed (bad hex, lower-case hex, a raw "+" or "=" or a forbidden octet).
// Appends to `out` like the other functions here; on failure `out` is left exactly as it was.
bool xtextDecode(std::string_view xtext, std::string& out);

// Paths: the caller passes the bare address ("a@b.example"), or "" for the null reverse-path; the angle brackets
// are added here (an argument already wrapped in "<...>" is not wrapped twice). Control octets (0x00-0x1F, 0x7F)
// are never written, so a hostile address cannot end the command line early and inject a second command; callers
// should reject such addresses before this point with isWritablePath().
// True when `path` has no control octet (it can be written unchanged inside "<...>").
bool isWritablePath(std::string_view path);

}  // namespace sluice::smtp
