// command.cpp: writes SMTP client command lines (RFC 5321 §4.1.1) with only the ESMTP parameters the peer
// advertised (RFC 5321 §4.1.1.3), and the xtext encoding used by DSN parameters (RFC 3461 §4).
#include "engine/smtp/command.hpp"

#include "engine/smtp/ascii.hpp"

namespace sluice::smtp {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

// True for the octets that may never appear inside a command line (controls and DEL).
constexpr bool isControl(unsigned char c) { return c < 0x20 || c == 0x7F; }

// Appends `s` without control octets, so the text can never end or split the command line.
void appendClean(std::string& out, std::string_view s) {
  for (char c : s) {
    if (!isControl(static_cast<unsigned char>(c))) out.push_back(c);
  }
}

// Appends "<path>", adding the brackets unless the caller already did; "" becomes the null path "<>".
void appendPath(std::string& out, std::string_view path) {
  if (path.size() >= 2 && path.front() == '<' && path.back() == '>') path = path.substr(1, path.size() - 2);
  out.push_back('<');
  appendClean(out, path);
  out.push_back('>');
}

// Writes "<verb>name" CRLF for EHLO and HELO; control octets in the name are dropped.
void appendGreeting(std::string& out, std::string_view verb, std::string_view name) {
  out.append(verb);
  appendClean(out, name);
  out.append("\r\n");
}

// Value of an upper-case hex digit, or -1 (RFC 3461 §4 requires upper case).
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// True for an octet xtext may carry literally: "!" to "~" except "+" and "=".
constexpr bool isXchar(unsigned char c) { return c >= 33 && c <= 126 && c != '+' && c != '='; }

// True when the BODY= value may be sent to this peer.
bool bodyAllowed(BodyType body, const Capabilities& caps) {
  switch (body) {
    case BodyType::SevenBit: return caps.eightBitMime || caps.binaryMime;  // BODY= exists only with these
    case BodyType::EightBitMime: return caps.eightBitMime;                // RFC 6152 §2
    case BodyType::BinaryMime: return caps.binaryMime && caps.chunking;   // RFC 3030 §3: BDAT only
    case BodyType::Unspecified: return false;
  }
  return false;
}

}  // namespace

// Writes MAIL FROM with SIZE=, BODY=, SMTPUTF8, RET=, ENVID= where the peer supports each.
void appendMail(std::string& out, std::string_view reversePath, const MailParams& p, const Capabilities& caps) {
  out.append("MAIL FROM:");
  appendPath(out, reversePath);
  if (caps.esmtp) {
    if (p.size != 0 && caps.size) {  // RFC 1870 §6
      out.append(" SIZE=");
      appendDecimal(out, p.size);
    }
    if (bodyAllowed(p.body, caps)) {
      switch (p.body) {
        case BodyType::SevenBit: out.append(" BODY=7BIT"); break;
        case BodyType::EightBitMime: out.append(" BODY=8BITMIME"); break;
        case BodyType::BinaryMime: out.append(" BODY=BINARYMIME"); break;
        case BodyType::Unspecified: break;
      }
    }
    if (p.smtpUtf8 && caps.smtpUtf8) out.append(" SMTPUTF8");  // RFC 6531 §3.4
    if (caps.dsn) {                                              // RFC 3461 §4.3, §4.4
      if (p.ret == DsnRet::Full) out.append(" RET=FULL");
      if (p.ret == DsnRet::Headers) out.append(" RET=HDRS");
      if (!p.envid.empty()) {
        out.append(" ENVID=");
        xtextEncode(out, p.envid);
      }
    }
  }
  out.append("\r\n");
}

// Writes RCPT TO with NOTIFY= and ORCPT= where the peer supports DSN.
void appendRcpt(std::string& out, std::string_view forwardPath, const RcptParams& p, const Capabilities& caps) {
  out.append("RCPT TO:");
  appendPath(out, forwardPath);
  if (caps.esmtp && caps.dsn) {
    if (p.notify & NotifyNever) {  // RFC 3461 §4.1: NEVER stands alone
      out.append(" NOTIFY=NEVER");
    } else if (p.notify & (NotifySuccess | NotifyFailure | NotifyDelay)) {
      out.append(" NOTIFY=");
      bool first = true;
      const auto add = [&](std::uint8_t bit, const char* word) {
        if (!(p.notify & bit)) return;
        if (!first) out.push_back(',');
        out.append(word);
        first = false;
      };
      add(NotifySuccess, "SUCCESS");
      add(NotifyFailure, "FAILURE");
      add(NotifyDelay, "DELAY");
    }
    if (!p.orcpt.empty()) {  // RFC 3461 §4.2: ORCPT=addr-type;xtext
      out.append(" ORCPT=");
      std::size_t before = out.size();
      for (char c : p.orcptType) {  // addr-type is an atom; keep only its safe letters
        if (isAsciiAlnum(static_cast<unsigned char>(c)) || c == '-') out.push_back(c);
      }
      if (out.size() == before) out.append("rfc822");
      out.push_back(';');
      xtextEncode(out, p.orcpt);
    }
  }
  out.append("\r\n");
}

// Writes "BDAT n" or "BDAT n LAST" (RFC 3030 §2).
void appendBdat(std::string& out, std::uint64_t octets, bool last) {
  out.append("BDAT ");
  appendDecimal(out, octets);
  if (last) out.append(" LAST");
  out.append("\r\n");
}

// Writes "EHLO name".
void appendEhlo(std::string& out, std::string_view name) { appendGreeting(out, "EHLO ", name); }

// Writes "HELO name".
void appendHelo(std::string& out, std::string_view name) { appendGreeting(out, "HELO ", name); }

// Writes a command that takes no argument ("DATA", "RSET", "QUIT", "NOOP", "STARTTLS").
void appendSimple(std::string& out, std::string_view verb) {
  appendClean(out, verb);
  out.append("\r\n");
}

// Encodes raw octets as xtext: xchars literally, everything else as "+HH" with upper-case hex.
void xtextEncode(std::string& out, std::string_view raw) {
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if (isXchar(c)) {
      out.push_back(ch);
    } else {
      out.push_back('+');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
}

// Decodes xtext strictly; on a malformed input returns false and leaves `out` unchanged.
bool xtextDecode(std::string_view xtext, std::string& out) {
  const std::size_t start = out.size();
  for (std::size_t i = 0; i < xtext.size(); ++i) {
    const auto c = static_cast<unsigned char>(xtext[i]);
    if (c == '+') {
      if (i + 2 >= xtext.size()) {  // "+" needs two hex digits after it
        out.resize(start);
        return false;
      }
      const int hi = hexValue(xtext[i + 1]);
      const int lo = hexValue(xtext[i + 2]);
      if (hi < 0 || lo < 0) {
        out.resize(start);
        return false;
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (isXchar(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.resize(start);
      return false;
    }
  }
  return true;
}

// True when the path has no control octet.
bool isWritablePath(std::string_view path) {
  for (char c : path) {
    if (isControl(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace sluice::smtp
