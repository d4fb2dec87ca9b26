// server_command.cpp: command-line parsing for the server session: verbs, paths, ESMTP parameters, BDAT/ETRN
// arguments and base64. See server_command.hpp.
#include "engine/smtp/server_command.hpp"

#include <cstring>

#include "engine/smtp/ascii.hpp"

namespace sluice::smtp {
namespace {

// Packs four upper-cased characters into one integer for a fast verb switch.
constexpr std::uint32_t key4(const char* s) {
  return (std::uint32_t(std::uint8_t(upperAscii(s[0]))) << 24) |
         (std::uint32_t(std::uint8_t(upperAscii(s[1]))) << 16) |
         (std::uint32_t(std::uint8_t(upperAscii(s[2]))) << 8) | std::uint32_t(std::uint8_t(upperAscii(s[3])));
}

// Removes leading and trailing spaces and tabs.
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// atext of RFC 5322 §3.2.3; octets over 0x7F count as text and are reported through `nonAscii`.
bool isAtext(unsigned char c, bool& nonAscii) {
  if (c >= 0x80) {
    nonAscii = true;
    return true;
  }
  if (isAsciiAlnum(c)) return true;
  return c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

// Validates a domain: dot-separated labels of letters, digits and inner hyphens (or UTF-8 U-label octets), or an
// address literal "[...]" of dtext (RFC 5321 §4.1.2, §4.1.3).
bool validDomain(std::string_view d, bool& nonAscii) {
  if (d.empty()) return false;
  if (d.front() == '[') {
    if (d.size() < 3 || d.back() != ']') return false;
    for (std::size_t i = 1; i + 1 < d.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(d[i]);
      if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\') return false;
    }
    return true;
  }
  std::size_t labelStart = 0;
  for (std::size_t i = 0; i <= d.size(); ++i) {
    if (i == d.size() || d[i] == '.') {
      std::size_t len = i - labelStart;
      if (len == 0 || len > 63) return false;
      if (d[labelStart] == '-' || d[i - 1] == '-') return false;
      labelStart = i + 1;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(d[i]);
    if (c >= 0x80) {
      nonAscii = true;
    } else if (!isAsciiAlnum(c) && c != '-') {
      return false;
    }
  }
  return true;
}

// Validates a local-part: a dot-string of atext atoms or a quoted string (RFC 5321 §4.1.2).
bool validLocalPart(std::string_view l, bool& nonAscii) {
  if (l.empty()) return false;
  if (l.front() == '"') {
    if (l.size() < 2 || l.back() != '"') return false;
    for (std::size_t i = 1; i + 1 < l.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(l[i]);
      if (c == '\\') {
        if (i + 2 >= l.size()) return false;
        unsigned char q = static_cast<unsigned char>(l[++i]);
        if (q < 32 || q == 127) return false;
        continue;
      }
      if (c >= 0x80) {
        nonAscii = true;
        continue;
      }
      if (c < 32 || c == 127 || c == '"') return false;
    }
    return true;
  }
  bool prevDot = true;  // forbids a leading dot
  for (unsigned char c : l) {
    if (c == '.') {
      if (prevDot) return false;
      prevDot = true;
      continue;
    }
    if (!isAtext(c, nonAscii)) return false;
    prevDot = false;
  }
  return !prevDot;  // no trailing dot
}

// Reads the next space-separated "KEYWORD[=value]" parameter from `s`; false when none is left.
bool nextParam(std::string_view& s, std::string_view& key, std::string_view& value, bool& hasValue) {
  s = trim(s);
  if (s.empty()) return false;
  std::size_t sp = s.find(' ');
  std::string_view tok = s.substr(0, sp);
  s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp + 1);
  std::size_t eq = tok.find('=');
  hasValue = eq != std::string_view::npos;
  key = tok.substr(0, eq);
  value = hasValue ? tok.substr(eq + 1) : std::string_view{};
  return true;
}

// True when a parameter keyword is esmtp-keyword syntax (RFC 5321 §4.1.2): alnum followed by alnum or '-'.
bool validKeyword(std::string_view k) {
  if (k.empty() || !isAsciiAlnum(static_cast<unsigned char>(k[0]))) return false;
  for (unsigned char c : k)
    if (!isAsciiAlnum(c) && c != '-') return false;
  return true;
}

// Parses a decimal number with overflow check.
bool parseDecimal(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// Parses a NOTIFY value (RFC 3461 §4.1): a comma list of NEVER, SUCCESS, FAILURE, DELAY, case-insensitive, each
// at most once, NEVER alone; false on anything else (an empty item included).
bool parseNotify(std::string_view value, std::uint8_t& out) {
  std::uint8_t bits = 0;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    std::string_view item = value.substr(start, comma == std::string_view::npos ? value.size() - start : comma - start);
    std::uint8_t bit = 0;
    if (equalsNoCase(item, "NEVER")) bit = NotifyNever;
    else if (equalsNoCase(item, "SUCCESS")) bit = NotifySuccess;
    else if (equalsNoCase(item, "FAILURE")) bit = NotifyFailure;
    else if (equalsNoCase(item, "DELAY")) bit = NotifyDelay;
    if (bit == 0 || (bits & bit)) return false;
    bits = static_cast<std::uint8_t>(bits | bit);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if ((bits & NotifyNever) && bits != NotifyNever) return false;  // NEVER is exclusive
  out = bits;
  return true;
}

// Value of a base64 character, or -1.
int b64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

// Case-insensitive prefix test (ASCII).
bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (upperAscii(s[i]) != upperAscii(prefix[i])) return false;
  return true;
}

// Case-insensitive equality (ASCII).
bool equalsNoCase(std::string_view a, std::string_view b) { return a.size() == b.size() && startsWithNoCase(a, b); }

// Identifies the verb with a four-character switch; STARTTLS is the one longer verb.
Verb parseVerb(std::string_view line, std::string_view& args) {
  std::size_t sp = line.find(' ');
  std::string_view verb = line.substr(0, sp);
  args = sp == std::string_view::npos ? std::string_view{} : trim(line.substr(sp + 1));
  if (verb.size() == 8) return equalsNoCase(verb, "STARTTLS") ? Verb::StartTls : Verb::Unknown;
  if (verb.size() != 4) return Verb::Unknown;
  switch (key4(verb.data())) {
    case key4("HELO"): return Verb::Helo;
    case key4("EHLO"): return Verb::Ehlo;
    case key4("MAIL"): return Verb::Mail;
    case key4("RCPT"): return Verb::Rcpt;
    case key4("DATA"): return Verb::Data;
    case key4("BDAT"): return Verb::Bdat;
    case key4("RSET"): return Verb::Rset;
    case key4("NOOP"): return Verb::Noop;
    case key4("QUIT"): return Verb::Quit;
    case key4("HELP"): return Verb::Help;
    case key4("VRFY"): return Verb::Vrfy;
    case key4("EXPN"): return Verb::Expn;
    case key4("ETRN"): return Verb::Etrn;
    case key4("AUTH"): return Verb::Auth;
    case key4("TURN"): return Verb::Turn;
    default: return Verb::Unknown;
  }
}

// Parses and validates "<path>", dropping a source route and checking the length limits.
PathError parsePath(std::string_view s, bool allowNull, bool allowPostmaster, const PathLimits& limits,
                    ParsedPath& out, std::string_view& rest) {
  out = ParsedPath{};
  if (s.empty() || s.front() != '<') return PathError::Syntax;
  // Find the closing '>' outside a quoted local part.
  std::size_t i = 1;
  bool quoted = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\' && i + 1 < s.size()) {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
      continue;
    }
    if (c == '"') quoted = true;
    if (c == '>') break;
  }
  if (i >= s.size()) return PathError::Syntax;
  if (i + 1 > limits.path) return PathError::PathTooLong;
  std::string_view inner = s.substr(1, i - 1);
  rest = s.substr(i + 1);
  if (!rest.empty() && rest.front() != ' ') return PathError::Syntax;
  if (inner.empty()) return allowNull ? PathError::None : PathError::Syntax;
  if (inner.front() == '@') {  // source route: "@a,@b:" then the mailbox
    std::size_t colon = inner.find(':');
    if (colon == std::string_view::npos) return PathError::Syntax;
    std::string_view route = inner.substr(0, colon);
    std::size_t start = 0;
    while (start < route.size()) {
      std::size_t comma = route.find(',', start);
      std::string_view hop =
          route.substr(start, comma == std::string_view::npos ? route.size() - start : comma - start);
      bool ignored = false;
      if (hop.size() < 2 || hop.front() != '@' || !validDomain(hop.substr(1), ignored)) return PathError::Syntax;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    inner = inner.substr(colon + 1);
  }
  if (allowPostmaster && equalsNoCase(inner, "postmaster")) {
    out.mailbox = inner;
    return PathError::None;
  }
  std::size_t at = inner.rfind('@');
  if (at == std::string_view::npos || at == 0) return PathError::Syntax;
  std::string_view local = inner.substr(0, at);
  std::string_view domain = inner.substr(at + 1);
  if (!validLocalPart(local, out.nonAscii) || !validDomain(domain, out.nonAscii)) return PathError::Syntax;
  if (local.size() > limits.localPart) return PathError::LocalPartTooLong;
  if (domain.size() > limits.domain) return PathError::DomainTooLong;
  out.mailbox = inner;
  return PathError::None;
}

// Parses MAIL parameters, allowing only those of offered extensions.
ParamError parseMailParams(std::string_view s, const Offered& offered, MailParams& p, std::string& auth,
                           bool& authGiven) {
  std::string_view key, value;
  bool hasValue = false;
  bool seenSize = false, seenBody = false, seenRet = false, seenEnvid = false;
  authGiven = false;
  while (nextParam(s, key, value, hasValue)) {
    if (!validKeyword(key)) return ParamError::Syntax;
    if (equalsNoCase(key, "SIZE")) {
      if (!offered.size) return ParamError::NotOffered;
      if (seenSize || !hasValue || !parseDecimal(value, p.size)) return ParamError::Syntax;
      seenSize = true;
    } else if (equalsNoCase(key, "BODY")) {
      if (!offered.eightBitMime && !offered.binaryMime) return ParamError::NotOffered;
      if (seenBody || !hasValue) return ParamError::Syntax;
      seenBody = true;
      if (equalsNoCase(value, "7BIT")) {
        p.body = BodyType::SevenBit;
      } else if (equalsNoCase(value, "8BITMIME")) {
        if (!offered.eightBitMime) return ParamError::NotOffered;
        p.body = BodyType::EightBitMime;
      } else if (equalsNoCase(value, "BINARYMIME")) {
        if (!offered.binaryMime) return ParamError::NotOffered;
        p.body = BodyType::BinaryMime;
      } else {
        return ParamError::Syntax;
      }
    } else if (equalsNoCase(key, "SMTPUTF8")) {
      if (!offered.smtpUtf8) return ParamError::NotOffered;
      if (hasValue || p.smtpUtf8) return ParamError::Syntax;
      p.smtpUtf8 = true;
    } else if (equalsNoCase(key, "RET")) {
      if (!offered.dsn) return ParamError::NotOffered;
      if (seenRet || !hasValue) return ParamError::Syntax;
      seenRet = true;
      if (equalsNoCase(value, "FULL")) {
        p.ret = DsnRet::Full;
      } else if (equalsNoCase(value, "HDRS")) {
        p.ret = DsnRet::Headers;
      } else {
        return ParamError::Syntax;
      }
    } else if (equalsNoCase(key, "ENVID")) {
      if (!offered.dsn) return ParamError::NotOffered;
      if (seenEnvid || !hasValue || value.empty() || value.size() > 100) return ParamError::Syntax;
      p.envid.clear();
      if (!xtextDecode(value, p.envid)) return ParamError::Syntax;
      seenEnvid = true;
    } else if (equalsNoCase(key, "AUTH")) {
      if (!offered.auth) return ParamError::NotOffered;
      if (authGiven || !hasValue || value.empty()) return ParamError::Syntax;
      auth.clear();
      if (value != "<>" && !xtextDecode(value, auth)) return ParamError::Syntax;
      authGiven = true;
    } else {
      return ParamError::Unknown;
    }
  }
  return ParamError::None;
}

// Parses RCPT parameters (DSN only).
ParamError parseRcptParams(std::string_view s, const Offered& offered, RcptParams& p) {
  std::string_view key, value;
  bool hasValue = false;
  bool seenOrcpt = false;
  while (nextParam(s, key, value, hasValue)) {
    if (!validKeyword(key)) return ParamError::Syntax;
    if (equalsNoCase(key, "NOTIFY")) {
      if (!offered.dsn) return ParamError::NotOffered;
      if (p.notify != NotifyNone || !hasValue || value.empty()) return ParamError::Syntax;
      if (!parseNotify(value, p.notify)) return ParamError::Syntax;
    } else if (equalsNoCase(key, "ORCPT")) {
      if (!offered.dsn) return ParamError::NotOffered;
      if (seenOrcpt || !hasValue) return ParamError::Syntax;
      std::size_t semi = value.find(';');
      if (semi == std::string_view::npos || semi == 0 || semi + 1 >= value.size()) return ParamError::Syntax;
      std::string_view type = value.substr(0, semi);
      for (unsigned char c : type)
        if (!isAsciiAlnum(c) && c != '-') return ParamError::Syntax;
      p.orcpt.clear();
      if (!xtextDecode(value.substr(semi + 1), p.orcpt) || p.orcpt.size() > 500) return ParamError::Syntax;
      p.orcptType.assign(type);
      seenOrcpt = true;
    } else {
      return ParamError::Unknown;
    }
  }
  return ParamError::None;
}

// Parses the chunk size and the optional LAST.
BdatArgs parseBdatArgs(std::string_view args, std::uint64_t& size, bool& last) {
  last = false;
  std::size_t sp = args.find(' ');
  if (!parseDecimal(args.substr(0, sp), size)) return BdatArgs::NoSize;
  if (sp == std::string_view::npos) return BdatArgs::Ok;
  std::string_view tail = trim(args.substr(sp + 1));
  if (equalsNoCase(tail, "LAST")) {
    last = true;
    return BdatArgs::Ok;
  }
  return BdatArgs::BadSyntax;
}

// Checks an ETRN argument: "@domain", "#queue" or a domain.
bool validEtrnNode(std::string_view args) {
  if (!args.empty() && (args.front() == '@' || args.front() == '#')) {
    bool queueName = args.front() == '#';
    args.remove_prefix(1);
    if (queueName) {  // a queue name: printable, no spaces
      if (args.empty()) return false;
      for (unsigned char c : args)
        if (c <= 32 || c >= 127) return false;
      return true;
    }
  }
  bool ignored = false;
  return args.size() <= 255 && validDomain(args, ignored);
}

// Decodes padded base64, refusing anything malformed.
bool base64Decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 != 0) return false;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      unsigned char c = static_cast<unsigned char>(in[i + k]);
      if (c == '=') {
        if (i + 4 != in.size() || k < 2) return false;  // padding only in the last quantum, at most two
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return false;  // data after padding
      v[k] = b64Value(c);
      if (v[k] < 0) return false;
    }
    std::uint32_t q = (std::uint32_t(v[0]) << 18) | (std::uint32_t(v[1]) << 12) | (std::uint32_t(v[2]) << 6) |
                      std::uint32_t(v[3]);
    out.push_back(static_cast<char>((q >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<char>((q >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(q & 0xFF));
  }
  return true;
}

}  // namespace sluice::smtp
