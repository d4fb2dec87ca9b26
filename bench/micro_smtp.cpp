// micro_smtp.cpp: micro-benchmarks for the SMTP basics: reply parsing (replies/s) and dot-stuffing (bytes/s).
#include <benchmark/benchmark.h>

#include <string>

#include "engine/smtp/capabilities.hpp"
#include "engine/smtp/dotstuff.hpp"
#include "engine/smtp/reply.hpp"

namespace {

using sluice::smtp::DotStuffer;
using sluice::smtp::Reply;
using sluice::smtp::ReplyParser;

constexpr const char* kEhlo =
    "250-mx.example.com Hello relay.example.net [192.0.2.1]\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n"
    "250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
    "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

// Parses one single-line reply per iteration.
void BM_ReplySingleLine(benchmark::State& state) {
  const std::string wire = "250 2.1.5 Ok\r\n";
  ReplyParser p;
  Reply r;
  for (auto _ : state) {
    p.feed(wire);
    if (p.next(r) != ReplyParser::Status::Ready) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(r.code);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(BM_ReplySingleLine);

// Parses an 11-line EHLO reply per iteration.
void BM_ReplyMultiLineEhlo(benchmark::State& state) {
  const std::string wire = kEhlo;
  ReplyParser p;
  Reply r;
  for (auto _ : state) {
    p.feed(wire);
    if (p.next(r) != ReplyParser::Status::Ready) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(r.lines.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(BM_ReplyMultiLineEhlo);

// Parses an EHLO reply and builds the capability set from it.
void BM_ReplyEhloAndCapabilities(benchmark::State& state) {
  const std::string wire = kEhlo;
  ReplyParser p;
  Reply r;
  for (auto _ : state) {
    p.feed(wire);
    if (p.next(r) != ReplyParser::Status::Ready) state.SkipWithError("parse failed");
    auto caps = sluice::smtp::parseEhlo(r);
    benchmark::DoNotOptimize(caps.sizeLimit);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReplyEhloAndCapabilities);

// Parses a pipelined stream of 1000 replies (MAIL, RCPT x N, DATA answers) arriving in 1460-byte segments.
void BM_ReplyPipelinedStream(benchmark::State& state) {
  std::string stream;
  for (int i = 0; i < 1000; ++i) {
    switch (i % 4) {
      case 0: stream += "250 2.1.0 Sender ok\r\n"; break;
      case 1: stream += "250 2.1.5 Recipient ok\r\n"; break;
      case 2: stream += "550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 x\r\n"; break;
      default: stream += "354 End data with <CR><LF>.<CR><LF>\r\n"; break;
    }
  }
  std::int64_t replies = 0;
  for (auto _ : state) {
    ReplyParser p;
    Reply r;
    for (std::size_t off = 0; off < stream.size(); off += 1460) {
      p.feed(std::string_view(stream).substr(off, 1460));
      while (p.next(r) == ReplyParser::Status::Ready) ++replies;
    }
  }
  if (replies != state.iterations() * 1000) state.SkipWithError("wrong reply count");
  state.SetItemsProcessed(replies);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(stream.size()));
}
BENCHMARK(BM_ReplyPipelinedStream);

// Builds ~1 MiB of CRLF text; every `dotEvery`-th line starts with "." (0 = never).
std::string makeBody(int dotEvery) {
  std::string body;
  int line = 0;
  while (body.size() < (1u << 20)) {
    if (dotEvery != 0 && line % dotEvery == 0) body += '.';
    body += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n";
    ++line;
  }
  return body;
}

// Dot-stuffs a 1 MiB body fed in 64 KiB slices, as from a spool mapping.
void stuffBody(benchmark::State& state, const std::string& body) {
  std::string out;
  out.reserve(body.size() * 2);
  DotStuffer d;
  for (auto _ : state) {
    out.clear();
    for (std::size_t off = 0; off < body.size(); off += 65536) d.feed(std::string_view(body).substr(off, 65536), out);
    d.finish(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}

// Plain text: no line starts with ".".
void BM_DotStuffPlain(benchmark::State& state) { stuffBody(state, makeBody(0)); }
BENCHMARK(BM_DotStuffPlain);

// Every line starts with ".".
void BM_DotStuffAllDots(benchmark::State& state) { stuffBody(state, makeBody(1)); }
BENCHMARK(BM_DotStuffAllDots);

// Every fourth line starts with ".".
void BM_DotStuffSomeDots(benchmark::State& state) { stuffBody(state, makeBody(4)); }
BENCHMARK(BM_DotStuffSomeDots);

// Bare-LF text (every line needs a CRLF rewrite).
void BM_DotStuffBareLf(benchmark::State& state) {
  std::string body;
  while (body.size() < (1u << 20)) body += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\n";
  stuffBody(state, body);
}
BENCHMARK(BM_DotStuffBareLf);

}  // namespace

BENCHMARK_MAIN();
