// dns_message_test.cpp: the reply parser on hand-built DNS messages: TTLs, CNAME chains, compression,
// NXDOMAIN vs NODATA, SOA minimum, rcodes and malformed input.
#include "resolver/dns_message.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace sluice::resolver;

namespace {

// Builds DNS replies byte by byte for the tests.
struct ReplyBuilder {
  std::vector<std::uint8_t> b;
  std::size_t qnameOffset = 12;

  // Writes the header and one question for (name, type).
  ReplyBuilder(const std::string& qname, QType type, int rcode, int an, int ns) {
    b = {0x12, 0x34, 0x81, static_cast<std::uint8_t>(0x80 | rcode), 0, 1, 0, static_cast<std::uint8_t>(an), 0,
         static_cast<std::uint8_t>(ns), 0, 0};
    name(qname);
    u16(static_cast<std::uint16_t>(type));
    u16(1);
  }
  // Appends a big-endian 16-bit value.
  void u16(std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
  }
  // Appends a big-endian 32-bit value.
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  // Appends an uncompressed name.
  void name(const std::string& n) {
    std::size_t start = 0;
    while (!n.empty() && start <= n.size()) {
      auto dot = n.find('.', start);
      if (dot == std::string::npos) dot = n.size();
      b.push_back(static_cast<std::uint8_t>(dot - start));
      for (auto i = start; i < dot; ++i) b.push_back(static_cast<std::uint8_t>(n[i]));
      start = dot + 1;
    }
    b.push_back(0);
  }
  // Appends a compression pointer to the question name.
  void ptrToQname() { u16(static_cast<std::uint16_t>(0xC000 | qnameOffset)); }
  // Appends a record header; the caller writes rdata of rdlen bytes.
  void rrHeader(const std::string& owner, QType type, std::uint32_t ttl, std::uint16_t rdlen, bool compressOwner) {
    if (compressOwner) ptrToQname();
    else name(owner);
    u16(static_cast<std::uint16_t>(type));
    u16(1);
    u32(ttl);
    u16(rdlen);
  }
  // Appends an A record.
  void a(const std::string& owner, std::uint32_t ttl, std::uint8_t last, bool compress = false) {
    rrHeader(owner, QType::A, ttl, 4, compress);
    b.insert(b.end(), {127, 0, 0, last});
  }
  // Appends an MX record with an uncompressed exchange.
  void mx(const std::string& owner, std::uint32_t ttl, std::uint16_t pref, const std::string& host, bool compress) {
    std::uint16_t len = static_cast<std::uint16_t>(2 + (host.empty() ? 1 : host.size() + 2));
    rrHeader(owner, QType::MX, ttl, len, compress);
    u16(pref);
    name(host);
  }
  // Appends a CNAME record.
  void cname(const std::string& owner, std::uint32_t ttl, const std::string& target) {
    rrHeader(owner, QType::CNAME, ttl, static_cast<std::uint16_t>(target.size() + 2), false);
    name(target);
  }
  // Appends a SOA record in the authority section.
  void soa(const std::string& owner, std::uint32_t ttl, std::uint32_t minimum) {
    std::uint16_t len = static_cast<std::uint16_t>(std::string("ns.test").size() + 2 + 
                                                   std::string("host.test").size() + 2 + 20);
    rrHeader(owner, QType::SOA, ttl, len, false);
    name("ns.test");
    name("host.test");
    u32(1), u32(2), u32(3), u32(4), u32(minimum);
  }
  DnsAnswer parse(const std::string& qname, QType type) const { return parseReply(b.data(), b.size(), qname, type); }
};

}  // namespace

TEST_CASE("MX answer: records, minimum TTL, compressed owner, lower-cased exchange") {
  ReplyBuilder r("mx.test", QType::MX, 0, 2, 0);
  r.mx("mx.test", 300, 20, "MX2.test", true);
  r.mx("mx.test", 60, 10, "mx1.test", false);
  DnsAnswer a = r.parse("mx.test", QType::MX);
  REQUIRE(a.status == DnsStatus::Ok);
  REQUIRE(a.mx.size() == 2);
  CHECK(a.mx[0] == MxRecord{20, "mx2.test"});
  CHECK(a.mx[1] == MxRecord{10, "mx1.test"});
  CHECK(a.ttl == 60);
}

TEST_CASE("null MX parses as an empty exchange") {
  ReplyBuilder r("null.test", QType::MX, 0, 1, 0);
  r.mx("null.test", 60, 0, "", true);
  DnsAnswer a = r.parse("null.test", QType::MX);
  REQUIRE(a.status == DnsStatus::Ok);
  REQUIRE(a.mx.size() == 1);
  CHECK(a.mx[0] == MxRecord{0, ""});
}

TEST_CASE("CNAME chain is followed and its TTL counts") {
  ReplyBuilder r("alias.test", QType::A, 0, 3, 0);
  r.cname("alias.test", 30, "mid.test");
  r.cname("mid.test", 600, "host.test");
  r.a("host.test", 120, 9);
  DnsAnswer a = r.parse("alias.test", QType::A);
  REQUIRE(a.status == DnsStatus::Ok);
  CHECK(a.canonicalName == "host.test");
  REQUIRE(a.addrs.size() == 1);
  CHECK(a.addrs[0].toString() == "127.0.0.9");
  CHECK(a.ttl == 30);
}

TEST_CASE("CNAME to a name without the asked type is NODATA") {
  ReplyBuilder r("alias.test", QType::MX, 0, 1, 0);
  r.cname("alias.test", 30, "host.test");
  DnsAnswer a = r.parse("alias.test", QType::MX);
  CHECK(a.status == DnsStatus::NoData);
  CHECK(a.canonicalName == "host.test");
}

TEST_CASE("records for other names are ignored") {
  ReplyBuilder r("a.test", QType::A, 0, 1, 0);
  r.a("b.test", 60, 1);
  CHECK(r.parse("a.test", QType::A).status == DnsStatus::NoData);
}

TEST_CASE("NXDOMAIN and NODATA with SOA give the RFC 2308 negative TTL") {
  ReplyBuilder nx("gone.test", QType::MX, 3, 0, 1);
  nx.soa("test", 900, 120);
  DnsAnswer a = nx.parse("gone.test", QType::MX);
  CHECK(a.status == DnsStatus::NxDomain);
  CHECK(a.hasSoa);
  CHECK(a.negativeTtl == 120);

  ReplyBuilder nd("host.test", QType::MX, 0, 0, 1);
  nd.soa("test", 45, 3600);
  DnsAnswer b = nd.parse("host.test", QType::MX);
  CHECK(b.status == DnsStatus::NoData);
  CHECK(b.hasSoa);
  CHECK(b.negativeTtl == 45);

  ReplyBuilder bare("gone.test", QType::MX, 3, 0, 0);
  CHECK_FALSE(bare.parse("gone.test", QType::MX).hasSoa);
}

TEST_CASE("rcodes map to statuses") {
  CHECK(ReplyBuilder("x.test", QType::A, 2, 0, 0).parse("x.test", QType::A).status == DnsStatus::ServFail);
  CHECK(ReplyBuilder("x.test", QType::A, 5, 0, 0).parse("x.test", QType::A).status == DnsStatus::ServFail);
  CHECK(ReplyBuilder("x.test", QType::A, 1, 0, 0).parse("x.test", QType::A).status == DnsStatus::Error);
}

TEST_CASE("malformed replies are values, never crashes") {
  ReplyBuilder r("mx.test", QType::MX, 0, 1, 0);
  r.mx("mx.test", 60, 10, "mx1.test", true);
  const auto full = r.b;
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    DnsAnswer a = parseReply(full.data(), cut, "mx.test", QType::MX);
    CHECK(a.status == DnsStatus::Malformed);
  }
  // A compression pointer to itself loops: bounded.
  std::vector<std::uint8_t> loop = {0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
  CHECK(parseReply(loop.data(), loop.size(), "x", QType::A).status == DnsStatus::Malformed);
  // An A record with the wrong length.
  ReplyBuilder bad("a.test", QType::A, 0, 1, 0);
  bad.rrHeader("a.test", QType::A, 60, 3, true);
  bad.b.insert(bad.b.end(), {1, 2, 3});
  CHECK(bad.parse("a.test", QType::A).status == DnsStatus::Malformed);
  // A query (QR clear) is not a reply.
  std::vector<std::uint8_t> q;
  REQUIRE(buildQuery("a.test", QType::A, 7, q));
  CHECK(parseReply(q.data(), q.size(), "a.test", QType::A).status == DnsStatus::Malformed);
}

TEST_CASE("TTL with the top bit set counts as zero (RFC 2181)") {
  ReplyBuilder r("a.test", QType::A, 0, 1, 0);
  r.a("a.test", 0x80000001u, 1, true);
  DnsAnswer a = r.parse("a.test", QType::A);
  REQUIRE(a.status == DnsStatus::Ok);
  CHECK(a.ttl == 0);
}

TEST_CASE("buildQuery writes header, labels and type") {
  std::vector<std::uint8_t> q;
  REQUIRE(buildQuery("ab.c.", QType::MX, 0x0102, q));
  const std::vector<std::uint8_t> want = {1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 'a', 'b', 1, 'c', 0, 0, 15, 0, 1};
  CHECK(q == want);
  std::vector<std::uint8_t> junk;
  CHECK_FALSE(buildQuery("a..b", QType::A, 1, junk));
  CHECK_FALSE(buildQuery("", QType::A, 1, junk));
}

TEST_CASE("random and mutated replies never crash the parser") {
  ReplyBuilder r("mx.test", QType::MX, 0, 2, 1);
  r.mx("mx.test", 60, 10, "mx1.test", true);
  r.mx("mx.test", 60, 20, "mx2.test", false);
  r.soa("test", 60, 30);
  std::uint64_t s = 12345;
  auto next = [&s] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(s >> 33);
  };
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> m = r.b;
    for (int k = 0, n = 1 + static_cast<int>(next() % 4); k < n; ++k) m[next() % m.size()] = static_cast<std::uint8_t>(next());
    DnsAnswer a = parseReply(m.data(), m.size(), "mx.test", QType::MX);
    if (a.status == DnsStatus::Ok) {
      ++ok;
      CHECK_FALSE(a.mx.empty());
    }
  }
  CHECK(ok > 0);  // some mutations keep the reply valid
}
