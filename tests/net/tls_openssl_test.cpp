// tls_openssl_test.cpp: TlsFilter against an independent TLS implementation on loopback: Debian's `openssl
// s_server -rev` (reverses every line it receives) for the client side, and `openssl s_client` for the server
// side. The test drives the filter over a blocking socket; the peer's certificate is made by `openssl req` in a
// temporary directory. Skipped (with a message) only when no openssl binary is installed.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/net/tls.hpp"
#include "tls_test_util.hpp"

using sluice::net::TlsClientOptions;
using sluice::net::TlsContext;
using sluice::net::TlsFilter;
using sluice::net::TlsRole;
using sluice::net::TlsVersion;
using namespace sluice::test::tls;

namespace {

// Writes cert.pem / key.pem (EC P-256, CN=localhost, self-signed) with the openssl binary.
bool makeCertificate(const TempDir& dir) {
  return runToCompletion({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", dir.file("key.pem"),
                          "-out", dir.file("cert.pem")},
                         dir.file("req.log")) == 0;
}

// The text `openssl s_server -rev` answers for `lines`: every line reversed, each ended by "\n".
std::string reversedLines(const std::string& lines) {
  std::string out;
  std::size_t at = 0;
  while (at < lines.size()) {
    const std::size_t nl = lines.find('\n', at);
    std::string line = lines.substr(at, nl - at);
    std::reverse(line.begin(), line.end());
    out += line + "\n";
    at = nl + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("tls interop: our client against openssl s_server") {
  if (!haveOpenssl()) {
    MESSAGE("skipped: no openssl binary on PATH");
    return;
  }
  TempDir dir;
  REQUIRE(dir.ok());
  REQUIRE_MESSAGE(makeCertificate(dir), readFile(dir.file("req.log")));

  TlsClientOptions options;
  std::string expectVersion = "TLSv1.3";
  SUBCASE("TLS 1.3") {}
  SUBCASE("TLS 1.2") {
    options.maxVersion = TlsVersion::Tls1_2;
    expectVersion = "TLSv1.2";
  }
  SUBCASE("verified against the peer's certificate") {
    options.verifyPeer = true;
    options.caFile = dir.file("cert.pem");
  }
  std::string error;
  auto ctx = TlsContext::makeClient(options, &error);
  REQUIRE_MESSAGE(ctx, error);

  Child server({"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", dir.file("cert.pem"), "-key",
                dir.file("key.pem"), "-rev", "-naccept", "1"},
               dir.file("s_server.err"));
  REQUIRE(server.started());
  std::string banner;
  REQUIRE_MESSAGE(server.readUntil(banner, "ACCEPT"), readFile(dir.file("s_server.err")));
  REQUIRE(server.readUntil(banner, "\n"));
  const std::string acceptLine = banner.substr(banner.find("ACCEPT"));
  const int port = std::stoi(acceptLine.substr(acceptLine.rfind(':') + 1));
  REQUIRE(port > 0);

  Fd sock(connectLoopback(static_cast<std::uint16_t>(port)));
  REQUIRE(sock.get() >= 0);
  TlsFilter tls(*ctx, TlsRole::Client, "localhost");
  std::string got;
  drive(sock.get(), tls, got, [&] { return tls.handshakeDone() || tls.failed(); });
  REQUIRE_MESSAGE(tls.handshakeDone(), tls.error() << " / " << readFile(dir.file("s_server.err")));
  CHECK(tls.version() == expectVersion);
  CHECK_FALSE(tls.cipher().empty());
  CHECK(tls.peerVerified() == options.verifyPeer);

  // A one-line exchange, then 30 000 octets of lines (several records each way) through a scatter write.
  REQUIRE(tls.writePlain("hello\n"));
  auto r = drive(sock.get(), tls, got, [&] { return got.size() >= 6 || tls.failed(); });
  CHECK(r.done);
  CHECK(got == "olleh\n");
  got.clear();
  const std::string a = randomText(12000, 11, 100);
  const std::string b = randomText(18000, 12, 100);
  const std::vector<sluice::net::PlainSlice> slices = {{a.data(), a.size()}, {b.data(), b.size()}};
  REQUIRE(tls.writePlain(std::span<const sluice::net::PlainSlice>(slices)));
  const std::string expected = reversedLines(a + b);
  r = drive(sock.get(), tls, got, [&] { return got.size() >= expected.size() || tls.failed(); });
  CHECK_MESSAGE(r.done, tls.error());
  CHECK(got.size() == expected.size());
  CHECK(got == expected);

  // "CLOSE" makes s_server end the connection with a close_notify.
  got.clear();
  REQUIRE(tls.writePlain("CLOSE\n"));
  r = drive(sock.get(), tls, got, [&] { return tls.peerClosed() || tls.failed(); });
  CHECK(tls.peerClosed());
  CHECK_FALSE(tls.failed());
  CHECK(tls.shutdown());
  sendAll(sock.get(), tls.takeCiphertext());
}

TEST_CASE("tls interop: openssl s_client against our server (makeServer with PEM files)") {
  if (!haveOpenssl()) {
    MESSAGE("skipped: no openssl binary on PATH");
    return;
  }
  TempDir dir;
  REQUIRE(dir.ok());
  REQUIRE_MESSAGE(makeCertificate(dir), readFile(dir.file("req.log")));
  std::string error;
  auto ctx = TlsContext::makeServer(dir.file("cert.pem"), dir.file("key.pem"), &error);
  REQUIRE_MESSAGE(ctx, error);

  std::uint16_t port = 0;
  Fd listener(listenLoopback(port));
  REQUIRE(listener.get() >= 0);
  std::vector<std::string> argv = {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                                   "-servername", "mail.example.test", "-quiet"};
  std::string expectVersion = "TLSv1.3";
  SUBCASE("TLS 1.3") {}
  SUBCASE("TLS 1.2") {
    argv.push_back("-tls1_2");
    expectVersion = "TLSv1.2";
  }
  Child client(argv, dir.file("s_client.err"));
  REQUIRE(client.started());
  Fd conn(acceptWithin(listener.get()));
  REQUIRE_MESSAGE(conn.get() >= 0, readFile(dir.file("s_client.err")));

  TlsFilter tls(*ctx, TlsRole::Server);
  std::string got;
  std::string clientOut;  // what s_client printed: the plaintext our server sent
  drive(conn.get(), tls, got, [&] { return tls.handshakeDone() || tls.failed(); }, client.stdoutFd(), &clientOut);
  REQUIRE_MESSAGE(tls.handshakeDone(), tls.error() << " / " << readFile(dir.file("s_client.err")));
  CHECK(tls.version() == expectVersion);
  CHECK(tls.serverName() == "mail.example.test");

  // Client to server: s_client sends what it reads on stdin.
  const std::string upstream = "EHLO client.example.test\n" + randomText(30000, 21, 80);
  {
    std::string_view rest = upstream;  // fits in the pipe buffer; s_client drains it while we drive below
    while (!rest.empty()) {
      const ssize_t n = write(client.stdinFd(), rest.data(), rest.size());
      REQUIRE(n > 0);
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  auto r = drive(conn.get(), tls, got, [&] { return got.size() >= upstream.size() || tls.failed(); },
                 client.stdoutFd(), &clientOut);
  CHECK_MESSAGE(r.done, tls.error());
  CHECK(got == upstream);

  // Server to client, then our close_notify: s_client prints the bytes, answers close_notify and exits.
  const std::string downstream = "250 ok\n" + randomText(40000, 22, 64);
  REQUIRE(tls.writePlain(downstream));
  REQUIRE(tls.shutdown());
  r = drive(conn.get(), tls, got, [&] { return tls.peerClosed() || tls.failed(); }, client.stdoutFd(), &clientOut);
  CHECK_MESSAGE(r.done, tls.error() << " / " << readFile(dir.file("s_client.err")));
  client.readToEof(clientOut);  // s_client exits after close_notify; collect what it printed last
  CHECK(clientOut.size() == downstream.size());
  CHECK(clientOut == downstream);
  CHECK(client.waitFor(20000) == 0);
  CHECK(tls.peerClosed());
  CHECK_FALSE(tls.failed());
}
