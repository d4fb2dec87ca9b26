// server_command.hpp: parses client command lines for the server session (RFC 5321 §4.1): the verb, MAIL/RCPT
// paths with their length limits (§4.5.3.1), ESMTP parameters (SIZE RFC 1870, BODY RFC 6152/3030, SMTPUTF8
// RFC 6531, RET/ENVID/NOTIFY/ORCPT RFC 3461, AUTH= RFC 4954), BDAT and ETRN arguments, and strict base64 (RFC 4954).
//
// Pure functions over string_views into the caller's line; no I/O. They allocate only for decoded values (xtext,
// base64). Errors are values (enums); nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/smtp/command.hpp"

namespace sluice::smtp {

enum class Verb : std::uint8_t {
  Unknown, Helo, Ehlo, Mail, Rcpt, Data, Bdat, Rset, Noop, Quit, Help, Vrfy, Expn, Etrn, Auth, StartTls, Turn,
};

// Splits a command line (no CRLF) into its verb and arguments: `args` is what follows the first space, with
// leading and trailing spaces removed. Verbs are case-insensitive (RFC 5321 §2.4).
Verb parseVerb(std::string_view line, std::string_view& args);

// True when `s` starts with `prefix`, ignoring ASCII case.
bool startsWithNoCase(std::string_view s, std::string_view prefix);
// True when the two strings are equal, ignoring ASCII case.
bool equalsNoCase(std::string_view a, std::string_view b);

// Path length limits (RFC 5321 §4.5.3.1.1-3).
struct PathLimits {
  std::size_t localPart = 64;
  std::size_t domain = 255;
  std::size_t path = 256;  // including the angle brackets
};

enum class PathError : std::uint8_t { None, Syntax, LocalPartTooLong, DomainTooLong, PathTooLong };

struct ParsedPath {
  std::string_view mailbox;  // "local@domain" without brackets and source route; empty for "<>"
  bool nonAscii = false;     // the mailbox holds octets over 0x7F (needs SMTPUTF8, RFC 6531 §3.3)
};

// Parses "<path>" at the start of `s`. `allowNull` admits "<>" (reverse-path), `allowPostmaster` admits
// "<Postmaster>" without a domain (RFC 5321 §4.1.1.3). A source route "@a,@b:" is accepted and dropped
// (§4.1.2). `rest` gets the text after '>'.
PathError parsePath(std::string_view s, bool allowNull, bool allowPostmaster, const PathLimits& limits,
                    ParsedPath& out, std::string_view& rest);

// The extensions offered in the current session state: which parameters are legal.
struct Offered {
  bool size = false;
  bool eightBitMime = false;
  bool binaryMime = false;
  bool smtpUtf8 = false;
  bool dsn = false;
  bool auth = false;
};

enum class ParamError : std::uint8_t {
  None,
  Syntax,      // malformed keyword or value, or a repeated keyword: 501 5.5.4
  Unknown,     // keyword this server does not know: 555 5.5.4
  NotOffered,  // keyword of an extension not advertised in this session: 555 5.5.4
};

// MAIL parameters: SIZE=, BODY=, SMTPUTF8, RET=, ENVID= (xtext, decoded into p.envid) and AUTH= (xtext, decoded
// into `auth`; `authGiven` set). `s` is the text after the reverse-path.
ParamError parseMailParams(std::string_view s, const Offered& offered, MailParams& p, std::string& auth,
                           bool& authGiven);
// RCPT parameters: NOTIFY= and ORCPT=type;xtext (decoded into p.orcpt).
ParamError parseRcptParams(std::string_view s, const Offered& offered, RcptParams& p);

enum class BdatArgs : std::uint8_t {
  Ok,
  NoSize,     // no chunk size could be read: the line is handled as a command only
  BadSyntax,  // a size was read but the rest is malformed: the chunk is still consumed, then 501
};
// Parses "n [LAST]" (RFC 3030 §2).
BdatArgs parseBdatArgs(std::string_view args, std::uint64_t& size, bool& last);

// True when `args` is a valid ETRN node: ["@" | "#"] followed by a domain or queue name (RFC 1985 §5).
bool validEtrnNode(std::string_view args);

// Strict base64 (RFC 4648 §4, padded): false on any other character, bad padding or length.
bool base64Decode(std::string_view in, std::string& out);

}  // namespace sluice::smtp
