// fuzz_dns_reply.cpp: libFuzzer target for the resolver's untrusted inputs: DNS replies (for each query type)
// and zone text. Any crash, hang or sanitizer report is a bug; results are not checked beyond invariants.
#include "resolver/dns_message.hpp"
#include "resolver/zone.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace sluice::resolver;

// Feeds the input to the reply parser as an answer to MX, A and AAAA queries, and to the zone parser.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (QType t : {QType::MX, QType::A, QType::AAAA}) {
    DnsAnswer a = parseReply(data, size, "mx.test", t);
    if (a.status == DnsStatus::Ok && a.mx.empty() && a.addrs.empty()) std::abort();  // Ok always carries data
    for (const auto& ip : a.addrs) {
      if ((t == QType::A) != (ip.family == Family::V4)) std::abort();
    }
  }
  Zone z;
  if (Zone::parse(std::string_view(reinterpret_cast<const char*>(data), size), z).empty()) {
    z.lookup("mx.test", QType::MX);
    z.lookup("mx.test", QType::A);
  }
  return 0;
}
