// bench.hpp: `sluice bench`, the delivery-rate benchmark and the quick-start demo (bench/driver/README.md).
//
// Delivery-rate mode (the default; with no arguments, the demo campaign): spools N generated messages into a fresh
// spool, starts `sluice sink` as a child process (or uses --target), runs the delivery engine until the queue is
// drained, with a live progress line on stderr, and prints a table (messages/s, MB/s, CPU per 1,000 messages,
// peak RSS, transport used). Load mode (--load HOST:PORT): an SMTP client blasting a receiver.
//
// Ownership: everything a run creates (spool directory unless --spool, sink process) is removed or stopped before
// benchCommand returns. Threads: the caller's thread runs the engine (which starts its own loop threads), one
// reporter thread prints progress. Errors: bad usage exits 2; a run that could not start exits 1; a run in which
// not every message was delivered exits 3.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bench/driver/corpus.hpp"

namespace sluice::bench {

struct BenchOptions {
  CorpusOptions corpus;                 // --size, --shape, --rcpts, --domains
  std::uint64_t messages = 5000;        // --messages
  std::string spool;                    // --spool DIR ("" = a fresh temporary directory, removed at the end)
  bool keepSpool = false;               // --keep-spool: leave the temporary spool in place
  std::string config;                   // --config FILE ("" = the embedded demo configuration)
  unsigned connections = 20;            // --connections: pool.max_connections
  std::optional<unsigned> window;       // --window: pipelining.window
  std::optional<unsigned> threads;      // --threads: engine loops
  std::optional<std::string> tls;       // --tls never|opportunistic|require
  std::string target;                   // --target HOST:PORT: an external receiver instead of the sink
  std::string sinkArgs;                 // --sink-args "...": passed through to `sluice sink`
  bool allowRemote = false;             // --allow-remote: non-loopback targets allowed
  std::string deliveryLog;              // --log FILE: the engine's delivery log
  std::string resultFile;               // --result FILE: "key value" lines for scripts (compare.sh)
  bool progress = true;                 // --quiet turns the progress line off
  std::string load;                     // --load HOST:PORT: load-generator mode
  unsigned sessions = 20;               // --sessions (load mode)
  unsigned loadWindow = 32;             // --window in load mode
};

// Parses `sluice bench` arguments (argv[0] == "bench"). Returns "" on success, else the problem; *help is set
// for --help.
std::string parseBenchArgs(int argc, char** argv, BenchOptions& out, bool* help);
// The usage text.
std::string benchUsage();
// True when host:port (numeric) names a loopback address (127.0.0.0/8 or ::1).
bool isLoopbackTarget(const std::string& hostPort);
// Parses "5120", "5K", "5KiB", "1M", "1MiB" into octets; nullopt when malformed.
std::optional<std::uint64_t> parseSize(const std::string& text);

}  // namespace sluice::bench

// The sub-command entry point wired into engine/main.cpp (argv[0] == "bench").
int benchCommand(int argc, char** argv);
