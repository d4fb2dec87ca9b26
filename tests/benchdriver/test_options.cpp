// test_options.cpp: `sluice bench` flag handling (bench/driver/bench.hpp, sink_process.hpp): sizes with units,
// the loopback-only rule for --target and --load (and --allow-remote lifting it), the flags that need values,
// the sink's listening line, and --sink-args splitting.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "bench/driver/bench.hpp"
#include "bench/driver/sink_process.hpp"

using namespace sluice::bench;

namespace {

// Parses a command line given as words (argv[0] = "bench" is added).
std::string parse(std::vector<std::string> words, BenchOptions& o, bool* help = nullptr) {
  bool h = false;
  words.insert(words.begin(), "bench");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  return parseBenchArgs(static_cast<int>(argv.size()), argv.data(), o, help ? help : &h);
}

}  // namespace

TEST_CASE("sizes take bytes, K/KiB and M/MiB; anything else is refused") {
  CHECK(parseSize("5120") == 5120u);
  CHECK(parseSize("5K") == 5120u);
  CHECK(parseSize("5KiB") == 5120u);
  CHECK(parseSize("1M") == 1048576u);
  CHECK(parseSize("2MiB") == 2097152u);
  CHECK_FALSE(parseSize("").has_value());
  CHECK_FALSE(parseSize("K").has_value());
  CHECK_FALSE(parseSize("5G").has_value());
  CHECK_FALSE(parseSize("-5").has_value());
  CHECK_FALSE(parseSize("5 K").has_value());
}

TEST_CASE("loopback targets are 127.0.0.0/8 and ::1 only") {
  CHECK(isLoopbackTarget("127.0.0.1:25"));
  CHECK(isLoopbackTarget("127.5.6.7:2525"));
  CHECK(isLoopbackTarget("[::1]:25"));
  CHECK_FALSE(isLoopbackTarget("10.0.0.1:25"));
  CHECK_FALSE(isLoopbackTarget("[2001:db8::1]:25"));
  CHECK_FALSE(isLoopbackTarget("128.0.0.1:25"));
  CHECK_FALSE(isLoopbackTarget("localhost:25"));  // names are not resolved: not provably loopback
}

TEST_CASE("no arguments is the demo: 5000 plain 5 KiB messages, 20 connections, a sink of its own") {
  BenchOptions o;
  CHECK(parse({}, o).empty());
  CHECK(o.messages == 5000);
  CHECK(o.corpus.size == 5120);
  CHECK(o.corpus.shape == Shape::Plain);
  CHECK(o.connections == 20);
  CHECK(o.target.empty());
  CHECK(o.load.empty());
}

TEST_CASE("flags set their fields") {
  BenchOptions o;
  REQUIRE(parse({"--messages", "100000", "--size", "20K", "--shape", "multipart", "--rcpts", "3", "--domains", "50",
                 "--connections", "7", "--window", "64", "--threads", "2", "--tls", "never", "--sink-args",
                 "--reply-delay 50", "--result", "r.txt", "--quiet"},
                o)
              .empty());
  CHECK(o.messages == 100000);
  CHECK(o.corpus.size == 20480);
  CHECK(o.corpus.shape == Shape::Multipart);
  CHECK(o.corpus.rcpts == 3);
  CHECK(o.corpus.domains == 50);
  CHECK(o.connections == 7);
  CHECK(o.window == 64u);
  CHECK(o.threads == 2u);
  CHECK(o.tls == std::string("never"));
  CHECK(o.sinkArgs == "--reply-delay 50");
  CHECK(o.resultFile == "r.txt");
  CHECK_FALSE(o.progress);
}

TEST_CASE("remote targets need --allow-remote, for --target and --load alike") {
  BenchOptions o;
  CHECK_FALSE(parse({"--target", "192.0.2.1:25"}, o).empty());
  o = {};
  CHECK_FALSE(parse({"--load", "192.0.2.1:25"}, o).empty());
  o = {};
  CHECK(parse({"--load", "192.0.2.1:25", "--allow-remote"}, o).empty());
  o = {};
  CHECK(parse({"--target", "127.0.0.1:2525"}, o).empty());
  o = {};
  CHECK_FALSE(parse({"--target", "mx.example.com:25"}, o).empty());  // not numeric
}

TEST_CASE("bad usage is reported, not guessed at") {
  BenchOptions o;
  CHECK_FALSE(parse({"--messages"}, o).empty());          // missing value
  CHECK_FALSE(parse({"--messages", "0"}, o).empty());
  CHECK_FALSE(parse({"--messages", "12x"}, o).empty());
  CHECK_FALSE(parse({"--shape", "rtf"}, o).empty());
  CHECK_FALSE(parse({"--tls", "maybe"}, o).empty());
  CHECK_FALSE(parse({"--connections", "0"}, o).empty());
  CHECK_FALSE(parse({"--bogus", "1"}, o).empty());
  CHECK_FALSE(parse({"stray"}, o).empty());
  CHECK_FALSE(parse({"--target", "127.0.0.1:25", "--sink-args", "--reply-delay 5"}, o).empty());
  bool help = false;
  CHECK(parse({"--help"}, o, &help).empty());
  CHECK(help);
}

TEST_CASE("the sink's listening line gives its port; other lines give none") {
  CHECK(parseListeningPort("listening on 127.0.0.1:2525") == 2525);
  CHECK(parseListeningPort("listening on [::1]:40001") == 40001);
  CHECK(parseListeningPort("listening on 127.0.0.1:0") == 0);
  CHECK(parseListeningPort("listening on 127.0.0.1:70000") == 0);
  CHECK(parseListeningPort("listening on 127.0.0.1:25x") == 0);
  CHECK(parseListeningPort("final: conns 0") == 0);
  CHECK(parseListeningPort("") == 0);
}

TEST_CASE("--sink-args splits at white space") {
  CHECK(splitArgs("--reply-delay 50  --no-chunking") ==
        std::vector<std::string>{"--reply-delay", "50", "--no-chunking"});
  CHECK(splitArgs("").empty());
  CHECK(splitArgs("   ").empty());
}
