// dns_message.hpp: DNS wire format, as much as the resolver needs: a query builder and a reply parser that keeps
// TTLs, follows CNAME chains, tells NXDOMAIN from NODATA and reads the SOA minimum for negative caching.
//
// Pure: bytes in, values out; no sockets. The parser treats its input as untrusted: every offset is checked,
// compression pointers are bounded, and a malformed reply is a value (DnsStatus::Malformed), never a crash.
#pragma once

#include "resolver/address.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::resolver {

// Record types the resolver asks for.
enum class QType : std::uint16_t { A = 1, CNAME = 5, SOA = 6, MX = 15, AAAA = 28 };

// The outcome of one query.
enum class DnsStatus : std::uint8_t {
  Ok,         // NOERROR with records of the asked type
  NoData,     // NOERROR, the name exists, no records of that type
  NxDomain,   // the name does not exist
  ServFail,   // SERVFAIL / REFUSED / NOTIMP from the server
  Timeout,    // no reply in time
  Malformed,  // a reply we could not parse
  Error,      // anything else (local failure)
};

// One MX record.
struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  // lower case, no trailing dot; "" for the null MX "."
  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

// What one query produced.
struct DnsAnswer {
  DnsStatus status = DnsStatus::Error;
  std::vector<MxRecord> mx;        // QType::MX
  std::vector<IpAddress> addrs;    // QType::A / AAAA
  std::uint32_t ttl = 0;           // Ok: minimum TTL over the records used (CNAMEs included)
  bool hasSoa = false;             // NxDomain/NoData: a SOA was in the authority section
  std::uint32_t negativeTtl = 0;   // when hasSoa: min(SOA TTL, SOA minimum) (RFC 2308 §5)
  std::string canonicalName;       // the name after following CNAMEs
  std::string detail;              // for logs
};

// Named limits for reply parsing.
inline constexpr std::size_t kMaxCnameChain = 8;
inline constexpr std::size_t kMaxCompressionJumps = 32;

// Appends a standard recursive query (RD set, class IN) for `name` to `out`. Returns false for a bad name.
bool buildQuery(std::string_view name, QType type, std::uint16_t id, std::vector<std::uint8_t>& out);

// Parses a reply to a query for (qname, type). qname must be normalised (lower case, no trailing dot).
DnsAnswer parseReply(const std::uint8_t* data, std::size_t len, std::string_view qname, QType type);

// Text for logs: "ok", "nodata", "nxdomain", ...
const char* dnsStatusName(DnsStatus s);

}  // namespace sluice::resolver
