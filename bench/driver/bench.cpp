// bench.cpp: `sluice bench` runs: the delivery-rate run (spool, sink, engine, table) and the load-generator run
// (see bench.hpp; flags in options.cpp).
#include "bench/driver/bench.hpp"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/driver/load.hpp"
#include "bench/driver/measure.hpp"
#include "bench/driver/sink_process.hpp"
#include "engine/delivery/engine.hpp"
#include "engine/mime/mime.hpp"
#include "engine/ops/config.hpp"
#include "queue/spool.hpp"

namespace sluice::bench {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string mib(long kb) { return kb < 0 ? "n/a" : fmt("%.1f MiB", static_cast<double>(kb) / 1024.0); }
std::string perThousand(double cpu, std::uint64_t n) {
  return cpu < 0 || n == 0 ? "n/a" : fmt("%.3f", cpu * 1000.0 / static_cast<double>(n));
}

// "key value" lines for scripts; written only with --result.
class ResultFile {
 public:
  explicit ResultFile(const std::string& path) : f_(path.empty() ? nullptr : std::fopen(path.c_str(), "w")) {}
  ~ResultFile() {
    if (f_) std::fclose(f_);
  }
  bool failed(const std::string& path) const { return !path.empty() && !f_; }
  void put(const char* key, const std::string& v) {
    if (f_) std::fprintf(f_, "%s %s\n", key, v.c_str());
  }
  void put(const char* key, double v) { put(key, fmt("%.6g", v)); }

 private:
  std::FILE* f_;
};

std::string selfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : p.string();
}

// Writes N corpus messages into the spool, durably; returns how many were acknowledged durable.
std::uint64_t fillSpool(queue::Spool& spool, const Corpus& corpus, std::uint64_t n, bool showProgress,
                        std::string* error) {
  std::atomic<std::uint64_t> durable{0}, failed{0};
  std::string body, firstError;
  std::mutex errMu;
  std::vector<std::string> rcptText;
  std::vector<queue::RecipientIn> rcpts;
  ProgressLine line(stderr, "spooling", n, showProgress);
  for (std::uint64_t i = 0; i < n; ++i) {
    corpus.body(i, body);
    rcptText.clear();
    rcpts.clear();
    for (unsigned j = 0; j < corpus.options().rcpts; ++j) rcptText.push_back(corpus.recipient(i, j));
    for (const auto& r : rcptText) rcpts.push_back({r, {}});
    queue::MessageIn m;
    m.reversePath = corpus.options().sender;
    m.mailParams = corpus.mailParams();
    m.recipients = rcpts;
    m.body = body;
    m.flags = mime::classify(body);  // as intake does: classified once, stored with the message
    auto r = spool.append(m, [&](queue::MessageId, const queue::Status& st) {
      if (st.isOk()) {
        durable.fetch_add(1, std::memory_order_relaxed);
      } else {
        failed.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard<std::mutex> lock(errMu);
        if (firstError.empty()) firstError = st.message();
      }
    });
    if (!r.isOk()) {
      *error = "append: " + r.status().message();
      break;
    }
    if ((i & 1023) == 0) line.update(i);
  }
  queue::Status st = spool.flush();
  line.finish(durable.load());
  if (!st.isOk() && error->empty()) *error = "flush: " + st.message();
  if (failed.load() != 0 && error->empty()) {
    std::lock_guard<std::mutex> lock(errMu);
    *error = "a durable write failed: " + firstError;
  }
  return durable.load();
}

// The transport actually used, from the engine's counters.
std::string transportText(const delivery::EngineProgress& p) {
  const std::uint64_t t = p.transactionsBdat + p.transactionsData;
  std::string s;
  if (t == 0) return "no transaction";
  if (p.transactionsData == 0) s = "BDAT";
  else if (p.transactionsBdat == 0) s = "DATA";
  else s = "BDAT " + groupDigits(p.transactionsBdat) + " / DATA " + groupDigits(p.transactionsData);
  s += p.transactions8bit == 0 ? ", 7-bit" : p.transactions8bit == t ? ", 8BITMIME" : ", 8BITMIME (some)";
  if (p.transactionsConverted != 0) {
    s += p.transactionsConverted == t ? ", converted for the peer"
                                      : ", converted " + groupDigits(p.transactionsConverted);
  }
  s += p.transactionsPipelined == 0 ? ", not pipelined" : p.transactionsPipelined == t ? ", pipelined" : ", pipelined (some)";
  s += p.transactionsTls == 0 ? ", no TLS" : p.transactionsTls == t ? ", TLS" : ", TLS (some)";
  return s;
}

// Builds the engine configuration: the demo's (or --config's), with the benchmark's spool, route and limits.
bool engineConfig(const BenchOptions& o, const std::string& spoolDir, const std::string& target,
                  ops::EngineConfig& out, std::string* error) {
  ops::ConfigResult r = o.config.empty() ? ops::parseConfig(ops::demoConfigYaml(), "demo configuration")
                                         : ops::loadConfigFile(o.config);
  if (!r.config) {
    for (const auto& e : r.errors) *error += e + "\n";
    return false;
  }
  out = *r.config;
  out.spool = spoolDir;
  out.routes = {{"*", target}};
  out.pool.maxConnections = o.connections;
  if (out.pool.maxConnecting > o.connections) out.pool.maxConnecting = o.connections;
  if (o.window) out.pipelining.window = *o.window;
  if (o.threads) out.threads = *o.threads;
  if (o.tls) {
    out.tls = *o.tls == "never" ? smtp::TlsPolicy::Never
              : *o.tls == "require" ? smtp::TlsPolicy::Require
                                    : smtp::TlsPolicy::Opportunistic;
  }
  out.deliveryLog = o.deliveryLog;
  for (const auto& p : ops::runProblems(out)) *error += p + "\n";
  return error->empty();
}

int deliveryRun(const BenchOptions& o) {
  const Corpus corpus(o.corpus);
  ResultFile result(o.resultFile);
  if (result.failed(o.resultFile)) {
    std::fprintf(stderr, "sluice bench: cannot write %s\n", o.resultFile.c_str());
    return 1;
  }
  // The spool directory: given, or fresh in the temporary directory.
  std::string dir = o.spool;
  bool removeDir = false;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/sluice-bench.XXXXXX";
    if (!mkdtemp(templ.data())) {
      std::perror("sluice bench: mkdtemp");
      return 1;
    }
    dir = templ;
    removeDir = !o.keepSpool;
  }
  struct Cleanup {
    std::string dir;
    bool remove;
    ~Cleanup() {
      std::error_code ec;
      if (remove) std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir, removeDir};

  std::printf("sluice bench: %s messages of %s octets (%s), %u recipient%s each over %u domain%s; spool %s\n",
              groupDigits(o.messages).c_str(), groupDigits(corpus.bodySize()).c_str(),
              std::string(shapeName(o.corpus.shape)).c_str(), o.corpus.rcpts, o.corpus.rcpts == 1 ? "" : "s",
              o.corpus.domains, o.corpus.domains == 1 ? "" : "s", dir.c_str());
  std::fflush(stdout);

  queue::SpoolOptions so;
  so.dir = dir;
  auto opened = queue::Spool::open(so);
  if (!opened.isOk()) {
    std::fprintf(stderr, "sluice bench: spool: %s\n", opened.status().message().c_str());
    return 1;
  }
  std::unique_ptr<queue::Spool> spool = std::move(opened.value());

  // 1. Intake side: spool the messages durably.
  std::string error;
  const auto t0 = Clock::now();
  const std::uint64_t spooled = fillSpool(*spool, corpus, o.messages, o.progress, &error);
  const double spoolSeconds = since(t0);
  if (!error.empty() || spooled != o.messages) {
    std::fprintf(stderr, "sluice bench: spooling failed: %s\n", error.c_str());
    return 1;
  }
  std::printf("spooled    %s messages in %.2f s (%s msg/s, durable)\n", groupDigits(spooled).c_str(), spoolSeconds,
              groupDigits(static_cast<std::uint64_t>(spooled / spoolSeconds)).c_str());
  std::fflush(stdout);

  // 2. The receiver.
  std::unique_ptr<SinkProcess> sink;
  std::string target = o.target;
  if (target.empty()) {
    sink = SinkProcess::start(selfExe(), splitArgs(o.sinkArgs), 10000, &error);
    if (!sink) {
      std::fprintf(stderr, "sluice bench: cannot start the sink: %s\n", error.c_str());
      return 1;
    }
    target = "127.0.0.1:" + std::to_string(sink->port());
  }

  // 3. The engine, draining the queue.
  delivery::EngineOptions eo;
  if (!engineConfig(o, dir, target, eo.config, &error)) {
    std::fprintf(stderr, "sluice bench: configuration:\n%s", error.c_str());
    return 1;
  }
  eo.drain = true;
  auto engine = delivery::Engine::create(std::move(eo), *spool, &error);
  if (!engine) {
    std::fprintf(stderr, "sluice bench: engine: %s\n", error.c_str());
    return 1;
  }
  resetPeakRss();
  const double cpu0 = selfCpuSeconds();
  const double sinkCpu0 = sink ? processCpuSeconds(sink->pid()) : -1;
  std::mutex mu;
  std::condition_variable cv;
  bool running = true;
  long peakAnon = rssAnonKb();  // sampled by the reporter: VmHWM also counts the spool's mapped file pages
  ProgressLine line(stderr, "delivering", o.messages, o.progress);
  std::thread reporter([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (running) {
      cv.wait_for(lock, std::chrono::milliseconds(100));
      if (!running) break;
      line.update(engine->progress().messagesDone);
      peakAnon = std::max(peakAnon, rssAnonKb());
    }
  });
  const auto t1 = Clock::now();
  const int rc = engine->run(true);
  const double seconds = since(t1);
  {
    std::lock_guard<std::mutex> lock(mu);
    running = false;
  }
  cv.notify_all();
  reporter.join();
  const delivery::EngineProgress p = engine->progress();
  line.finish(p.messagesDone);
  const double cpu = selfCpuSeconds() - cpu0;
  const long rss = peakRssKb();
  peakAnon = std::max(peakAnon, rssAnonKb());
  const double sinkCpu = sink ? processCpuSeconds(sink->pid()) - sinkCpu0 : -1;
  const long sinkRss = sink ? peakRssKb(sink->pid()) : -1;
  std::string sinkFinal;
  if (sink) {
    sink->stop();
    const std::string out = sink->output();
    std::size_t at = out.rfind("final: ");
    if (at != std::string::npos) sinkFinal = out.substr(at + 7, out.find('\n', at) - at - 7);
  }
  engine.reset();

  const std::uint64_t wanted = o.messages * o.corpus.rcpts;
  const double rate = seconds > 0 ? static_cast<double>(p.messagesDone) / seconds : 0;
  const double bytes = p.bodyBytes ? static_cast<double>(p.bodyBytes)
                                   : static_cast<double>(p.messagesDone) * static_cast<double>(corpus.bodySize());
  const std::string transport = transportText(p);
  std::printf("delivered  %s of %s recipients (%s deferred, %s bounced), %s connections opened\n",
              groupDigits(p.delivered).c_str(), groupDigits(wanted).c_str(), groupDigits(p.deferred).c_str(),
              groupDigits(p.bounced).c_str(), groupDigits(p.connectionsOpened).c_str());
  std::printf("\n  %-24s %s\n", "messages", groupDigits(p.messagesDone).c_str());
  std::printf("  %-24s %.3f\n", "seconds", seconds);
  std::printf("  %-24s %s\n", "messages/s", groupDigits(static_cast<std::uint64_t>(rate)).c_str());
  std::printf("  %-24s %.1f\n", "MB/s", seconds > 0 ? bytes / seconds / 1e6 : 0);
  std::printf("  %-24s engine %s, sink %s\n", "CPU s per 1,000 msgs", perThousand(cpu, p.messagesDone).c_str(),
              perThousand(sinkCpu, p.messagesDone).c_str());
  std::printf("  %-24s engine %s (heap %s; the rest is the spool's mapped pages), sink %s\n", "peak RSS",
              mib(rss).c_str(), mib(peakAnon).c_str(), mib(sinkRss).c_str());
  std::printf("  %-24s %s\n", "transport", transport.c_str());
  if (!sinkFinal.empty()) std::printf("  %-24s %s\n", "sink counters", sinkFinal.c_str());
  std::fflush(stdout);

  result.put("messages", static_cast<double>(o.messages));
  result.put("size", static_cast<double>(corpus.bodySize()));
  result.put("spool_seconds", spoolSeconds);
  result.put("spool_rate", spooled / spoolSeconds);
  result.put("delivered_recipients", static_cast<double>(p.delivered));
  result.put("messages_done", static_cast<double>(p.messagesDone));
  result.put("seconds", seconds);
  result.put("rate", rate);
  result.put("mb_per_s", seconds > 0 ? bytes / seconds / 1e6 : 0);
  result.put("cpu_per_1000", p.messagesDone ? cpu * 1000.0 / static_cast<double>(p.messagesDone) : -1);
  result.put("sink_cpu_per_1000",
             p.messagesDone && sinkCpu >= 0 ? sinkCpu * 1000.0 / static_cast<double>(p.messagesDone) : -1);
  result.put("peak_rss_kb", static_cast<double>(rss));
  result.put("peak_heap_kb", static_cast<double>(peakAnon));
  result.put("sink_peak_rss_kb", static_cast<double>(sinkRss));
  result.put("connections_opened", static_cast<double>(p.connectionsOpened));
  result.put("transport", transport);

  if (rc != 0) {
    std::fprintf(stderr, "sluice bench: the engine stopped with status %d (spool failure)\n", rc);
    return 1;
  }
  if (p.delivered != wanted) {
    std::fprintf(stderr, "sluice bench: %s of %s recipients were not delivered\n",
                 groupDigits(wanted - std::min(wanted, p.delivered)).c_str(), groupDigits(wanted).c_str());
    return 3;
  }
  return 0;
}

int loadRun(const BenchOptions& o) {
  const Corpus corpus(o.corpus);
  ResultFile result(o.resultFile);
  LoadOptions lo;
  lo.target = o.load;
  lo.sessions = o.sessions;
  lo.messages = o.messages;
  lo.window = o.loadWindow;
  std::printf("sluice bench --load %s: %s messages of %s octets (%s), %u session%s, window %u\n", o.load.c_str(),
              groupDigits(o.messages).c_str(), groupDigits(corpus.bodySize()).c_str(),
              std::string(shapeName(o.corpus.shape)).c_str(), o.sessions, o.sessions == 1 ? "" : "s", lo.window);
  std::fflush(stdout);
  ProgressLine line(stderr, "sending", o.messages, o.progress);
  LoadResult r;
  std::string error;
  const double cpu0 = selfCpuSeconds();
  if (!runLoad(lo, corpus, r, [&](std::uint64_t done) { line.update(done); }, &error)) {
    std::fprintf(stderr, "sluice bench: %s\n", error.c_str());
    return 2;
  }
  line.finish(r.messagesAccepted + r.messagesFailed);
  const double cpu = selfCpuSeconds() - cpu0;
  const double rate = r.seconds > 0 ? static_cast<double>(r.messagesAccepted) / r.seconds : 0;
  std::printf("\n  %-24s %s accepted, %s failed\n", "messages", groupDigits(r.messagesAccepted).c_str(),
              groupDigits(r.messagesFailed).c_str());
  std::printf("  %-24s %.3f\n", "seconds", r.seconds);
  std::printf("  %-24s %s\n", "messages/s", groupDigits(static_cast<std::uint64_t>(rate)).c_str());
  std::printf("  %-24s %.1f\n", "MB/s", r.seconds > 0 ? static_cast<double>(r.bodyBytes) / r.seconds / 1e6 : 0);
  std::printf("  %-24s %s\n", "CPU s per 1,000 msgs", perThousand(cpu, r.messagesAccepted).c_str());
  std::printf("  %-24s %s opened, %s failed; PIPELINING on %s, CHUNKING (BDAT) on %s\n", "sessions",
              groupDigits(r.sessionsOpened).c_str(), groupDigits(r.sessionsFailed).c_str(),
              groupDigits(r.sessionsPipelined).c_str(), groupDigits(r.sessionsChunking).c_str());
  if (!r.firstError.empty()) std::printf("  %-24s %s\n", "first error", r.firstError.c_str());
  std::fflush(stdout);
  result.put("messages", static_cast<double>(o.messages));
  result.put("accepted", static_cast<double>(r.messagesAccepted));
  result.put("failed", static_cast<double>(r.messagesFailed));
  result.put("seconds", r.seconds);
  result.put("rate", rate);
  result.put("cpu_per_1000", r.messagesAccepted ? cpu * 1000.0 / static_cast<double>(r.messagesAccepted) : -1);
  return r.messagesAccepted == o.messages ? 0 : 3;
}

}  // namespace
}  // namespace sluice::bench

int benchCommand(int argc, char** argv) {
  using namespace sluice::bench;
  BenchOptions o;
  bool help = false;
  if (std::string e = parseBenchArgs(argc, argv, o, &help); !e.empty()) {
    std::fprintf(stderr, "sluice bench: %s\n\n%s", e.c_str(), benchUsage().c_str());
    return 2;
  }
  if (help) {
    std::fputs(benchUsage().c_str(), stdout);
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  return o.load.empty() ? deliveryRun(o) : loadRun(o);
}
