// config_engine.cpp: EngineConfig defaults and mappings, the demo configuration text, and `sluice check-config`.
// Any thread (checkConfigCommand writes to the streams it is given); nothing throws.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/ops/config.hpp"

namespace sluice::ops {

namespace {

using std::chrono::hours;
using std::chrono::minutes;

// This machine's host name, or "localhost" when it has none.
std::string machineHostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

std::string_view tlsName(smtp::TlsPolicy p) {
  switch (p) {
    case smtp::TlsPolicy::Never: return "never";
    case smtp::TlsPolicy::Require: return "require";
    default: return "opportunistic";
  }
}

constexpr std::string_view kDemoConfig = R"yaml(# Sluice demo campaign configuration.
# The demo replaces `spool` and `routes` with its own (a scratch spool directory and a route to its sink).
hostname: sluice-demo.test
spool: sluice-demo-spool
threads: 0
routes:
  "*": "127.0.0.1:2525"
resolver:
  nameservers: ["127.0.0.1:53"]
  timeout: 2s
  tries: 3
  family: prefer_v4
pool:
  max_connections: 20
  max_messages_per_connection: 10000
  max_connection_age: 5m
  idle_timeout: 5s
  connect_timeout: 30s
  max_connecting: 8
pipelining:
  enabled: true
  chunking: true
  window: 32
  max_recipients_per_transaction: 100
  bdat_chunk_size: 1MiB
timeouts:
  greeting: 5m
  ehlo: 5m
  starttls: 2m
  mail: 5m
  rcpt: 5m
  data_init: 2m
  data_block: 3m
  data_end: 10m
  rset: 30s
  quit: 30s
tls:
  policy: opportunistic
retry:
  schedule: [5m, 10m, 20m, 40m, 1h, 2h, 4h, 8h]
  max_age: 5d
  jitter: 0.1
log:
  deliveries: ""
scheduler:
  max_in_flight_messages: 50000
  batch: 1024
bounces:
  enabled: true
  delay_warning_after: 4h
mime:
  non_mime_8bit: bounce
)yaml";

constexpr std::string_view kUsage =
    "usage: sluice check-config FILE\n\n"
    "Parses and validates a YAML configuration file (keys documented in engine/ops/README.md).\n"
    "Prints 'FILE: ok' and a summary on success (exit 0), every problem on stderr (exit 1).\n";

}  // namespace

RetryConfig::RetryConfig()
    : schedule{minutes(5), minutes(10), minutes(20), minutes(40), hours(1), hours(2), hours(4), hours(8)} {}

EngineConfig::EngineConfig() : hostname(machineHostname()) {}

smtp::ClientConfig EngineConfig::clientConfig() const {
  smtp::ClientConfig c;
  c.heloName = hostname;
  c.tls = tls;
  c.usePipelining = pipelining.enabled;
  c.useChunking = pipelining.chunking;
  c.maxRecipientsPerTransaction = pipelining.maxRecipientsPerTransaction;
  c.maxInFlightTransactions = pipelining.window;
  c.bdatChunkSize = pipelining.bdatChunkSize;
  c.timeouts = timeouts;
  return c;
}

resolver::ResolverConfig EngineConfig::resolverConfig() const {
  resolver::ResolverConfig r = resolver;
  r.staticRoutes = routes;
  return r;
}

unsigned EngineConfig::effectiveThreads() const {
  if (threads != 0) return threads;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

std::vector<std::string> runProblems(const EngineConfig& config) {
  std::vector<std::string> out;
  if (config.spool.empty()) out.push_back("spool: a spool directory is required");
  bool everyDomainRouted = false;
  for (const auto& r : config.routes) everyDomainRouted |= r.first == "*";
  if (config.resolver.nameservers.empty() && !everyDomainRouted) {
    out.push_back("resolver.nameservers: at least one nameserver is required (the resolver never reads "
                  "/etc/resolv.conf) unless routes has \"*\"");
  }
  return out;
}

std::string_view demoConfigYaml() { return kDemoConfig; }

int checkConfigCommand(int argc, char** argv) { return checkConfigCommand(argc, argv, stdout, stderr); }

int checkConfigCommand(int argc, char** argv, std::FILE* out, std::FILE* err) {
  std::vector<std::string_view> files;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage.data(), out);
      return 0;
    }
    if (a.size() > 1 && a[0] == '-') {
      std::fprintf(err, "check-config: unknown option '%s'\n\n%s", argv[i], kUsage.data());
      return 2;
    }
    files.push_back(a);
  }
  if (files.size() != 1) {
    std::fputs(kUsage.data(), err);
    return 2;
  }
  const std::string path(files[0]);
  ConfigResult r = loadConfigFile(path);
  if (r.config) {
    for (const std::string& p : runProblems(*r.config)) r.errors.push_back(path + ": " + p);
  }
  if (!r.errors.empty()) {
    for (const std::string& e : r.errors) std::fprintf(err, "%s\n", e.c_str());
    std::fprintf(err, "%s: %zu error%s\n", path.c_str(), r.errors.size(), r.errors.size() == 1 ? "" : "s");
    return 1;
  }
  const EngineConfig& c = *r.config;
  std::fprintf(out, "%s: ok\n", path.c_str());
  std::fprintf(out, "  hostname %s, spool %s, threads %u%s\n", c.hostname.c_str(), c.spool.c_str(),
               c.effectiveThreads(), c.threads == 0 ? " (one per core)" : "");
  std::fprintf(out, "  routes %zu, nameservers %zu, tls %s\n", c.routes.size(), c.resolver.nameservers.size(),
               std::string(tlsName(c.tls)).c_str());
  std::fprintf(out, "  pool %u connections/site, pipelining %s (window %u), chunking %s\n", c.pool.maxConnections,
               c.pipelining.enabled ? "on" : "off", c.pipelining.window, c.pipelining.chunking ? "on" : "off");
  std::fprintf(out, "  retry %zu steps, max age %s; delivery log %s; bounces %s\n", c.retry.schedule.size(),
               formatDuration(c.retry.maxAge).c_str(), c.deliveryLog.empty() ? "off" : c.deliveryLog.c_str(),
               c.bounces ? "on" : "off");
  return 0;
}

}  // namespace sluice::ops
