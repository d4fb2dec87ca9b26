// micro_resolver.cpp: resolver throughput: lookups/s answered from the cache, and cold lookups/s (MX + A + AAAA
// per domain, cache off) against a local dnsmasq on a loopback port that this binary starts and stops itself.
#include "resolver/resolver.hpp"
#include "tests/resolver/dnsmasq_fixture.hpp"

#include <benchmark/benchmark.h>
#include <sys/stat.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace sluice::resolver;
using sluice::resolver::test::Dnsmasq;

namespace {

constexpr int kDomains = 2000;  // d0.test .. d1999.test, one MX host each (mxN.dN.test with an A record)

// "d<i>.test", built with appends (gcc 12 at -O3 warns falsely about "lit" + std::string).
std::string domainName(std::size_t i) {
  std::string s = "d";
  s += std::to_string(i);
  s += ".test";
  return s;
}

// One dnsmasq for the whole run, serving kDomains domains from a generated configuration file.
class BenchDns {
 public:
  // Starts the server on first use.
  static BenchDns& get() {
    static BenchDns instance;
    return instance;
  }
  // Stops the server and removes its files.
  ~BenchDns() {
    dns_.reset();
    std::remove(conf_.c_str());
    ::rmdir(dir_.c_str());
  }
  // The running server.
  const Dnsmasq& dns() const { return *dns_; }
  // Whether it started.
  bool ok() const { return dns_ && dns_->running(); }

 private:
  // Writes the record file into a private temporary directory and starts dnsmasq with it.
  BenchDns() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-resolver-bench.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return;
    dir_ = tmpl;
    conf_ = dir_ + "/records.conf";
    std::ofstream out(conf_);
    out << "mx-host=eq.test,mx1.test,10\nmx-host=eq.test,mx2.test,10\nmx-host=eq.test,mx3.test,20\n"
        << "host-record=mx1.test,127.0.0.1,::1\nhost-record=mx2.test,127.0.0.2\nhost-record=mx3.test,127.0.0.3\n"
        << "mx-host=one.test,mx1.test,10\n";
    for (int i = 0; i < kDomains; ++i) {
      out << "mx-host=d" << i << ".test,mx" << i << ".d" << i << ".test,10\n"
          << "host-record=mx" << i << ".d" << i << ".test,127.1." << i / 256 << "." << i % 256 << "\n";
    }
    out.close();
    ::chmod(dir_.c_str(), 0755);
    ::chmod(conf_.c_str(), 0644);
    dns_ = std::make_unique<Dnsmasq>(std::vector<std::string>{"--conf-file=" + conf_, "--cache-size=0"}, 300);
  }
  std::string dir_, conf_;
  std::unique_ptr<Dnsmasq> dns_;
};

// CPU seconds (user + system) a process has used so far, from /proc; 0 when unreadable.
double processCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A loop plus a DNS resolver pointed at the benchmark's dnsmasq.
struct Rig {
  uv_loop_t loop{};
  std::unique_ptr<Resolver> resolver;
  // A fresh loop and a resolver using the benchmark server with `extra` settings.
  explicit Rig(const ResolverConfig& extra) {
    uv_loop_init(&loop);
    ResolverConfig cfg = extra;
    cfg.nameservers = {BenchDns::get().dns().nameserver()};
    resolver = makeDnsResolver(&loop, cfg).resolver;
  }
  // Destroys the resolver, lets its handles close, closes the loop.
  ~Rig() {
    resolver.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  // Issues one lookup per name and runs the loop until all answered; returns how many were not Ok.
  int resolveAll(const std::vector<std::string>& names) {
    int left = static_cast<int>(names.size());
    int failed = 0;
    for (const auto& n : names) {
      resolver->resolveMx(n, [&](const MxResult& r) {
        --left;
        failed += r.ok() ? 0 : 1;
        benchmark::DoNotOptimize(r.hosts.data());
      });
    }
    while (left > 0) uv_run(&loop, UV_RUN_ONCE);
    return failed;
  }
};

// Lookups answered from the domain cache, in batches of 1000 per loop turn; arg 0: one MX host, 1: three hosts
// with two equal preferences (each delivery copies and shuffles), 2: 1000 of kDomains distinct cached domains.
void BM_CacheHit(benchmark::State& state) {
  if (!BenchDns::get().ok()) return state.SkipWithError("dnsmasq did not start");
  Rig rig(ResolverConfig{});
  std::vector<std::string> names;
  const int kind = static_cast<int>(state.range(0));
  for (int i = 0; i < 1000; ++i) {
    names.push_back(kind == 0 ? "one.test" : kind == 1 ? "eq.test" : domainName(static_cast<std::size_t>(i)));
  }
  std::vector<std::string> warm = names;
  if (kind == 2) {
    warm.clear();
    for (int i = 0; i < kDomains; ++i) warm.push_back(domainName(static_cast<std::size_t>(i)));
  }
  for (std::size_t i = 0; i < warm.size(); i += 32) {  // warm up 32 at a time: the server has a small queue
    std::vector<std::string> part(warm.begin() + static_cast<std::ptrdiff_t>(i),
                                  warm.begin() + static_cast<std::ptrdiff_t>(std::min(i + 32, warm.size())));
    if (rig.resolveAll(part) != 0) return state.SkipWithError("warm-up lookups failed");
  }
  std::size_t round = 0;
  for (auto _ : state) {
    if (kind == 2) {
      for (int i = 0; i < 1000; ++i) names[i] = domainName((round * 1000 + static_cast<std::size_t>(i)) % kDomains);
      ++round;
    }
    if (rig.resolveAll(names) != 0) return state.SkipWithError("lookup failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1000);
  const auto s = rig.resolver->stats();
  state.counters["mx_queries"] = static_cast<double>(s.mxQueries);
}
BENCHMARK(BM_CacheHit)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Cold lookups (cache off: every lookup sends MX, A and AAAA queries) of distinct domains, state.range(0) in
// flight at a time; arg 1 = V4Only (MX + A only).
void BM_ColdLookup(benchmark::State& state) {
  if (!BenchDns::get().ok()) return state.SkipWithError("dnsmasq did not start");
  ResolverConfig cfg;
  cfg.cacheEntries = 0;
  if (state.range(1) == 1) cfg.family = FamilyPolicy::V4Only;
  Rig rig(cfg);
  const int inFlight = static_cast<int>(state.range(0));
  std::vector<std::string> names(static_cast<std::size_t>(inFlight));
  std::size_t next = 0;
  const double serverCpu0 = processCpuSeconds(BenchDns::get().dns().pid());
  for (auto _ : state) {
    for (auto& n : names) n = domainName(next++ % kDomains);
    if (rig.resolveAll(names) != 0) return state.SkipWithError("lookup failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * inFlight);
  const auto s = rig.resolver->stats();
  const double serverCpu = processCpuSeconds(BenchDns::get().dns().pid()) - serverCpu0;
  state.counters["server_cpu_us_per_lookup"] =
      serverCpu * 1e6 / static_cast<double>(static_cast<std::int64_t>(state.iterations()) * inFlight);
  state.counters["queries_per_lookup"] =
      static_cast<double>(s.mxQueries + s.aQueries + s.aaaaQueries) / static_cast<double>(s.lookups);
}
BENCHMARK(BM_ColdLookup)
    ->Args({1, 0})
    ->Args({8, 0})
    ->Args({32, 0})
    ->Args({32, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
