// result.hpp: what the resolver tells the delivery engine about a destination domain.
//
// An MxResult is one of: Ok (an ordered list of MX hosts with their addresses, plus the site key), Permanent
// (the domain accepts no mail: bounce now, with the SMTP code to use) or Temporary (retry later). Plain values;
// any thread may read a result it was given.
#pragma once

#include "resolver/address.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::resolver {

// The three outcomes the engine acts on.
enum class MxStatus : std::uint8_t { Ok, Permanent, Temporary };

// Why a lookup did not produce hosts (None for Ok).
enum class MxReason : std::uint8_t {
  None,
  NxDomain,      // permanent: the domain does not exist                            550 5.1.2
  NullMx,        // permanent: "MX 0 ." (RFC 7505)                                  556 5.1.10
  NoUsableMx,    // permanent: MX hosts all without addresses (RFC 5321 §5.1)       550 5.4.4
  NoAddress,     // permanent: no MX and no A/AAAA for the domain itself           550 5.1.2
  MxLoop,        // permanent: we are the best MX ourselves                         550 5.4.6
  BadDomain,     // permanent: not a valid domain name                              550 5.1.2
  ServFail,      // temporary: SERVFAIL/REFUSED or a malformed reply                451 4.4.3
  Timeout,       // temporary: no answer in time                                    451 4.4.3
  Cancelled,     // temporary: not used for callbacks today (see README), kept for the engine's logs
  RouteFailed,   // temporary: a static route's host name did not resolve           451 4.4.3
};

// Text for logs: "nxdomain", "null-mx", ...
const char* reasonName(MxReason r);

// One MX host with its addresses, in the order to try them.
struct MxHost {
  std::string name;                  // lower case, no trailing dot (an address text for literal routes)
  std::uint16_t preference = 0;
  std::uint16_t port = 25;           // 25 unless a static route says otherwise
  std::vector<IpAddress> addresses;  // ordered by the family policy; never empty in an Ok result
};

struct MxResult {
  MxStatus status = MxStatus::Temporary;
  MxReason reason = MxReason::None;
  std::vector<MxHost> hosts;  // Ok only: by preference, equal preferences shuffled per delivery
  std::string site;           // Ok only: sorted, comma-joined MX host names ("mx1.test,mx2.test"); pool key
  std::uint32_t ttlSeconds = 0;  // how long this answer is valid (what the cache used)
  bool implicitMx = false;       // no MX records: the domain's own A/AAAA (RFC 5321 §5.1)
  bool staticRoute = false;      // produced by a static route, no MX lookup
  int smtpCode = 0;              // failures: the reply code to report (550, 556, 451)
  std::string enhancedCode;      // failures: "5.1.2", "5.1.10", "4.4.3", ...
  std::string detail;            // human-readable, for the delivery log and DSNs

  // True for an Ok result (hosts to try).
  bool ok() const { return status == MxStatus::Ok; }
};

// Builds a failure result with the code and enhanced code belonging to `reason`.
MxResult makeFailure(MxReason reason, std::string detail, std::uint32_t ttlSeconds);

}  // namespace sluice::resolver
