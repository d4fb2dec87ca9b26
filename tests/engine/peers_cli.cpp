// peers_cli.cpp: `sluice inject` and `sluice run` as processes (the binary from SLUICE_BINARY_DIR) against Postfix's
// smtp-sink on loopback: exit codes, the "queued N" answer, a --drain run, and SIGTERM to a daemon in the middle of
// its work (it must exit 0 with every message either delivered or still queued, never lost: the spool is reopened
// and checked afterwards).
//
// Each test starts its own sink and temp directory (EngineHarness, used here only for its directory, spool and log).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "tests/engine/harness.hpp"
#include "tests/interop/peers.hpp"

namespace sluice::enginetest {
namespace {

using interop::RunResult;

const Millis kCommandLimit{60000};

std::string sluiceBinary() {
  const char* dir = std::getenv("SLUICE_BINARY_DIR");
  return std::string(dir ? dir : ".") + "/sluice";
}

// A configuration file for the harness's spool and log, routing everything to `target`.
// window: transactions handed to a connection at once (pipelining.window).
std::filesystem::path writeConfig(const EngineHarness& h, const std::string& target, unsigned maxConnections,
                                  unsigned window = 32) {
  const std::string yaml =
      "hostname: sluice.test\n"
      "spool: " + h.spoolDir().string() + "\n"
      "threads: 1\n"
      "routes:\n"
      "  \"*\": \"" + target + "\"\n"
      "tls:\n"
      "  policy: never\n"
      "pool:\n"
      "  max_connections: " + std::to_string(maxConnections) + "\n"
      "  max_connecting: 1\n"
      "  idle_timeout: 500ms\n"
      "pipelining:\n"
      "  window: " + std::to_string(window) + "\n"
      "retry:\n"
      "  schedule: [1h]\n"
      "  jitter: 0\n"
      "log:\n"
      "  deliveries: " + h.logPath().string() + "\n";
  const auto path = h.dir() / "sluice.yaml";
  interop::writeFile(path, yaml);
  return path;
}

// `sluice inject` for one message file; returns the process result.
RunResult inject(const std::filesystem::path& cfg, const std::string& from, const std::vector<std::string>& to,
                 const std::filesystem::path& file) {
  std::vector<std::string> argv = {sluiceBinary(), "inject", "--config", cfg.string(), "--from", from};
  for (const auto& r : to) {
    argv.push_back("--to");
    argv.push_back(r);
  }
  argv.push_back(file.string());
  return interop::runCommand(argv, kCommandLimit);
}

std::string messageText(int i) {
  return "From: a@x.test\nSubject: cli " + std::to_string(i) + "\n\nbody " + std::to_string(i) + "\n.\n";
}

}  // namespace

TEST_CASE("sluice inject and sluice run --drain as processes deliver to smtp-sink") {
  interop::SmtpSink sink;
  REQUIRE(sink.running());
  EngineHarness h(testConfig(loopback(sink.port())));
  const auto cfg = writeConfig(h, loopback(sink.port()), 2);

  std::set<std::string> ids;
  const int n = 5;
  for (int i = 0; i < n; ++i) {
    const auto file = h.dir() / ("m" + std::to_string(i) + ".eml");
    interop::writeFile(file, messageText(i));  // LF endings: inject normalises to CRLF
    const RunResult r = inject(cfg, "a@x.test", {"r" + std::to_string(i) + "@y.test"}, file);
    INFO(r.output);
    REQUIRE(r.status == 0);
    REQUIRE(r.output.rfind("queued ", 0) == 0);
    ids.insert(r.output.substr(7, r.output.find('\n') - 7));
  }
  CHECK(ids.size() == static_cast<std::size_t>(n));  // distinct ids

  SUBCASE("bad usage and bad input are refused with their exit codes") {
    const auto file = h.dir() / "m0.eml";
    CHECK(inject(cfg, "no-at-sign", {"r@y.test"}, file).status == 2);
    CHECK(inject(cfg, "a@x.test", {"bad address@y.test"}, file).status == 2);
    CHECK(inject(cfg, "a@x.test", {"r@y.test"}, h.dir() / "missing.eml").status == 1);
    CHECK(interop::runCommand({sluiceBinary(), "run"}, kCommandLimit).status == 2);
    CHECK(interop::runCommand({sluiceBinary(), "run", "--config", (h.dir() / "none.yaml").string()}, kCommandLimit)
              .status == 1);
  }

  const RunResult run =
      interop::runCommand({sluiceBinary(), "run", "--config", cfg.string(), "--drain"}, kCommandLimit);
  INFO(run.output);
  CHECK_FALSE(run.timedOut);
  CHECK(run.status == 0);
  CHECK(run.output.find("delivered " + std::to_string(n)) != std::string::npos);  // the final counters line

  const auto log = h.log();
  CHECK(countStatus(log, "delivered") == static_cast<std::size_t>(n));
  for (const auto& l : log) CHECK(ids.count(std::to_string(l.id)) == 1);
  const auto dumps = sink.waitDumps(n, Millis(30000));
  REQUIRE(dumps.size() == static_cast<std::size_t>(n));
  for (const auto& d : dumps) CHECK(d.message.find("Subject: cli ") != std::string::npos);

  // Nothing is left: the spool reopens empty.
  CHECK(h.spool().stats().liveMessages == 0);
}

// SIGTERM makes the daemon finish in-flight transactions and exit 0. The sink waits a second before answering each
// DATA command, so the daemon is mid-transaction when the signal comes; with one connection and a window of two
// transactions, most messages are still waiting in the engine then. Afterwards every message is either delivered
// (logged, and in the sink) or still in the spool, and a drained run delivers the rest. (The sink's -W ".:1" would
// delay the end-of-data reply instead, but smtp-sink then answers commands pipelined after the "." before it: out
// of order, so it cannot be used here.)
TEST_CASE("sluice run: SIGTERM stops the daemon cleanly, nothing lost") {
  interop::SmtpSink sink({"-w", "1"});
  REQUIRE(sink.running());
  EngineHarness h(testConfig(loopback(sink.port())));
  const auto cfg = writeConfig(h, loopback(sink.port()), 1, 2);
  const std::size_t n = 12;
  std::vector<queue::MessageId> queued;
  for (std::size_t i = 0; i < n; ++i)
    queued.push_back(h.add({"a@x.test", {"r" + std::to_string(i) + "@y.test"}, messageText(int(i)), {}}));
  h.closeSpool();  // the daemon locks the spool

  interop::Child daemon({sluiceBinary(), "run", "--config", cfg.string()}, h.dir() / "daemon.log");
  // Running and busy: the sink has received a first message.
  REQUIRE(interop::pollUntil(Millis(30000), [&] { return !sink.waitDumps(1, Millis(0)).empty(); }));
  const int status = daemon.stop(Millis(60000));  // SIGTERM, then SIGKILL only after a minute
  INFO(interop::readFile(h.dir() / "daemon.log"));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  const auto log = h.log();
  INFO(interop::readFile(h.logPath()));
  const std::size_t delivered = countStatus(log, "delivered");
  CHECK(delivered >= 1);
  CHECK(countStatus(log, "bounced") == 0);
  CHECK(log.size() == delivered + countStatus(log, "deferred"));
  // Every message is delivered or still queued with its recipient pending.
  std::set<queue::MessageId> deliveredIds;
  for (const auto& l : log)
    if (l.status == "delivered") deliveredIds.insert(l.id);
  std::size_t stillQueued = 0;
  for (queue::MessageId id : queued) {
    auto view = h.spool().lookup(id);
    if (view.isOk()) {
      CHECK(view.value().recipientPending(0));
      CHECK(deliveredIds.count(id) == 0);
      ++stillQueued;
    } else {
      CHECK_MESSAGE(deliveredIds.count(id) == 1, "message " << id << " neither delivered nor queued");
    }
  }
  CHECK(stillQueued + deliveredIds.size() == n);
  MESSAGE("after SIGTERM: " << deliveredIds.size() << " delivered, " << stillQueued << " still queued");
  CHECK(h.spool().stats().liveMessages == stillQueued);
  // The sink has exactly the delivered ones: the in-flight transaction was finished, not cut off.
  const auto dumps = sink.waitDumps(delivered, Millis(10000));
  CHECK(dumps.size() == delivered);

  // A drained run afterwards delivers the rest.
  h.closeSpool();
  const RunResult rest =
      interop::runCommand({sluiceBinary(), "run", "--config", cfg.string(), "--drain"}, Millis(120000));
  INFO(rest.output);
  CHECK(rest.status == 0);
  CHECK(countStatus(h.log(), "delivered") == n);
  CHECK(h.spool().stats().liveMessages == 0);
}

}  // namespace sluice::enginetest
