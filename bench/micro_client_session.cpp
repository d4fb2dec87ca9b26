// micro_client_session.cpp: how many messages per second the SMTP client session state machine can drive with no
// I/O. One session per benchmark, after EHLO, reused across iterations (connection reuse); each iteration submits
// N single-recipient 5 KiB messages, takes and acknowledges every write, feeds the peer's canned replies and
// drains the events, checking that all N were delivered. BDAT: PIPELINING + CHUNKING + 8BITMIME, all N deep-
// pipelined before the replies come in one read. DATA: PIPELINING only, the replies come per transaction (the
// content waits for 354). Items are messages, bytes are body octets handed to the session.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/smtp/client_session.hpp"

namespace {

using namespace sluice::smtp;

constexpr std::size_t kBodySize = 5 * 1024;

// A CRLF-clean 5 KiB body of 78-octet lines; every 8th line starts with "." (dot-stuffed on the DATA path).
std::string makeBody() {
  std::string b = "From: a@origin.example\r\nTo: b@dest.example\r\nSubject: bench\r\n\r\n";
  std::size_t n = 0;
  while (b.size() < kBodySize) {
    b += n % 8 == 0 ? "." : "x";
    b += std::string(75, static_cast<char>('a' + n % 26));
    b += "\r\n";
    ++n;
  }
  b.resize(kBodySize - 2);
  b += "\r\n";
  return b;
}

// Drains the session's writes (acknowledging each at once, as a socket that accepts everything) and its events;
// returns the number of Delivered results seen.
std::size_t drain(ClientSession& s, std::size_t& wireBytes) {
  std::size_t delivered = 0;
  for (;;) {
    bool any = false;
    while (auto w = s.takeWrite()) {
      wireBytes += w->bytes;
      s.onWritten();
      any = true;
    }
    while (auto e = s.nextEvent()) {
      if (auto* r = std::get_if<RecipientResult>(&*e); r != nullptr && r->outcome == Outcome::Delivered) ++delivered;
      any = true;
    }
    if (!any) return delivered;
  }
}

// A session connected, greeted and past EHLO with the given capability reply.
void openSession(ClientSession& s, std::string_view ehloReply) {
  std::size_t ignored = 0;
  s.onConnected();
  s.onBytes("220 mx.example ESMTP\r\n");
  drain(s, ignored);
  s.onBytes(ehloReply);
  drain(s, ignored);
}

// The message with handle h to one recipient, body as one span.
OutboundMessage makeMessage(MessageHandle h, const std::string& body) {
  OutboundMessage m;
  m.handle = h;
  m.reversePath = "bounce@origin.example";
  m.params.body = BodyType::EightBitMime;
  m.recipients.push_back({"user" + std::to_string(h % 1000) + "@dest.example", {}});
  m.body.push_back(body);
  return m;
}

// Config for the benchmarks: our name, no TLS, the default 32-transaction window.
ClientConfig benchConfig() {
  ClientConfig c;
  c.heloName = "relay.origin.example";
  c.tls = TlsPolicy::Never;
  return c;
}

// N deep-pipelined BDAT transactions per iteration; the replies (RSET before each MAIL but the first) in one read.
void BM_ClientSessionBdat(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const std::string body = makeBody();
  std::string replies;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) replies += "250 2.0.0 Ok\r\n";  // the isolating RSET
    replies += "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as 4XYZ\r\n";
  }
  ClientSession s(benchConfig());
  openSession(s, "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250 CHUNKING\r\n");
  MessageHandle next = 1;
  std::size_t wireBytes = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) s.submit(makeMessage(next++, body));
    std::size_t delivered = drain(s, wireBytes);
    s.onBytes(replies);
    delivered += drain(s, wireBytes);
    if (delivered != n || !s.idle()) state.SkipWithError("not every message was delivered");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(n * body.size()));
  state.counters["wire_bytes_per_msg"] =
      static_cast<double>(wireBytes) / static_cast<double>(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_ClientSessionBdat)->Arg(1)->Arg(32);

// N pipelined DATA transactions per iteration: "250 250 354" per group, then the end-of-data reply, which arrives
// together with the next group's replies (its MAIL follows the final dot in the same write).
void BM_ClientSessionData(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const std::string body = makeBody();
  const std::string group = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n";
  const std::string queued = "250 2.0.0 Ok: queued as 4XYZ\r\n";
  const std::string queuedAndGroup = queued + group;
  ClientSession s(benchConfig());
  openSession(s, "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250 8BITMIME\r\n");
  MessageHandle next = 1;
  std::size_t wireBytes = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) s.submit(makeMessage(next++, body));
    std::size_t delivered = drain(s, wireBytes);
    s.onBytes(group);
    delivered += drain(s, wireBytes);
    for (std::size_t i = 0; i < n; ++i) {
      s.onBytes(i + 1 < n ? std::string_view(queuedAndGroup) : std::string_view(queued));
      delivered += drain(s, wireBytes);
    }
    if (delivered != n || !s.idle()) state.SkipWithError("not every message was delivered");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(n * body.size()));
  state.counters["wire_bytes_per_msg"] =
      static_cast<double>(wireBytes) / static_cast<double>(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_ClientSessionData)->Arg(1)->Arg(32);

}  // namespace

BENCHMARK_MAIN();
