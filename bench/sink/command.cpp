// command.cpp: `sluice sink`, the command-line front of Sink. The workers run on their threads; this thread runs a
// small control loop for SIGINT/SIGTERM, the --stats-every line and the end of the run.
//
// Ownership: everything lives on this function's stack. Threads: the control loop here, the sink's workers.
// Errors: bad flags exit 2, a failed start (bind, maildir) exits 1; stdout carries the listening line and counters.
#include <csignal>
#include <cstdio>

#include "bench/sink/sink.hpp"
#include "engine/net/uv.hpp"

int sinkCommand(int argc, char** argv) {
  using namespace sluice;
  sink::SinkOptions options;
  std::string error;
  bool help = false;
  if (!sink::parseSinkArgs(argc, argv, options, &error, &help)) {
    std::fprintf(stderr, "sluice sink: %s\n\n%s", error.c_str(), sink::sinkUsage().c_str());
    return 2;
  }
  if (help) {
    std::fputs(sink::sinkUsage().c_str(), stdout);
    return 0;
  }
  std::signal(SIGPIPE, SIG_IGN);

  net::Loop control;
  net::Async finished(control.get(), [&control] { control.stop(); });
  sink::Sink s(options);
  s.setOnFinished([&finished] { finished.send(); });
  if (!s.start(&error)) {
    std::fprintf(stderr, "sluice sink: %s\n", error.c_str());
    return 1;
  }
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("listening on %s:%u\n", host.c_str(), static_cast<unsigned>(s.port()));
  std::fflush(stdout);

  auto onSignal = [&s] { s.stop(); };
  net::Signal sigint(control.get(), SIGINT, onSignal);
  net::Signal sigterm(control.get(), SIGTERM, onSignal);
  net::Timer stats(control.get());
  std::uint64_t lastMessages = 0;
  if (options.statsEverySec != 0 && !options.quiet) {
    const std::uint64_t ms = std::uint64_t{options.statsEverySec} * 1000;
    stats.start(ms, [&] {
      const sink::SinkCounters c = s.counters();
      std::printf("stats: %s | %.0f msgs/s\n", c.line().c_str(),
                  static_cast<double>(c.messages - lastMessages) / options.statsEverySec);
      std::fflush(stdout);
      lastMessages = c.messages;
    }, ms);
  }
  control.run();
  s.wait();
  if (!options.quiet) {
    std::printf("final: %s\n", s.counters().line().c_str());
    std::fflush(stdout);
  }
  return 0;
}
