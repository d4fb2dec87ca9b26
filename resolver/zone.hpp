// zone.hpp: zone text for the test resolver: parsing and lookups with real DNS semantics (CNAME chains,
// NXDOMAIN vs NODATA, injected failures).
//
// Syntax, one record per line ('#' or ';' starts a comment; names are case-insensitive, a trailing dot is fine):
//   $TTL 300                               default TTL for the lines that follow (initially 300)
//   example.test MX 10 mx1.example.test    optional TTL after the name: "example.test 60 MX 10 mx1.example.test"
//   null.test MX 0 .                       null MX (RFC 7505)
//   mx1.example.test A 127.0.0.1
//   mx1.example.test AAAA ::1
//   alias.test CNAME example.test
//   bad.test NXDOMAIN                      the name does not exist, even if other lines mention it
//   slow.test SERVFAIL                     every query for the name fails temporarily
//   hang.test TIMEOUT                      every query for the name reports a timeout (at once, no wait)
// Names not in the zone are NXDOMAIN; a name present without records of the asked type is NODATA.
// Pure: no I/O. Parse errors are returned with the line number.
#pragma once

#include "resolver/dns_message.hpp"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::resolver {

class Zone {
 public:
  // Parses zone text into `out`; returns "" on success, else "line N: problem".
  static std::string parse(std::string_view text, Zone& out);

  // Answers a query the way a DNS server holding this zone would.
  DnsAnswer lookup(const std::string& name, QType type) const;

 private:
  enum class Special : std::uint8_t { None, NxDomain, ServFail, Timeout };
  struct Node {
    std::vector<MxRecord> mx;
    std::vector<IpAddress> v4, v6;
    std::string cname;
    std::uint32_t mxTtl = UINT32_MAX, v4Ttl = UINT32_MAX, v6Ttl = UINT32_MAX, cnameTtl = UINT32_MAX;
    Special special = Special::None;
  };
  std::unordered_map<std::string, Node> nodes_;
};

}  // namespace sluice::resolver
