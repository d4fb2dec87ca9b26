// capabilities.hpp: the ESMTP extensions a peer advertised in its EHLO reply (RFC 5321 §4.1.1.1).
//
// Capabilities belong to one connection and one TLS state: the client session forgets them on reconnect and
// after STARTTLS. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/smtp/reply.hpp"

namespace sluice::smtp {

struct Capabilities {
  bool esmtp = false;  // the peer accepted EHLO (false after a HELO fallback: no extension may be used)
  bool pipelining = false;
  bool chunking = false;
  bool binaryMime = false;
  bool eightBitMime = false;
  bool dsn = false;
  bool smtpUtf8 = false;
  bool startTls = false;
  bool enhancedStatusCodes = false;
  bool etrn = false;
  bool size = false;               // SIZE advertised (bare SIZE or SIZE n)
  std::uint64_t sizeLimit = 0;     // SIZE n; 0 = no fixed limit
  std::vector<std::string> auth;   // AUTH mechanisms, upper case, from "AUTH a b" and the old "AUTH=a b" form
  std::string domain;              // the first line's first word (the peer's name)
  std::vector<std::string> other;  // other keywords, upper case, for logs
};

// Builds the capability set from a 250 reply to EHLO. Keywords are whole tokens, case-insensitive; the first line
// is the host name and never a keyword. Tolerates AUTH=LOGIN, bare SIZE, SIZE 0, empty lines.
Capabilities parseEhlo(const Reply& ehloReply);

}  // namespace sluice::smtp
