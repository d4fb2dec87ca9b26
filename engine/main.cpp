// main.cpp: the one `sluice` binary and its sub-commands. Each sub-command lives in its module; this file only
// dispatches.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "bench/driver/bench.hpp"
#include "bench/sink/sink.hpp"
#include "engine/delivery/commands.hpp"
#include "engine/ops/config.hpp"

namespace {

constexpr const char* kVersion = "0.1.0";

struct SubCommand {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

int printVersion(int, char**) {
  std::printf("sluice %s\n", kVersion);
  return 0;
}

// Sub-commands that exist in this build. `--help` lists exactly these.
constexpr SubCommand kCommands[] = {
    {"run", "deliver the spool's messages (daemon; --drain to exit when done)", sluice::delivery::runCommand},
    {"inject", "put a message into the spool of a stopped daemon", sluice::delivery::injectCommand},
    {"check-config", "validate a configuration file", sluice::ops::checkConfigCommand},
    {"sink", "a fast receiving MTA for benchmarks and tests", sinkCommand},
    {"bench", "delivery-rate benchmark (no arguments: the demo campaign)", benchCommand},
    {"version", "print the version and exit", printVersion},
};

void usage(std::FILE* out) {
  std::fprintf(out,
               "sluice %s: a high-throughput outbound mail relay\n\n"
               "usage: sluice <command> [options]\n       sluice --help | --version\n\ncommands:\n",
               kVersion);
  for (const auto& c : kCommands) std::fprintf(out, "  %-14s %s\n", c.name, c.summary);
  std::fprintf(out, "\nRun 'sluice <command> --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "--version") return printVersion(argc, argv);
  for (const auto& c : kCommands) {
    if (cmd == c.name) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "sluice: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
