// mx_select.cpp: MX filtering, ordering, shuffling, address ordering and result assembly (pure functions).
#include "resolver/mx_select.hpp"

#include <algorithm>

namespace sluice::resolver {

// Sort, dedupe, null-MX check, local-names rule, cap; in that order.
MxFilter filterMx(std::vector<MxRecord> records, const std::vector<std::string>& localNames, std::size_t maxHosts,
                  std::vector<MxRecord>& kept) {
  kept.clear();
  std::stable_sort(records.begin(), records.end(),
                   [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
  bool onlyNull = !records.empty();
  for (const auto& r : records) onlyNull = onlyNull && r.exchange.empty();
  if (onlyNull) return MxFilter::NullMx;
  int ours = -1;  // our best preference, -1 when we are not an MX
  for (const auto& r : records) {
    if (ours < 0 && std::find(localNames.begin(), localNames.end(), r.exchange) != localNames.end())
      ours = r.preference;
  }
  for (auto& r : records) {
    if (r.exchange.empty()) continue;  // RFC 7505 §3: "." mixed with real MX records is ignored
    if (ours >= 0 && r.preference >= ours) continue;
    bool dup = std::any_of(kept.begin(), kept.end(), [&](const MxRecord& k) { return k.exchange == r.exchange; });
    if (dup) continue;
    kept.push_back(std::move(r));
  }
  if (kept.empty() && ours >= 0) return MxFilter::Loop;
  if (kept.size() > maxHosts) kept.resize(maxHosts);
  return MxFilter::Usable;
}

// Fisher-Yates on each run of equal preferences.
void shuffleEqualPreferences(std::vector<MxHost>& hosts, ShuffleRng& rng) {
  std::size_t i = 0;
  while (i < hosts.size()) {
    std::size_t j = i + 1;
    while (j < hosts.size() && hosts[j].preference == hosts[i].preference) ++j;
    for (std::size_t k = j - i; k > 1; --k) {
      std::size_t pick = static_cast<std::size_t>(rng() % k);
      std::swap(hosts[i + k - 1], hosts[i + pick]);
    }
    i = j;
  }
}

// Adjacent comparison (hosts are sorted by preference).
bool hasEqualPreferences(const std::vector<MxHost>& hosts) {
  for (std::size_t i = 1; i < hosts.size(); ++i) {
    if (hosts[i].preference == hosts[i - 1].preference) return true;
  }
  return false;
}

// Sort, unique, join.
std::string siteKey(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out.push_back(',');
    out += n;
  }
  return out;
}

// Preferred family first, then the other unless excluded.
std::vector<IpAddress> orderAddresses(const std::vector<IpAddress>& v4, const std::vector<IpAddress>& v6,
                                      FamilyPolicy policy, std::size_t max) {
  std::vector<IpAddress> out;
  const bool v6First = policy == FamilyPolicy::PreferV6 || policy == FamilyPolicy::V6Only;
  const bool useV4 = policy != FamilyPolicy::V6Only;
  const bool useV6 = policy != FamilyPolicy::V4Only;
  auto add = [&](const std::vector<IpAddress>& src) {
    for (const auto& a : src) {
      if (out.size() >= max) return;
      if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    }
  };
  if (v6First) {
    if (useV6) add(v6);
    if (useV4) add(v4);
  } else {
    if (useV4) add(v4);
    if (useV6) add(v6);
  }
  return out;
}

// Floor, then ceiling.
std::uint32_t clampPositiveTtl(std::uint32_t ttl, const ResolverConfig& cfg) {
  return std::min(std::max(ttl, cfg.ttlFloorSeconds), cfg.ttlCeilingSeconds);
}

// RFC 2308: SOA-derived when present; dnsmasq's local negative answers carry no SOA, so the default applies.
std::uint32_t negativeTtl(const DnsAnswer& answer, const ResolverConfig& cfg) {
  std::uint32_t ttl = answer.hasSoa ? answer.negativeTtl : cfg.negativeTtlSeconds;
  return std::min(ttl, cfg.negativeTtlMaxSeconds);
}

namespace {

// True for statuses that mean "try again later".
bool isTemporary(DnsStatus s) {
  return s == DnsStatus::ServFail || s == DnsStatus::Timeout || s == DnsStatus::Malformed || s == DnsStatus::Error;
}

}  // namespace

// Addresses from whichever families answered; temporary wins over "none" when nothing came back.
HostOutcome combineHostAnswers(const DnsAnswer* a, const DnsAnswer* aaaa, const ResolverConfig& cfg) {
  HostOutcome out;
  static const std::vector<IpAddress> kNone;
  const auto& v4 = a && a->status == DnsStatus::Ok ? a->addrs : kNone;
  const auto& v6 = aaaa && aaaa->status == DnsStatus::Ok ? aaaa->addrs : kNone;
  out.addrs = orderAddresses(v4, v6, cfg.family, cfg.maxAddressesPerHost);
  bool temp = false;
  std::uint32_t posTtl = UINT32_MAX, negTtl = UINT32_MAX;
  for (const DnsAnswer* ans : {a, aaaa}) {
    if (ans == nullptr) continue;
    if (ans->status == DnsStatus::Ok) {
      posTtl = std::min(posTtl, clampPositiveTtl(ans->ttl, cfg));
    } else if (isTemporary(ans->status)) {
      temp = true;
      if (!out.detail.empty()) out.detail += "; ";
      out.detail += dnsStatusName(ans->status);
      if (!ans->detail.empty()) out.detail += " (" + ans->detail + ")";
    } else {
      negTtl = std::min(negTtl, negativeTtl(*ans, cfg));
    }
  }
  if (!out.addrs.empty()) {
    out.kind = HostOutcome::Kind::Addresses;
    out.ttl = posTtl == UINT32_MAX ? 0 : posTtl;
    if (temp) out.ttl = std::min(out.ttl, cfg.partialTtlSeconds);
  } else if (temp) {
    out.kind = HostOutcome::Kind::Temporary;
    out.ttl = cfg.tempFailTtlSeconds;
  } else {
    out.kind = HostOutcome::Kind::None;
    out.ttl = negTtl == UINT32_MAX ? std::min(cfg.negativeTtlSeconds, cfg.negativeTtlMaxSeconds) : negTtl;
    out.detail = "no addresses";
  }
  return out;
}

// Walks the kept records in order; see the header for the permanent/temporary rule.
MxResult assembleResult(const std::vector<MxRecord>& kept, const std::vector<HostOutcome>& outcomes,
                        std::uint32_t mxTtl, bool implicitMx, const ResolverConfig& cfg) {
  MxResult r;
  std::uint32_t ttl = implicitMx ? mxTtl : clampPositiveTtl(mxTtl, cfg);  // implicit: bounded by the NODATA TTL
  std::uint32_t negTtl = implicitMx ? mxTtl : UINT32_MAX;
  bool anyTemp = false;
  std::string tempDetail;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < kept.size() && i < outcomes.size(); ++i) {
    const HostOutcome& o = outcomes[i];
    names.push_back(kept[i].exchange);
    if (o.kind == HostOutcome::Kind::Addresses) {
      MxHost h;
      h.name = kept[i].exchange;
      h.preference = kept[i].preference;
      h.addresses = o.addrs;
      r.hosts.push_back(std::move(h));
      ttl = std::min(ttl, o.ttl);
    } else if (o.kind == HostOutcome::Kind::Temporary) {
      anyTemp = true;
      if (tempDetail.empty()) tempDetail = kept[i].exchange + ": " + o.detail;
    } else {
      negTtl = std::min(negTtl, o.ttl);
    }
  }
  if (!r.hosts.empty()) {
    r.status = MxStatus::Ok;
    r.implicitMx = implicitMx;
    r.site = siteKey(std::move(names));
    r.ttlSeconds = ttl == UINT32_MAX ? 0 : ttl;
    if (anyTemp) r.ttlSeconds = std::min(r.ttlSeconds, cfg.partialTtlSeconds);
    return r;
  }
  if (anyTemp) return makeFailure(MxReason::ServFail, "MX host lookup failed: " + tempDetail, cfg.tempFailTtlSeconds);
  std::uint32_t t = negTtl == UINT32_MAX ? cfg.negativeTtlSeconds : negTtl;
  t = std::min(t, cfg.negativeTtlMaxSeconds);
  if (implicitMx) return makeFailure(MxReason::NoAddress, "no MX and no A/AAAA records", t);
  return makeFailure(MxReason::NoUsableMx, "no MX host has an address (RFC 5321 section 5.1)", t);
}

}  // namespace sluice::resolver
