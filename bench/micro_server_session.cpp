// micro_server_session.cpp: Google Benchmark for the SMTP server session, as used by the benchmark sink: a client
// stream of pipelined transactions (MAIL, RCPT, then BDAT 5 KiB LAST, or DATA with a 5 KiB dot-stuffed body) fed in
// reads of a given size, replies drained after each read. Reports messages/s (items) and bytes/s.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/smtp/server_session.hpp"

namespace {

using namespace sluice::smtp;

constexpr int kMessagesPerConnection = 200;
constexpr std::size_t kBodySize = 5120;

// A sink owner: counts what it gets and accepts everything.
struct Sink : ServerHandler {
  std::uint64_t bytes = 0;
  std::uint64_t messages = 0;
  // Counts body bytes.
  void onBody(std::string_view b) override { bytes += b.size(); }
  // Accepts the message.
  Verdict onMessageEnd(const MessageInfo&) override {
    ++messages;
    return Verdict::accept(250, "2.0.0", "Ok");
  }
};

// A 5 KiB body of 78-octet lines, every tenth starting with a dot (stuffed on the wire when `stuffed`).
std::string makeBody(bool stuffed) {
  std::string body;
  int line = 0;
  while (body.size() < kBodySize) {
    std::string l = (line % 10 == 0) ? std::string(stuffed ? ".." : ".") : std::string();
    l.append(78 - l.size(), static_cast<char>('a' + line % 26));
    body += l;
    body += "\r\n";
    ++line;
  }
  return body;
}

// The client side of one connection: EHLO, then kMessagesPerConnection pipelined transactions, then QUIT.
std::string makeStream(bool bdat) {
  std::string s = "EHLO bench.example\r\n";
  const std::string body = makeBody(bdat ? false : true);
  for (int i = 0; i < kMessagesPerConnection; ++i) {
    s += "MAIL FROM:<sender@bench.example> SIZE=6000\r\nRCPT TO:<rcpt@sink.example>\r\n";
    if (bdat) {
      s += "BDAT " + std::to_string(body.size()) + " LAST\r\n";
      s += body;
    } else {
      s += "DATA\r\n";
      s += body;
      s += ".\r\n";
    }
  }
  s += "QUIT\r\n";
  return s;
}

// Runs whole connections through a session, feeding `readSize` bytes at a time.
void runConnections(benchmark::State& state, bool bdat) {
  const std::string stream = makeStream(bdat);
  const std::size_t readSize = static_cast<std::size_t>(state.range(0));
  ServerConfig cfg;
  cfg.hostname = "sink.example";
  cfg.longLines = LongLinePolicy::Accept;
  std::uint64_t messages = 0;
  std::uint64_t replyBytes = 0;
  for (auto _ : state) {
    Sink sink;
    ServerSession session(cfg, sink);
    session.greet();
    for (std::size_t pos = 0; pos < stream.size(); pos += readSize) {
      session.feed(std::string_view(stream).substr(pos, readSize));
      replyBytes += session.output().size();  // the caller's one write per read
      session.clearOutput();
    }
    if (!session.closeRequested() || sink.messages != kMessagesPerConnection) state.SkipWithError("bad run");
    messages += sink.messages;
  }
  benchmark::DoNotOptimize(replyBytes);
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(stream.size()));
}

// Pipelined MAIL/RCPT/BDAT 5 KiB LAST transactions.
void BM_ServerSessionBdat(benchmark::State& state) { runConnections(state, true); }
// Pipelined MAIL/RCPT/DATA transactions with a 5 KiB dot-stuffed body.
void BM_ServerSessionData(benchmark::State& state) { runConnections(state, false); }

BENCHMARK(BM_ServerSessionBdat)->Arg(65536)->Arg(1460);
BENCHMARK(BM_ServerSessionData)->Arg(65536)->Arg(1460);

}  // namespace

BENCHMARK_MAIN();
