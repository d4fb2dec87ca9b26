// queue_scale.cpp: the spool at scale. Fills a spool with N single-recipient messages (asynchronous appends with
// group commit), reports the anonymous-memory (heap) growth per queued message, closes it, optionally drops the
// page cache (root only), reopens it and reports recovery time and memory per message again. Cleans up after.
//
// Usage: bench_queue_scale --messages N [--body BYTES] [--dir DIR] [--cold]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "queue/spool.hpp"

using namespace sluice::queue;
using Clock = std::chrono::steady_clock;

namespace {

// Reads a "Key:   123 kB" field of /proc/self/status, in bytes.
std::uint64_t statusBytes(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  std::size_t klen = std::strlen(key);
  while (std::getline(f, line))
    if (line.compare(0, klen, key) == 0 && line[klen] == ':') return std::strtoull(line.c_str() + klen + 1, nullptr, 10) * 1024;
  return 0;
}

// Seconds since t0.
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Asks the kernel to drop clean page cache (needs root); returns true on success.
bool dropCaches() {
  ::sync();
  std::ofstream f("/proc/sys/vm/drop_caches");
  if (!f) return false;
  f << "3\n";
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 1000000;
  std::size_t bodyLen = 200;
  bool cold = false;
  std::string dir = (std::filesystem::temp_directory_path() / "sluice-bench-scale").string();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--messages" && i + 1 < argc) n = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--body" && i + 1 < argc) bodyLen = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--cold") cold = true;
  }
  std::filesystem::remove_all(dir);
  std::string body(bodyLen, 'b');
  for (std::size_t i = 0; i < bodyLen; ++i) body[i] = static_cast<char>('a' + i % 26);

  SpoolOptions o;
  o.dir = dir;
  o.log = [](std::string_view) {};
  std::uint64_t anon0 = statusBytes("RssAnon");
  double fillSecs = 0;
  {
    auto s = Spool::open(o);
    if (!s) {
      std::fprintf(stderr, "open: %s\n", s.status().message().c_str());
      return 1;
    }
    Spool& sp = *s.value();
    std::atomic<std::uint64_t> failed{0};
    auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string rcpt = "user" + std::to_string(i) + "@example.net";
      RecipientIn r{rcpt, ""};
      MessageIn m;
      m.reversePath = "bounce@example.org";
      m.mailParams = "BODY=8BITMIME";
      m.recipients = {&r, 1};
      m.body = body;
      auto id = sp.append(m, [&failed](MessageId, const Status& st) {
        if (!st) ++failed;
      });
      if (!id) {
        std::fprintf(stderr, "append: %s\n", id.status().message().c_str());
        return 1;
      }
    }
    if (!sp.flush() || failed) return 1;
    fillSecs = since(t0);
    auto st = sp.stats();
    std::uint64_t anon = statusBytes("RssAnon");
    std::printf("fill: %llu messages of %zu body bytes in %.2f s (%.0f durable appends/s, %.1f MB/s), %llu syncs\n",
                static_cast<unsigned long long>(n), bodyLen, fillSecs, static_cast<double>(n) / fillSecs,
                static_cast<double>(st.segmentBytes) / fillSecs / 1e6, static_cast<unsigned long long>(st.syncs));
    std::printf("after fill: RssAnon +%.1f MiB = %.1f bytes/message; index %.1f bytes/message; disk %.1f MiB in %llu segments\n",
                static_cast<double>(anon - anon0) / 1048576.0, static_cast<double>(anon - anon0) / static_cast<double>(n),
                static_cast<double>(st.indexMemoryBytes) / static_cast<double>(n),
                static_cast<double>(st.segmentBytes) / 1048576.0, static_cast<unsigned long long>(st.segments));
  }
  std::uint64_t anon1 = statusBytes("RssAnon");
  bool dropped = cold && dropCaches();
  {
    auto t0 = Clock::now();
    auto s = Spool::open(o);
    double secs = since(t0);
    if (!s) {
      std::fprintf(stderr, "reopen: %s\n", s.status().message().c_str());
      return 1;
    }
    auto st = s.value()->stats();
    std::uint64_t anon = statusBytes("RssAnon");
    std::printf("recovery (%s page cache): %llu messages in %.3f s (%.0f messages/s); RssAnon +%.1f MiB = %.1f bytes/message; RssFile %.1f MiB (clean mapped segment pages, reclaimable)\n",
                dropped ? "cold" : "warm", static_cast<unsigned long long>(st.recoveredMessages), secs,
                static_cast<double>(st.recoveredMessages) / secs, static_cast<double>(anon - anon1) / 1048576.0,
                static_cast<double>(anon - anon1) / static_cast<double>(n), static_cast<double>(statusBytes("RssFile")) / 1048576.0);
    if (st.recoveredMessages != n) {
      std::fprintf(stderr, "recovered %llu of %llu\n", static_cast<unsigned long long>(st.recoveredMessages),
                   static_cast<unsigned long long>(n));
      return 1;
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
