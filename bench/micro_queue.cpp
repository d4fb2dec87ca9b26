// micro_queue.cpp: Google Benchmark figures for the spool. Durable appends with group commit for 1 KiB, 5 KiB and
// 100 KiB messages from many synchronous producers (each waits for its durable callback, as an SMTP session waits
// before its 250), against the raw rate of the same disk: one write + fdatasync per message, measured in the same
// run. Also lookup through the mapping. The spool lives in $SLUICE_BENCH_DIR (default: the system temp dir).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "queue/spool.hpp"

using namespace sluice::queue;

namespace {

// The directory benchmarks write into.
std::string benchDir(const std::string& leaf) {
  const char* e = std::getenv("SLUICE_BENCH_DIR");
  std::filesystem::path base = e ? std::filesystem::path(e) : std::filesystem::temp_directory_path();
  return (base / leaf).string();
}

std::unique_ptr<Spool> gSpool;
std::string gDir;

// A body of n pseudo-random bytes.
std::string makeBody(std::size_t n) {
  std::string b(n, '\0');
  std::uint64_t x = 88172645463325252ull;
  for (auto& c : b) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return b;
}

// Each thread appends one message at a time and waits until it is durable.
void BM_DurableAppend(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  if (state.thread_index() == 0) {
    gDir = benchDir("sluice-bench-append");
    std::filesystem::remove_all(gDir);
    SpoolOptions o;
    o.dir = gDir;
    o.maxCommitDelay = std::chrono::microseconds(state.range(1));
    o.maxCommitBatch = 256;
    auto s = Spool::open(o);
    if (!s) state.SkipWithError(s.status().message().c_str());
    gSpool = std::move(s.value());
  }
  std::string body = makeBody(size);
  std::string rcpt = "someone@example.net";
  RecipientIn r{rcpt, "NOTIFY=FAILURE"};
  MessageIn m;
  m.reversePath = "bounce@example.org";
  m.mailParams = "SIZE=" + std::to_string(size) + " BODY=8BITMIME";
  m.recipients = {&r, 1};
  m.body = body;
  for (auto _ : state) {
    std::promise<Status> p;
    auto f = p.get_future();
    auto id = gSpool->append(m, [&p](MessageId, const Status& st) { p.set_value(st); });
    if (!id || !f.get()) {
      state.SkipWithError("append failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  if (state.thread_index() == 0) {
    auto st = gSpool->stats();
    state.counters["msgs_per_sync"] = st.commitBatches ? static_cast<double>(st.appends) / static_cast<double>(st.commitBatches) : 0;
    gSpool.reset();
    std::filesystem::remove_all(gDir);
  }
}
// Args: message size, max commit delay in microseconds.
// Delay 0: no waiting, batches form while the previous fdatasync runs; 1000: wait up to 1 ms for company.
BENCHMARK(BM_DurableAppend)->Args({1024, 0})->Args({5 * 1024, 0})->Args({100 * 1024, 0})
    ->Args({1024, 1000})->Args({5 * 1024, 1000})->Args({100 * 1024, 1000})
    ->Threads(64)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_DurableAppend)->Args({1024, 0})->Args({1024, 1000})->Threads(1)->UseRealTime()->MinTime(2.0);

// The raw disk: write one message to a preallocated file and fdatasync, one at a time.
void BM_RawWriteFdatasync(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  std::string dir = benchDir("sluice-bench-raw");
  std::filesystem::create_directories(dir);
  std::string path = dir + "/raw.dat";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  const off_t cap = 256 << 20;
  if (fd < 0 || ::posix_fallocate(fd, 0, cap) != 0) {
    state.SkipWithError("cannot create raw file");
    return;
  }
  std::string body = makeBody(size);
  off_t off = 0;
  for (auto _ : state) {
    if (off + static_cast<off_t>(size) > cap) off = 0;
    if (::pwrite(fd, body.data(), size, off) != static_cast<ssize_t>(size) || ::fdatasync(fd) != 0) {
      state.SkipWithError("write/fdatasync failed");
      break;
    }
    off += static_cast<off_t>(size);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  ::close(fd);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_RawWriteFdatasync)->Arg(1024)->Arg(5 * 1024)->Arg(100 * 1024)->UseRealTime()->MinTime(3.0);

// Lookup (index probe + checksum check of the record in the mapping) of a 5 KiB message.
void BM_Lookup(benchmark::State& state) {
  std::string dir = benchDir("sluice-bench-lookup");
  std::filesystem::remove_all(dir);
  SpoolOptions o;
  o.dir = dir;
  auto s = Spool::open(o);
  if (!s) {
    state.SkipWithError(s.status().message().c_str());
    return;
  }
  std::string body = makeBody(static_cast<std::size_t>(state.range(0)));
  RecipientIn r{"someone@example.net", ""};
  MessageIn m;
  m.recipients = {&r, 1};
  m.body = body;
  std::vector<MessageId> ids;
  for (int i = 0; i < 10000; ++i) ids.push_back(s.value()->append(m, {}).value());
  s.value()->flush();
  std::size_t i = 0;
  for (auto _ : state) {
    auto v = s.value()->lookup(ids[i++ % ids.size()]);
    benchmark::DoNotOptimize(v.value().body().data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
  s.value().reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Lookup)->Arg(5 * 1024);

}  // namespace

BENCHMARK_MAIN();
