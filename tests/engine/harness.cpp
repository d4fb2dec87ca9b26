// harness.cpp: temp spool, injection, a drained engine run with a watchdog, and the delivery log parser
// (see harness.hpp).
#include "tests/engine/harness.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace sluice::enginetest {

namespace {

// How long the watchdog waits for run() to return after it called stop().
constexpr Millis kStopGrace{60000};

// A small recursive-descent reader for the log's JSON: objects, strings, numbers, true/false/null. Nested objects
// flatten into dotted keys. Arrays are not used by the log and are rejected.
class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}

  bool readObject(const std::string& prefix, std::map<std::string, std::string>& out) {
    skipSpace();
    if (!eat('{')) return false;
    skipSpace();
    if (eat('}')) return true;
    for (;;) {
      skipSpace();
      std::string key;
      if (!readString(key)) return false;
      skipSpace();
      if (!eat(':')) return false;
      skipSpace();
      const std::string name = prefix.empty() ? key : prefix + "." + key;
      if (peek() == '{') {
        if (!readObject(name, out)) return false;
      } else if (peek() == '"') {
        std::string v;
        if (!readString(v)) return false;
        out[name] = v;
      } else {
        std::string v;
        if (!readBare(v)) return false;
        out[name] = v;
      }
      skipSpace();
      if (eat(',')) continue;
      if (eat('}')) return true;
      return false;
    }
  }

  bool atEnd() {
    skipSpace();
    return pos_ == s_.size();
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void skipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n')) ++pos_;
  }
  static int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static void appendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool readString(std::string& out) {
    if (!eat('"')) return false;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;  // control bytes must be escaped
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return false;
          unsigned cp = 0;
          for (int i = 0; i < 4; ++i) {
            const int h = hexValue(s_[pos_++]);
            if (h < 0) return false;
            cp = cp * 16 + static_cast<unsigned>(h);
          }
          appendUtf8(out, cp);  // the log never writes surrogate pairs
          break;
        }
        default: return false;
      }
    }
    return false;
  }
  bool readBare(std::string& out) {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == ',' || c == '}' || c == ' ' || c == '\n' || c == '\r' || c == '\t') break;
      out.push_back(c);
      ++pos_;
    }
    if (out == "true" || out == "false" || out == "null") return true;
    if (out.empty()) return false;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const char c = out[i];
      const bool ok = (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || (c == '-');
      if (!ok) return false;
    }
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

std::string field(const std::map<std::string, std::string>& f, const char* key) {
  auto it = f.find(key);
  return it == f.end() ? std::string() : it->second;
}

// Throws with context when a spool call failed.
template <class T>
T valueOr(queue::Result<T> r, const char* what) {
  if (!r.isOk()) throw std::runtime_error(std::string(what) + ": " + r.status().message());
  return std::move(r.value());
}

}  // namespace

std::optional<LogLine> parseLogLine(std::string_view line) {
  LogLine l;
  l.raw = std::string(line);
  JsonReader reader(line);
  if (!reader.readObject("", l.fields) || !reader.atEnd()) return std::nullopt;
  const auto& f = l.fields;
  for (const char* k : {"id", "rcpt", "status", "code", "attempt", "transport.chunking", "transport.body",
                        "transport.pipelined", "transport.tls"}) {
    if (f.find(k) == f.end()) return std::nullopt;
  }
  try {
    l.id = std::stoull(field(f, "id"));
    l.code = std::stoi(field(f, "code"));
    l.attempt = static_cast<unsigned>(std::stoul(field(f, "attempt")));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  l.rcpt = field(f, "rcpt");
  l.status = field(f, "status");
  l.enhanced = field(f, "enhanced");
  l.reply = field(f, "reply");
  l.mx = field(f, "mx");
  l.addr = field(f, "addr");
  l.chunking = field(f, "transport.chunking") == "true";
  l.body = field(f, "transport.body");
  l.pipelined = field(f, "transport.pipelined") == "true";
  l.tls = field(f, "transport.tls") == "true";
  l.possibleDuplicate = field(f, "possible_duplicate") == "true";
  l.synthesized = field(f, "synthesized") == "true";
  return l;
}

std::vector<LogLine> parseLog(std::string_view text) {
  std::vector<LogLine> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    if (auto l = parseLogLine(line)) {
      out.push_back(std::move(*l));
    } else {
      LogLine bad;
      bad.raw = std::string(line);
      bad.status = "<malformed>";
      out.push_back(std::move(bad));
    }
  }
  return out;
}

ops::EngineConfig testConfig(const std::string& target) {
  ops::EngineConfig c;
  c.hostname = "sluice.test";
  c.threads = 1;
  c.routes = {{"*", target}};
  c.tls = smtp::TlsPolicy::Never;
  c.pool.connectTimeout = std::chrono::seconds(5);
  c.pool.idleTimeout = Millis(500);
  const Millis stage = std::chrono::seconds(10);
  c.timeouts.greeting = c.timeouts.ehlo = c.timeouts.startTls = c.timeouts.tlsHandshake = stage;
  c.timeouts.mail = c.timeouts.rcpt = c.timeouts.dataInit = c.timeouts.dataBlock = c.timeouts.dataEnd = stage;
  c.timeouts.rset = c.timeouts.quit = stage;
  c.retry.schedule = {std::chrono::hours(1)};
  c.retry.jitter = 0;
  c.bounces = true;
  return c;
}

std::string loopback(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

EngineHarness::EngineHarness(ops::EngineConfig config) : dir_("sluice-engine."), config_(std::move(config)) {
  config_.spool = spoolDir().string();
  config_.deliveryLog = logPath().string();
}

EngineHarness::~EngineHarness() { spool_.reset(); }

queue::Spool& EngineHarness::spool() {
  if (!spool_) {
    queue::SpoolOptions o;
    o.dir = spoolDir().string();
    o.segmentBytes = 16ull << 20;
    o.log = [](std::string_view) {};
    spool_ = valueOr(queue::Spool::open(std::move(o)), "opening the test spool");
  }
  return *spool_;
}

void EngineHarness::closeSpool() { spool_.reset(); }

queue::MessageId EngineHarness::add(TestMessage message) {
  delivery::InjectMessage m;
  m.from = std::move(message.from);
  for (auto& r : message.to) m.to.push_back({std::move(r), smtp::RcptParams{}});
  m.params = message.params;
  m.body = std::move(message.body);
  return valueOr(delivery::appendDurably(spool(), m), "queueing a test message");
}

RunReport EngineHarness::run(const RunTweaks& tweaks) {
  RunReport report;
  delivery::EngineOptions opts;
  opts.config = config_;
  opts.drain = true;
  opts.zoneText = tweaks.zoneText;
  std::string error;
  auto engine = delivery::Engine::create(std::move(opts), spool(), &error);
  if (!engine) {
    report.createError = error;
    report.log = log();
    report.spool = spool().stats();
    return report;
  }
  report.created = true;
  if (tweaks.beforeRun) tweaks.beforeRun(*engine);

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  bool fired = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (cv.wait_for(lock, tweaks.safetyLimit, [&] { return finished; })) return;
    fired = true;
    engine->stop();
    // stop() must bring run() back once in-flight work ends (bounded by the test timeouts). An engine that ignores
    // it would block this test binary until ctest's limit: fail now, loudly, instead.
    if (cv.wait_for(lock, kStopGrace, [&] { return finished; })) return;
    std::fprintf(stderr,
                 "\nengine harness: run() did not return %lld s after stop() (safety limit %lld ms passed): the "
                 "engine ignored stop(); aborting the test binary\n",
                 static_cast<long long>(kStopGrace.count() / 1000), static_cast<long long>(tweaks.safetyLimit.count()));
    std::fflush(stderr);
    std::_Exit(3);
  });
  report.rc = engine->run(false);
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  report.stoppedByWatchdog = fired;
  report.progress = engine->progress();
  engine.reset();  // flushes the loops' delivery logs
  report.log = log();
  report.spool = spool().stats();
  return report;
}

std::vector<LogLine> EngineHarness::log() const { return parseLog(interop::readFile(logPath())); }

std::vector<LogLine> linesFor(const std::vector<LogLine>& log, std::string_view rcpt) {
  std::vector<LogLine> out;
  for (const auto& l : log)
    if (l.rcpt == rcpt) out.push_back(l);
  return out;
}

std::size_t countStatus(const std::vector<LogLine>& log, std::string_view status) {
  std::size_t n = 0;
  for (const auto& l : log)
    if (l.status == status) ++n;
  return n;
}

}  // namespace sluice::enginetest
