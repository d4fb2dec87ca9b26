// dns_message.cpp: DNS query building and bounded reply parsing (RFC 1035 §4, RFC 2308 for negative TTLs).
#include "resolver/dns_message.hpp"

#include <algorithm>
#include <limits>

namespace sluice::resolver {

namespace {

// A resource record located in the reply; rdata stays in the buffer.
struct Rr {
  std::string name;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata = 0;
  std::uint16_t rdlen = 0;
};

// Bounds-checked reader over the reply buffer.
class Reader {
 public:
  // Wraps a buffer of n bytes.
  Reader(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}

  // Reads a big-endian 16-bit value at pos, advancing it.
  bool u16(std::size_t& pos, std::uint16_t& v) const {
    if (pos + 2 > n_) return false;
    v = static_cast<std::uint16_t>(d_[pos] << 8 | d_[pos + 1]);
    pos += 2;
    return true;
  }

  // Reads a big-endian 32-bit value at pos, advancing it.
  bool u32(std::size_t& pos, std::uint32_t& v) const {
    if (pos + 4 > n_) return false;
    v = static_cast<std::uint32_t>(d_[pos]) << 24 | static_cast<std::uint32_t>(d_[pos + 1]) << 16 |
        static_cast<std::uint32_t>(d_[pos + 2]) << 8 | d_[pos + 3];
    pos += 4;
    return true;
  }

  // Reads a possibly compressed name at pos (advancing past it), lower-cased, without trailing dot.
  bool name(std::size_t& pos, std::string& out) const {
    out.clear();
    std::size_t p = pos;
    std::size_t jumps = 0;
    bool jumped = false;
    for (;;) {
      if (p >= n_) return false;
      std::uint8_t len = d_[p];
      if ((len & 0xC0) == 0xC0) {
        if (p + 1 >= n_ || ++jumps > kMaxCompressionJumps) return false;
        std::size_t target = static_cast<std::size_t>(len & 0x3F) << 8 | d_[p + 1];
        if (!jumped) pos = p + 2;
        jumped = true;
        p = target;
        continue;
      }
      if ((len & 0xC0) != 0) return false;  // extended label types are not used in replies we accept
      ++p;
      if (len == 0) break;
      if (p + len > n_) return false;
      if (!out.empty()) out.push_back('.');
      for (std::size_t i = 0; i < len; ++i) {
        char c = static_cast<char>(d_[p + i]);
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        out.push_back(c);
      }
      if (out.size() > 253) return false;
      p += len;
    }
    if (!jumped) pos = p;
    return true;
  }

  // Reads one resource record header at pos and skips its rdata.
  bool rr(std::size_t& pos, Rr& out) const {
    std::uint16_t cls = 0;
    if (!name(pos, out.name) || !u16(pos, out.type) || !u16(pos, cls) || !u32(pos, out.ttl) || !u16(pos, out.rdlen))
      return false;
    if (out.ttl > 0x7FFFFFFFu) out.ttl = 0;  // RFC 2181 §8: a TTL with the top bit set counts as zero
    out.rdata = pos;
    if (pos + out.rdlen > n_) return false;
    pos += out.rdlen;
    return true;
  }

  // The start of the buffer.
  const std::uint8_t* data() const { return d_; }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
};

// Makes a Malformed answer with a detail message.
DnsAnswer malformed(const char* why) {
  DnsAnswer a;
  a.status = DnsStatus::Malformed;
  a.detail = why;
  return a;
}

// Decodes the rdata of an answer record of the asked type into `a`; false when its length is wrong.
bool takeRecord(const Reader& r, const Rr& rr, QType type, DnsAnswer& a) {
  if (type == QType::A || type == QType::AAAA) {
    std::size_t want = type == QType::A ? 4 : 16;
    if (rr.rdlen != want) return false;
    IpAddress ip;
    ip.family = type == QType::A ? Family::V4 : Family::V6;
    std::copy_n(r.data() + rr.rdata, want, ip.bytes.begin());
    a.addrs.push_back(ip);
    return true;
  }
  if (type == QType::MX) {
    std::size_t pos = rr.rdata;
    MxRecord mx;
    if (!r.u16(pos, mx.preference) || !r.name(pos, mx.exchange) || pos != rr.rdata + rr.rdlen) return false;
    a.mx.push_back(std::move(mx));
    return true;
  }
  return false;
}

}  // namespace

// Header with RD, one question; labels copied as given (the caller normalises).
bool buildQuery(std::string_view name, QType type, std::uint16_t id, std::vector<std::uint8_t>& out) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  const std::uint8_t header[12] = {static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id), 0x01, 0x00,
                                   0, 1, 0, 0, 0, 0, 0, 0};
  out.insert(out.end(), header, header + 12);
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::size_t len = dot - start;
    if (len == 0 || len > 63) return false;
    out.push_back(static_cast<std::uint8_t>(len));
    out.insert(out.end(), name.begin() + static_cast<std::ptrdiff_t>(start), name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  const auto t = static_cast<std::uint16_t>(type);
  const std::uint8_t tail[5] = {0, static_cast<std::uint8_t>(t >> 8), static_cast<std::uint8_t>(t), 0, 1};
  out.insert(out.end(), tail, tail + 5);
  return true;
}

// Header, question skip, answer and authority sections, then the CNAME walk from qname.
DnsAnswer parseReply(const std::uint8_t* data, std::size_t len, std::string_view qname, QType type) {
  Reader r(data, len);
  std::size_t pos = 0;
  std::uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
  if (!r.u16(pos, id) || !r.u16(pos, flags) || !r.u16(pos, qd) || !r.u16(pos, an) || !r.u16(pos, ns) ||
      !r.u16(pos, ar))
    return malformed("short header");
  if ((flags & 0x8000) == 0) return malformed("not a response");
  std::string scratch;
  for (std::uint16_t i = 0; i < qd; ++i) {
    std::uint16_t t = 0, c = 0;
    if (!r.name(pos, scratch) || !r.u16(pos, t) || !r.u16(pos, c)) return malformed("bad question");
  }
  std::vector<Rr> answers;
  answers.reserve(std::min<std::size_t>(an, len / 11));  // a record is 11 bytes or more: do not trust the count
  for (std::uint16_t i = 0; i < an; ++i) {
    Rr rr;
    if (!r.rr(pos, rr)) return malformed("bad answer record");
    answers.push_back(std::move(rr));
  }
  DnsAnswer a;
  for (std::uint16_t i = 0; i < ns; ++i) {
    Rr rr;
    if (!r.rr(pos, rr)) return malformed("bad authority record");
    if (rr.type != static_cast<std::uint16_t>(QType::SOA) || a.hasSoa) continue;
    std::size_t p = rr.rdata;
    std::string mname, rname;
    std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
    if (!r.name(p, mname) || !r.name(p, rname) || !r.u32(p, serial) || !r.u32(p, refresh) || !r.u32(p, retry) ||
        !r.u32(p, expire) || !r.u32(p, minimum))
      return malformed("bad SOA record");
    a.hasSoa = true;
    a.negativeTtl = std::min(rr.ttl, minimum);
  }
  const unsigned rcode = flags & 0x000F;
  if (rcode == 3) {
    a.status = DnsStatus::NxDomain;
    a.detail = "NXDOMAIN";
    return a;
  }
  if (rcode == 2 || rcode == 4 || rcode == 5) {
    a.status = DnsStatus::ServFail;
    a.detail = rcode == 2 ? "SERVFAIL" : rcode == 4 ? "NOTIMP" : "REFUSED";
    return a;
  }
  if (rcode != 0) {
    a.status = DnsStatus::Error;
    a.detail = "rcode " + std::to_string(rcode);
    return a;
  }
  std::string current(qname);
  std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
  const auto want = static_cast<std::uint16_t>(type);
  for (std::size_t hop = 0; hop <= kMaxCnameChain; ++hop) {
    bool found = false;
    for (const auto& rr : answers) {
      if (rr.type != want || rr.name != current) continue;
      if (!takeRecord(r, rr, type, a)) return malformed("bad record data");
      ttl = std::min(ttl, rr.ttl);
      found = true;
    }
    if (found) {
      a.status = DnsStatus::Ok;
      a.ttl = ttl;
      a.canonicalName = current;
      return a;
    }
    const Rr* cname = nullptr;
    for (const auto& rr : answers) {
      if (rr.type == static_cast<std::uint16_t>(QType::CNAME) && rr.name == current) cname = &rr;
    }
    if (cname == nullptr) break;
    std::size_t p = cname->rdata;
    std::string target;
    if (!r.name(p, target)) return malformed("bad CNAME record");
    ttl = std::min(ttl, cname->ttl);
    current = std::move(target);
  }
  a.status = DnsStatus::NoData;
  a.canonicalName = current;
  a.detail = "no " + std::string(type == QType::MX ? "MX" : type == QType::A ? "A" : "AAAA") + " records";
  return a;
}

// Names for logs.
const char* dnsStatusName(DnsStatus s) {
  switch (s) {
    case DnsStatus::Ok: return "ok";
    case DnsStatus::NoData: return "nodata";
    case DnsStatus::NxDomain: return "nxdomain";
    case DnsStatus::ServFail: return "servfail";
    case DnsStatus::Timeout: return "timeout";
    case DnsStatus::Malformed: return "malformed";
    case DnsStatus::Error: return "error";
  }
  return "?";
}

}  // namespace sluice::resolver
