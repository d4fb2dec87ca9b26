// test_load.cpp: the load generator (bench/driver/load.hpp) against an in-process `sluice sink` on an ephemeral
// loopback port: every message arrives and is counted once (BDAT when CHUNKING is offered, DATA when it is not),
// recipients and sizes match the corpus, refusals are counted as failures, and a closed port is a failed session,
// not a hang.
#include <doctest/doctest.h>

#include <string>

#include "bench/driver/load.hpp"
#include "bench/sink/sink.hpp"

using namespace sluice;
using namespace sluice::bench;

namespace {

struct RunningSink {
  sink::Sink s;
  explicit RunningSink(sink::SinkOptions o) : s(withEphemeralPort(std::move(o))) {
    std::string error;
    REQUIRE_MESSAGE(s.start(&error), error);
  }
  ~RunningSink() {
    s.stop();
    s.wait();
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(s.port()); }
  static sink::SinkOptions withEphemeralPort(sink::SinkOptions o) {
    o.listen = "127.0.0.1:0";
    o.quiet = true;
    return o;
  }
};

LoadResult load(const std::string& target, const Corpus& corpus, std::uint64_t messages, unsigned sessions) {
  LoadOptions lo;
  lo.target = target;
  lo.messages = messages;
  lo.sessions = sessions;
  lo.window = 8;
  lo.timeoutSeconds = 20;
  LoadResult r;
  std::string error;
  REQUIRE_MESSAGE(runLoad(lo, corpus, r, {}, &error), error);
  return r;
}

}  // namespace

TEST_CASE("every message reaches the sink once, by BDAT when CHUNKING is offered") {
  RunningSink sink({});
  CorpusOptions co;
  co.size = 3000;
  co.rcpts = 2;
  co.domains = 3;
  Corpus corpus(co);
  LoadResult r = load(sink.target(), corpus, 500, 4);
  CHECK(r.messagesAccepted == 500);
  CHECK(r.messagesFailed == 0);
  CHECK(r.recipientsAccepted == 1000);
  CHECK(r.sessionsOpened == 4);
  CHECK(r.sessionsChunking == 4);
  CHECK(r.sessionsPipelined == 4);
  CHECK(r.bodyBytes == 500u * 3000u);
  CHECK(r.firstError.empty());
  const sink::SinkCounters c = sink.s.counters();
  CHECK(c.messages == 500);
  CHECK(c.messagesBdat == 500);
  CHECK(c.recipients == 1000);
  CHECK(c.bytes == 500u * 3000u);
}

TEST_CASE("without CHUNKING and PIPELINING the messages go by DATA, one command at a time, all of them") {
  sink::SinkOptions o;
  o.chunking = false;
  o.pipelining = false;
  RunningSink sink(o);
  CorpusOptions co;
  co.shape = Shape::Multipart;
  co.size = 4000;
  Corpus corpus(co);
  LoadResult r = load(sink.target(), corpus, 120, 3);
  CHECK(r.messagesAccepted == 120);
  CHECK(r.sessionsChunking == 0);
  CHECK(r.sessionsPipelined == 0);
  const sink::SinkCounters c = sink.s.counters();
  CHECK(c.messagesData == 120);
  CHECK(c.messagesBdat == 0);
  CHECK(c.bytes == 120u * 4000u);  // DATA unstuffed by the sink: the corpus bytes exactly
}

TEST_CASE("refused recipients are failures, counted, with the first reply kept") {
  sink::SinkOptions o;
  o.faults.permfail[static_cast<int>(sink::Stage::Rcpt)] = 1000000;  // every RCPT refused
  RunningSink sink(o);
  Corpus corpus(CorpusOptions{});
  LoadResult r = load(sink.target(), corpus, 50, 2);
  CHECK(r.messagesAccepted == 0);
  CHECK(r.messagesFailed == 50);
  CHECK(r.recipientsPermFailed == 50);
  CHECK(r.firstError.rfind("refused: 5", 0) == 0);
  CHECK(sink.s.counters().messages == 0);
}

TEST_CASE("a closed port gives failed sessions and failed messages, and returns") {
  std::uint16_t port;
  {
    RunningSink sink({});
    port = sink.s.port();
  }  // stopped: the port is closed now
  Corpus corpus(CorpusOptions{});
  LoadResult r = load("127.0.0.1:" + std::to_string(port), corpus, 10, 2);
  CHECK(r.messagesAccepted == 0);
  CHECK(r.messagesFailed == 10);
  CHECK(r.sessionsFailed == 2);
  CHECK(r.firstError.rfind("connect: ", 0) == 0);
}
