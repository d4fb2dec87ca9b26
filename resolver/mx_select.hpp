// mx_select.hpp: the pure MX selection rules (RFC 5321 §5.1, RFC 7505): filtering, ordering, the equal-preference
// shuffle, address ordering by family policy, the site key, TTL clamping and the assembly of the final result.
//
// No I/O, no clocks: the resolver feeds DNS answers in and gets an MxResult out, and tests drive these functions
// with tables and a seeded generator. Any thread may call them.
#pragma once

#include "resolver/config.hpp"
#include "resolver/dns_message.hpp"
#include "resolver/result.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sluice::resolver {

// A small, fast generator (splitmix64) meeting UniformRandomBitGenerator, for shuffling equal preferences.
class ShuffleRng {
 public:
  using result_type = std::uint64_t;
  // Seeds the generator.
  explicit ShuffleRng(std::uint64_t seed) : state_(seed) {}
  // Smallest and largest values produced.
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  // Returns the next 64 random bits.
  result_type operator()() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// How filterMx() classified an MX record set.
enum class MxFilter : std::uint8_t { Usable, NullMx, Loop };

// Sorts by preference (stable), drops duplicate hosts (keeping the best preference), drops "." entries when
// other records exist, applies the local-names rule (drop preference >= our best) and the maxHosts cap.
// A set made only of "." is NullMx; a set where we are the best MX is Loop. `kept` receives the usable records.
MxFilter filterMx(std::vector<MxRecord> records, const std::vector<std::string>& localNames, std::size_t maxHosts,
                  std::vector<MxRecord>& kept);

// Shuffles each run of equal preference in place; the order between preferences is untouched.
void shuffleEqualPreferences(std::vector<MxHost>& hosts, ShuffleRng& rng);

// True when at least two adjacent hosts share a preference (so a shuffle can change the order).
bool hasEqualPreferences(const std::vector<MxHost>& hosts);

// The site key: host names sorted, duplicates removed, joined with ','.
std::string siteKey(std::vector<std::string> names);

// Orders addresses by family policy (preferred family first, each family in the order given), drops the
// excluded family and keeps at most `max`.
std::vector<IpAddress> orderAddresses(const std::vector<IpAddress>& v4, const std::vector<IpAddress>& v6,
                                      FamilyPolicy policy, std::size_t max);

// Applies floor and ceiling to a positive TTL.
std::uint32_t clampPositiveTtl(std::uint32_t ttl, const ResolverConfig& cfg);

// The TTL of a negative answer: the SOA-derived value when present, else the default, bounded by the maximum.
std::uint32_t negativeTtl(const DnsAnswer& answer, const ResolverConfig& cfg);

// What the A/AAAA lookups of one host produced.
struct HostOutcome {
  enum class Kind : std::uint8_t { Addresses, None, Temporary };
  Kind kind = Kind::Temporary;
  std::vector<IpAddress> addrs;  // ordered by policy
  std::uint32_t ttl = 0;         // positive or negative TTL (already clamped)
  std::string detail;
};

// Combines the per-family answers for one host (an answer is ignored when its family was not asked).
HostOutcome combineHostAnswers(const DnsAnswer* a, const DnsAnswer* aaaa, const ResolverConfig& cfg);

// Builds the final result from the kept MX records (sorted) and each host's outcome (same order).
// Hosts without addresses are skipped; none usable -> Permanent unless some host failed temporarily.
// mxTtl: the MX answer's TTL (or the negative TTL of the NODATA answer for an implicit MX).
MxResult assembleResult(const std::vector<MxRecord>& kept, const std::vector<HostOutcome>& outcomes,
                        std::uint32_t mxTtl, bool implicitMx, const ResolverConfig& cfg);

}  // namespace sluice::resolver
