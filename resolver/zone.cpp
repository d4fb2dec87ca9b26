// zone.cpp: zone text parsing and lookups for the test resolver.
#include "resolver/zone.hpp"

#include "resolver/address.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::resolver {

namespace {

// Splits a line into whitespace-separated fields, stopping at a comment.
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size() || line[i] == '#' || line[i] == ';') break;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// Parses an unsigned decimal number that fits in T.
template <class T>
bool number(std::string_view s, T& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// Upper-cases a type keyword for comparison.
std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

}  // namespace

// Line by line; each line is checked completely before it changes the zone.
std::string Zone::parse(std::string_view text, Zone& out) {
  Zone z;
  std::uint32_t defaultTtl = 300;
  std::size_t lineNo = 0;
  while (!text.empty()) {
    ++lineNo;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto f = fields(line);
    if (f.empty()) continue;
    auto err = [&](const std::string& what) { return "line " + std::to_string(lineNo) + ": " + what; };
    if (f[0] == "$TTL") {
      if (f.size() != 2 || !number(f[1], defaultTtl)) return err("$TTL needs one number");
      continue;
    }
    std::string name;
    if (!normaliseDomain(f[0], name)) return err("bad name '" + std::string(f[0]) + "'");
    std::size_t k = 1;
    std::uint32_t ttl = defaultTtl;
    if (k < f.size() && number(f[k], ttl)) ++k;
    if (k >= f.size()) return err("missing record type");
    const std::string type = upper(f[k++]);
    const std::size_t args = f.size() - k;
    Node& node = z.nodes_[name];
    if (type == "NXDOMAIN" || type == "SERVFAIL" || type == "TIMEOUT") {
      if (args != 0) return err(type + " takes no data");
      node.special = type == "NXDOMAIN" ? Special::NxDomain : type == "SERVFAIL" ? Special::ServFail : Special::Timeout;
    } else if (type == "MX") {
      MxRecord mx;
      if (args != 2 || !number(f[k], mx.preference)) return err("MX needs a preference and a host");
      if (f[k + 1] != "." && !normaliseDomain(f[k + 1], mx.exchange)) return err("bad MX host");
      node.mx.push_back(std::move(mx));
      node.mxTtl = std::min(node.mxTtl, ttl);
    } else if (type == "A" || type == "AAAA") {
      auto ip = args == 1 ? parseIp(f[k]) : std::nullopt;
      const Family want = type == "A" ? Family::V4 : Family::V6;
      if (!ip || ip->family != want) return err(type + " needs one " + (type == "A" ? "IPv4" : "IPv6") + " address");
      (want == Family::V4 ? node.v4 : node.v6).push_back(*ip);
      auto& t = want == Family::V4 ? node.v4Ttl : node.v6Ttl;
      t = std::min(t, ttl);
    } else if (type == "CNAME") {
      if (args != 1 || !normaliseDomain(f[k], node.cname)) return err("CNAME needs one target name");
      node.cnameTtl = ttl;
    } else {
      return err("unknown record type '" + std::string(f[k - 1]) + "'");
    }
  }
  out = std::move(z);
  return {};
}

// Follows CNAMEs up to the chain limit, like a recursive server would.
DnsAnswer Zone::lookup(const std::string& name, QType type) const {
  DnsAnswer a;
  std::string current = name;
  std::uint32_t ttl = UINT32_MAX;
  for (std::size_t hop = 0; hop <= kMaxCnameChain; ++hop) {
    auto it = nodes_.find(current);
    if (it == nodes_.end() || it->second.special == Special::NxDomain) {
      a.status = DnsStatus::NxDomain;
      a.detail = "NXDOMAIN";
      return a;
    }
    const Node& n = it->second;
    if (n.special == Special::ServFail) {
      a.status = DnsStatus::ServFail;
      a.detail = "SERVFAIL";
      return a;
    }
    if (n.special == Special::Timeout) {
      a.status = DnsStatus::Timeout;
      a.detail = "timed out";
      return a;
    }
    a.canonicalName = current;
    if (type == QType::MX && !n.mx.empty()) {
      a.status = DnsStatus::Ok;
      a.mx = n.mx;
      a.ttl = std::min(ttl, n.mxTtl);
      return a;
    }
    const auto& addrs = type == QType::A ? n.v4 : n.v6;
    if ((type == QType::A || type == QType::AAAA) && !addrs.empty()) {
      a.status = DnsStatus::Ok;
      a.addrs = addrs;
      a.ttl = std::min(ttl, type == QType::A ? n.v4Ttl : n.v6Ttl);
      return a;
    }
    if (n.cname.empty()) break;
    ttl = std::min(ttl, n.cnameTtl);
    current = n.cname;
  }
  a.status = DnsStatus::NoData;
  a.detail = "no records of that type";
  return a;
}

}  // namespace sluice::resolver
