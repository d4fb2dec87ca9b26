// harness.hpp: an in-process harness for engine-level tests. It owns a fresh temp directory holding a spool and a
// delivery log, puts messages into the spool (the same path as `sluice inject`), runs a delivery Engine in drain
// mode until nothing is due, and returns the engine's counters plus the delivery log parsed line by line.
//
// Ownership: an EngineHarness owns its temp directory (removed on destruction), the Spool while it is open, and
// nothing else; peers are started and stopped by the tests themselves.
// Threads: one test thread drives a harness; run() blocks it while the engine's loops run (a watchdog thread stops
// a run that exceeds its safety limit, so a hung engine fails the test instead of hanging ctest; if run() still has
// not returned a minute after stop(), the watchdog prints why and ends the test binary with exit status 3).
// Errors: setup failures (spool cannot open, append refused) throw std::runtime_error with the reason; engine
// outcomes come back as values in RunReport.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/delivery/engine.hpp"
#include "engine/delivery/inject.hpp"
#include "engine/ops/config.hpp"
#include "queue/spool.hpp"
#include "tests/interop/process.hpp"

namespace sluice::enginetest {

using Millis = std::chrono::milliseconds;

// One message to queue. Body line endings are normalised to CRLF (as `sluice inject` does); BODY=8BITMIME is set
// when the body has 8-bit octets and params.body is Unspecified.
struct TestMessage {
  std::string from;             // "" = null reverse-path
  std::vector<std::string> to;  // forward-paths
  std::string body;
  smtp::MailParams params;
};

// One delivery log line. Flat fields are typed; every scalar is also kept in `fields` under its dotted name
// ("status", "transport.chunking") as its JSON text (strings unescaped, numbers and booleans as written).
struct LogLine {
  std::string raw;
  std::uint64_t id = 0;
  std::string rcpt;
  std::string status;  // delivered / bounced / deferred / expired
  int code = 0;
  std::string enhanced;
  std::string reply;
  std::string mx;
  std::string addr;
  unsigned attempt = 0;
  bool chunking = false;
  std::string body;  // 8bitmime / 7bit / converted
  bool pipelined = false;
  bool tls = false;
  bool possibleDuplicate = false;
  bool synthesized = false;
  std::map<std::string, std::string> fields;
};

// Parses one JSON object line of the delivery log; nullopt when it is not a well-formed object (a test failure).
std::optional<LogLine> parseLogLine(std::string_view line);
// Parses every non-empty line of a log text; a malformed line is kept with raw set and status "<malformed>".
std::vector<LogLine> parseLog(std::string_view text);

// What a drained run produced.
struct RunReport {
  bool created = false;        // Engine::create succeeded
  std::string createError;     // its error otherwise
  int rc = -1;                 // run()'s return value
  bool stoppedByWatchdog = false;  // the safety limit passed and the harness called stop()
  delivery::EngineProgress progress;
  std::vector<LogLine> log;    // the whole delivery log after the run (all runs of this harness so far)
  queue::SpoolStats spool;     // spool counters after the run
};

// Tweaks for one run beyond the configuration.
struct RunTweaks {
  std::string zoneText;               // EngineOptions::zoneText (resolver zone for MX tests); "" = none
  Millis safetyLimit{Millis(300000)}; // watchdog: stop() after this long (not an assertion, a hang guard)
  // Called on the test thread once the engine exists, before run() (e.g. start a thread that calls stop()).
  std::function<void(delivery::Engine&)> beforeRun;
};

// A test configuration for a static route: hostname "sluice.test", route "*" -> target ("127.0.0.1:PORT"), one
// loop thread, TLS never, short timeouts (10 s per stage, 5 s connect), a one-entry retry schedule of 1 h (so a
// drained run never retries a deferral), bounces on. spool and deliveryLog are filled in by the harness.
ops::EngineConfig testConfig(const std::string& target);
// The same route form for a port on 127.0.0.1.
std::string loopback(std::uint16_t port);

class EngineHarness {
 public:
  // Creates the temp dir; config.spool and config.deliveryLog are replaced by paths inside it.
  explicit EngineHarness(ops::EngineConfig config);
  ~EngineHarness();
  EngineHarness(const EngineHarness&) = delete;
  EngineHarness& operator=(const EngineHarness&) = delete;

  // The configuration used by run() (adjust pool, pipelining, routes before running).
  ops::EngineConfig& config() { return config_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path spoolDir() const { return dir_.path() / "spool"; }
  std::filesystem::path logPath() const { return dir_.path() / "deliveries.jsonl"; }

  // Queues a message durably (opening the spool first if needed); returns its id. Throws on failure.
  queue::MessageId add(TestMessage message);
  // Runs an engine over the spool with drain = true until it returns, then reads the log. The spool stays open.
  RunReport run(const RunTweaks& tweaks = {});
  // The delivery log as it stands, parsed.
  std::vector<LogLine> log() const;
  // The open spool (opening it if needed).
  queue::Spool& spool();
  // Closes the spool (so a `sluice` process can lock it); a later add()/run()/spool() reopens it.
  void closeSpool();

 private:
  interop::TempDir dir_;
  ops::EngineConfig config_;
  std::unique_ptr<queue::Spool> spool_;
};

// Log lines for one recipient (in log order).
std::vector<LogLine> linesFor(const std::vector<LogLine>& log, std::string_view rcpt);
// Number of lines with the given status.
std::size_t countStatus(const std::vector<LogLine>& log, std::string_view status);

}  // namespace sluice::enginetest
