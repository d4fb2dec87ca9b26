// tls_pair_test.cpp: TlsContext / TlsFilter with a client and a server filter talking through memory only:
// handshake, data both ways (1 byte, 1 MiB in pieces, scatter writes), close_notify, SNI, protocol versions,
// certificate verification and the error texts for garbage, old protocol versions and corrupted records.
#include <doctest/doctest.h>

#include <openssl/ssl.h>

#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/net/tls.hpp"
#include "engine/smtp/client_session.hpp"  // IoSlice only: the write requests the SMTP client hands out
#include "tls_test_util.hpp"

using sluice::net::PlainSlice;
using sluice::net::TlsClientOptions;
using sluice::net::TlsContext;
using sluice::net::TlsFilter;
using sluice::net::TlsRole;
using sluice::net::TlsVersion;
using sluice::test::tls::pump;
using sluice::test::tls::randomText;

namespace {

std::unique_ptr<TlsContext> serverCtx(const char* cn = "localhost") {
  std::string error;
  auto ctx = TlsContext::makeSelfSignedServer(cn, &error);
  REQUIRE_MESSAGE(ctx, error);
  return ctx;
}

std::unique_ptr<TlsContext> clientCtx(const TlsClientOptions& options = {}) {
  std::string error;
  auto ctx = TlsContext::makeClient(options, &error);
  REQUIRE_MESSAGE(ctx, error);
  return ctx;
}

// A connected client/server pair over memory.
struct Pair {
  std::unique_ptr<TlsContext> sctx = serverCtx();
  std::unique_ptr<TlsContext> cctx = clientCtx();
  TlsFilter client{*cctx, TlsRole::Client, "mx1.example.test"};
  TlsFilter server{*sctx, TlsRole::Server};
  std::string clientGot;
  std::string serverGot;

  void run(std::size_t step = 0) { pump(client, server, clientGot, serverGot, step); }
};

}  // namespace

TEST_CASE("tls pair: handshake, one byte each way, version, cipher and SNI") {
  Pair p;
  CHECK_FALSE(p.client.handshakeDone());
  CHECK(p.client.pendingCiphertext() > 0);  // the ClientHello waits from construction
  CHECK(p.client.version().empty());
  p.run();
  REQUIRE_MESSAGE(p.client.handshakeDone(), p.client.error());
  REQUIRE_MESSAGE(p.server.handshakeDone(), p.server.error());
  const std::string v = p.client.version();
  CHECK((v == "TLSv1.3" || v == "TLSv1.2"));
  CHECK(p.server.version() == v);
  CHECK_FALSE(p.client.cipher().empty());
  CHECK(p.client.cipher() == p.server.cipher());
  CHECK(p.server.serverName() == "mx1.example.test");
  CHECK(p.client.serverName() == "mx1.example.test");
  CHECK_FALSE(p.client.peerVerified());  // opportunistic, self-signed: encrypted but untrusted

  CHECK(p.client.writePlain("x"));
  p.run();
  CHECK(p.serverGot == "x");
  CHECK(p.server.writePlain("y"));
  p.run();
  CHECK(p.clientGot == "y");
  CHECK_FALSE(p.client.failed());
  CHECK_FALSE(p.server.failed());
}

TEST_CASE("tls pair: the handshake survives any segmentation of the ciphertext") {
  for (std::size_t step : {1u, 7u, 100u}) {
    CAPTURE(step);
    Pair p;
    CHECK(p.client.writePlain("EHLO client.example.test\r\n"));  // queued until the handshake finishes
    p.run(step);
    REQUIRE(p.client.handshakeDone());
    REQUIRE(p.server.handshakeDone());
    CHECK(p.serverGot == "EHLO client.example.test\r\n");
  }
}

TEST_CASE("tls pair: 1 MiB each way in uneven pieces arrives intact") {
  Pair p;
  p.run();
  REQUIRE(p.client.handshakeDone());
  const std::string big = randomText(1 << 20, 7);
  const std::string back = randomText(1 << 20, 8);
  std::size_t at = 0;
  std::size_t piece = 1;
  while (at < big.size()) {
    const std::size_t n = std::min(piece, big.size() - at);
    REQUIRE(p.client.writePlain(std::string_view(big).substr(at, n)));
    REQUIRE(p.server.writePlain(std::string_view(back).substr(at, n)));
    at += n;
    piece = piece * 3 + 1;  // 1, 4, 13, ... 88573: tiny records and many-record writes
    if (piece > 100000) {
      piece = 5;
    }
    p.run();
  }
  CHECK(p.serverGot.size() == big.size());
  CHECK(p.serverGot == big);
  CHECK(p.clientGot == back);
}

TEST_CASE("tls pair: ciphertext held for the caller is bounded by what was written plus record overhead") {
  Pair p;
  p.run();
  REQUIRE(p.client.handshakeDone());
  const std::string big = randomText(1 << 20, 9);
  REQUIRE(p.client.writePlain(big));
  const std::size_t records = big.size() / 16384;
  // A TLS 1.3 record adds 5 header + 1 type + 16 tag octets; TLS 1.2 AEAD adds 5 + 8 + 16.
  CHECK(p.client.pendingCiphertext() >= big.size());
  CHECK(p.client.pendingCiphertext() <= big.size() + records * 29);
  p.run();
  CHECK(p.serverGot == big);
  CHECK(p.client.pendingCiphertext() == 0);
}

TEST_CASE("tls pair: scatter writes are one stream; small slices share a record") {
  Pair p;
  p.run();
  REQUIRE(p.client.handshakeDone());
  const std::string large = randomText(40000, 3);
  const std::string exact = randomText(16384, 4);
  const std::vector<std::string> parts = {"BDAT 56772 LAST\r\n", "", "a", large, "bc", exact, "tail\r\n"};
  std::string expected;
  std::vector<PlainSlice> slices;
  for (const std::string& s : parts) {
    slices.push_back({s.data(), s.size()});
    expected += s;
  }
  REQUIRE(p.client.writePlain(std::span<const PlainSlice>(slices)));
  p.run();
  CHECK(p.serverGot == expected);

  // A hundred 10-byte slices in the SMTP client's own slice type: one record (about 100 + 22 octets), not a
  // hundred (2200+ octets of overhead).
  const std::string ten = "0123456789";
  std::vector<sluice::smtp::IoSlice> many(100, sluice::smtp::IoSlice{ten.data(), ten.size()});
  REQUIRE(p.client.writePlain(std::span<const sluice::smtp::IoSlice>(many)));
  CHECK(p.client.pendingCiphertext() < 1000 + 100);
  p.serverGot.clear();
  p.run();
  std::string hundred;
  for (int i = 0; i < 100; ++i) {
    hundred += ten;
  }
  CHECK(p.serverGot == hundred);
}

TEST_CASE("tls pair: plaintext written before the handshake is sent after it, in order, both sides") {
  Pair p;
  CHECK(p.client.writePlain("first "));
  const std::string second = "second";
  const std::vector<PlainSlice> slices = {{second.data(), second.size()}};
  CHECK(p.client.writePlain(std::span<const PlainSlice>(slices)));
  CHECK(p.server.writePlain("220 hello over tls\r\n"));
  p.run();
  REQUIRE(p.client.handshakeDone());
  CHECK(p.serverGot == "first second");
  CHECK(p.clientGot == "220 hello over tls\r\n");
}

TEST_CASE("tls pair: close_notify both ways") {
  Pair p;
  p.run();
  REQUIRE(p.client.handshakeDone());
  CHECK(p.client.writePlain("QUIT\r\n"));
  CHECK(p.client.shutdown());
  CHECK(p.client.shutdown());             // idempotent
  CHECK_FALSE(p.client.writePlain("x"));  // nothing after our close_notify
  CHECK_FALSE(p.server.peerClosed());
  p.run();
  CHECK(p.serverGot == "QUIT\r\n");
  CHECK(p.server.peerClosed());
  CHECK_FALSE(p.server.failed());
  CHECK_FALSE(p.client.peerClosed());
  CHECK(p.server.writePlain("221 bye\r\n"));  // a half-closed peer may still be answered
  CHECK(p.server.shutdown());
  p.run();
  CHECK(p.clientGot == "221 bye\r\n");
  CHECK(p.client.peerClosed());
  CHECK_FALSE(p.client.failed());
}

TEST_CASE("tls pair: shutdown before the handshake has nothing to send") {
  Pair p;
  CHECK_FALSE(p.client.shutdown());
  CHECK_FALSE(p.client.failed());
}

TEST_CASE("tls pair: plaintext SMTP where a TLS record is expected fails with a clear error") {
  auto sctx = serverCtx();
  auto cctx = clientCtx();
  SUBCASE("server receives plaintext") {
    TlsFilter server(*sctx, TlsRole::Server);
    CHECK_FALSE(server.feedCiphertext("EHLO client.example.test\r\n"));
    CHECK(server.failed());
    CHECK(server.error() == "tls: wrong version number");
    CHECK_FALSE(server.handshakeDone());
    CHECK_FALSE(server.writePlain("x"));
    CHECK_FALSE(server.feedCiphertext("more"));
  }
  SUBCASE("client receives plaintext") {
    TlsFilter client(*cctx, TlsRole::Client, "mx.example.test");
    client.takeCiphertext();
    CHECK_FALSE(client.feedCiphertext("554 5.7.0 no TLS here\r\n"));
    CHECK(client.failed());
    CHECK(client.error() == "tls: wrong version number");
  }
}

TEST_CASE("tls pair: a corrupted record after the handshake fails the receiver") {
  Pair p;
  p.run();
  REQUIRE(p.client.handshakeDone());
  REQUIRE(p.client.writePlain("MAIL FROM:<a@example.test>\r\n"));
  std::string record = p.client.takeCiphertext();
  REQUIRE(record.size() > 10);
  record[record.size() - 3] ^= 0x01;  // inside the authentication tag
  CHECK_FALSE(p.server.feedCiphertext(record));
  CHECK(p.server.failed());
  CHECK(p.server.error().rfind("tls: ", 0) == 0);
  CHECK(p.server.error().find("bad record mac") != std::string::npos);
  CHECK(p.server.takePlaintext().empty());
  CHECK(p.server.pendingCiphertext() > 0);  // the bad_record_mac alert owed to the peer
}

TEST_CASE("tls pair: a TLS 1.0-only peer is refused by the default minimum (TLS 1.2)") {
  auto sctx = serverCtx();
  std::string error;
  REQUIRE_MESSAGE(sctx->setVersionRange(TlsVersion::Tls1_0, TlsVersion::Tls1_0, &error), error);
  // Debian's default security level forbids TLS 1.0 outright; level 0 makes the peer genuinely offer it.
  REQUIRE(SSL_CTX_set_cipher_list(sctx->native(), "DEFAULT:@SECLEVEL=0") == 1);

  SUBCASE("default client refuses") {
    auto cctx = clientCtx();
    TlsFilter client(*cctx, TlsRole::Client, "mx.example.test");
    TlsFilter server(*sctx, TlsRole::Server);
    std::string cg, sg;
    pump(client, server, cg, sg);
    CHECK_FALSE(client.handshakeDone());
    CHECK(client.failed());
    CHECK(server.failed());
    CHECK(client.error() == "tls: tlsv1 alert protocol version");  // the server's alert, as the client reports it
    CHECK(server.error() == "tls: unsupported protocol");
  }
  SUBCASE("control: a client allowing TLS 1.0 gets through, so the peer really is TLS 1.0") {
    TlsClientOptions o;
    o.minVersion = TlsVersion::Tls1_0;
    o.ciphers = "DEFAULT:@SECLEVEL=0";
    auto cctx = clientCtx(o);
    TlsFilter client(*cctx, TlsRole::Client, "mx.example.test");
    TlsFilter server(*sctx, TlsRole::Server);
    std::string cg, sg;
    pump(client, server, cg, sg);
    REQUIRE_MESSAGE(client.handshakeDone(), client.error());
    CHECK(client.version() == "TLSv1");
  }
}

TEST_CASE("tls pair: a client capped at TLS 1.2 negotiates TLSv1.2") {
  TlsClientOptions o;
  o.maxVersion = TlsVersion::Tls1_2;
  auto cctx = clientCtx(o);
  auto sctx = serverCtx();
  TlsFilter client(*cctx, TlsRole::Client, "mx.example.test");
  TlsFilter server(*sctx, TlsRole::Server);
  std::string cg, sg;
  client.writePlain("hello");
  pump(client, server, cg, sg);
  REQUIRE_MESSAGE(client.handshakeDone(), client.error());
  CHECK(client.version() == "TLSv1.2");
  CHECK(server.serverName() == "mx.example.test");
  CHECK(sg == "hello");
}

TEST_CASE("tls pair: verifyPeer against a self-signed server fails with a verify error") {
  TlsClientOptions o;
  o.verifyPeer = true;
  // No caFile: the system store, which cannot know a certificate made a moment ago.
  auto cctx = clientCtx(o);
  auto sctx = serverCtx();
  TlsFilter client(*cctx, TlsRole::Client, "localhost");
  TlsFilter server(*sctx, TlsRole::Server);
  std::string cg, sg;
  pump(client, server, cg, sg);
  CHECK_FALSE(client.handshakeDone());
  CHECK(client.failed());
  CHECK(client.error() == "tls: certificate verify failed (self-signed certificate)");
  CHECK(server.failed());  // it received the client's alert
  CHECK(server.error().find("alert") != std::string::npos);
}

TEST_CASE("tls pair: verifyPeer with the server's certificate as CA: name must match") {
  auto sctx = serverCtx("mx.example.test");
  sluice::test::tls::TempDir dir;
  REQUIRE(dir.ok());
  const std::string ca = dir.file("ca.pem");
  {
    const std::string pem = sctx->certificatePem();
    REQUIRE(pem.rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
    std::FILE* f = std::fopen(ca.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fwrite(pem.data(), 1, pem.size(), f);
    std::fclose(f);
  }
  TlsClientOptions o;
  o.verifyPeer = true;
  o.caFile = ca;
  auto cctx = clientCtx(o);
  SUBCASE("matching name") {
    TlsFilter client(*cctx, TlsRole::Client, "mx.example.test.");  // trailing dot dropped
    TlsFilter server(*sctx, TlsRole::Server);
    std::string cg, sg;
    pump(client, server, cg, sg);
    REQUIRE_MESSAGE(client.handshakeDone(), client.error());
    CHECK(client.peerVerified());
    CHECK(server.serverName() == "mx.example.test");
  }
  SUBCASE("other name") {
    TlsFilter client(*cctx, TlsRole::Client, "other.example.test");
    TlsFilter server(*sctx, TlsRole::Server);
    std::string cg, sg;
    pump(client, server, cg, sg);
    CHECK(client.failed());
    CHECK(client.error() == "tls: certificate verify failed (hostname mismatch)");
  }
  SUBCASE("opportunistic client with the CA loaded reports Verified without enforcing") {
    TlsClientOptions lax;
    lax.caFile = ca;
    auto laxCtx = clientCtx(lax);
    TlsFilter good(*laxCtx, TlsRole::Client, "mx.example.test");
    TlsFilter server(*sctx, TlsRole::Server);
    std::string cg, sg;
    pump(good, server, cg, sg);
    REQUIRE(good.handshakeDone());
    CHECK(good.peerVerified());
    TlsFilter wrongName(*laxCtx, TlsRole::Client, "other.example.test");
    TlsFilter server2(*sctx, TlsRole::Server);
    pump(wrongName, server2, cg, sg);
    REQUIRE(wrongName.handshakeDone());
    CHECK_FALSE(wrongName.peerVerified());
  }
}

TEST_CASE("tls pair: an IP literal is not sent as SNI") {
  auto cctx = clientCtx();
  auto sctx = serverCtx();
  TlsFilter client(*cctx, TlsRole::Client, "192.0.2.1");
  TlsFilter server(*sctx, TlsRole::Server);
  std::string cg, sg;
  pump(client, server, cg, sg);
  REQUIRE(client.handshakeDone());
  CHECK(server.serverName().empty());
}

TEST_CASE("tls context: errors name the cause") {
  std::string error;
  CHECK(TlsContext::makeServer("/nonexistent/cert.pem", "/nonexistent/key.pem", &error) == nullptr);
  CHECK(error.rfind("tls: cannot load certificate /nonexistent/cert.pem", 0) == 0);
  TlsClientOptions o;
  o.ciphers = "NO-SUCH-CIPHER";
  CHECK(TlsContext::makeClient(o, &error) == nullptr);
  CHECK(error.rfind("tls: bad cipher list \"NO-SUCH-CIPHER\"", 0) == 0);
  TlsClientOptions v;
  v.minVersion = TlsVersion::Tls1_3;
  v.maxVersion = TlsVersion::Tls1_2;
  CHECK(TlsContext::makeClient(v, &error) == nullptr);
  CHECK(error == "tls: minimum protocol version above the maximum");
  CHECK(TlsContext::makeSelfSignedServer("", &error) == nullptr);
  auto cctx = clientCtx();
  TlsFilter wrongRole(*cctx, TlsRole::Server);
  CHECK(wrongRole.failed());
  CHECK(wrongRole.error() == "tls: a client context cannot make a server connection");
  CHECK_FALSE(wrongRole.feedCiphertext("x"));
  CHECK(clientCtx()->certificatePem().empty());
}
