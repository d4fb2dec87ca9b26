// test_config.cpp: the YAML configuration: defaults, every key, the mappings into the SMTP client and resolver
// configurations, durations, and every kind of error with its line and column.
#include "engine/ops/config.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <string>

#include "ops_test_support.hpp"

using namespace sluice::ops;
using namespace std::chrono_literals;
using ops_test::countMatching;
using ops_test::joinLines;

namespace {

// Parses text that must be valid.
EngineConfig parseOk(std::string_view yaml) {
  ConfigResult r = parseConfig(yaml, "cfg.yaml");
  INFO(joinLines(r.errors));
  REQUIRE(r.errors.empty());
  REQUIRE(r.config.has_value());
  return *r.config;
}

// Parses text that must be rejected; returns the errors.
std::vector<std::string> parseBad(std::string_view yaml) {
  ConfigResult r = parseConfig(yaml, "cfg.yaml");
  CHECK_FALSE(r.config.has_value());
  REQUIRE_FALSE(r.errors.empty());
  return r.errors;
}

}  // namespace

TEST_CASE("an empty document gives every documented default") {
  const EngineConfig c = parseOk("");
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);
  CHECK(c.hostname == host);
  CHECK(c.spool.empty());
  CHECK(c.threads == 0);
  CHECK(c.effectiveThreads() >= 1);
  CHECK(c.routes.empty());
  CHECK(c.resolver.nameservers.empty());
  CHECK(c.resolver.timeoutMs == 2000);
  CHECK(c.resolver.tries == 3);
  CHECK(c.resolver.family == sluice::resolver::FamilyPolicy::PreferV4);
  CHECK(c.pool.maxConnections == 20);
  CHECK(c.pool.maxMessagesPerConnection == 10000);
  CHECK(c.pool.maxConnectionAge == 300s);
  CHECK(c.pool.idleTimeout == 5s);
  CHECK(c.pool.connectTimeout == 30s);
  CHECK(c.pool.maxConnecting == 8);
  CHECK(c.pipelining.enabled);
  CHECK(c.pipelining.chunking);
  CHECK(c.pipelining.window == 32);
  CHECK(c.pipelining.maxRecipientsPerTransaction == 100);
  CHECK(c.pipelining.bdatChunkSize == 1024 * 1024);
  // RFC 5321 §4.5.3.2: 5 min greeting, MAIL, RCPT; 2 min DATA initiation; 3 min per data block; 10 min for ".".
  CHECK(c.timeouts.greeting == 5min);
  CHECK(c.timeouts.ehlo == 5min);
  CHECK(c.timeouts.mail == 5min);
  CHECK(c.timeouts.rcpt == 5min);
  CHECK(c.timeouts.dataInit == 2min);
  CHECK(c.timeouts.dataBlock == 3min);
  CHECK(c.timeouts.dataEnd == 10min);
  CHECK(c.tls == sluice::smtp::TlsPolicy::Opportunistic);
  const std::vector<Millis> sched{5min, 10min, 20min, 40min, 1h, 2h, 4h, 8h};
  CHECK(c.retry.schedule == sched);
  CHECK(c.retry.maxAge == 120h);
  CHECK(c.deliveryLog.empty());
  CHECK(c.scheduler.maxInFlightMessages == 50000);
  CHECK(c.scheduler.batch == 1024);
  CHECK(c.bounces);
  CHECK(c.delayWarningAfter == 4h);
  CHECK_FALSE(c.wrapNonMime8bit);
}

TEST_CASE("every key is read and mapped into the client and resolver configurations") {
  const EngineConfig c = parseOk(R"(
hostname: mta1.example.org
spool: /srv/spool
threads: 4
routes:
  example.org: "[192.0.2.1]:2525"
  "*": smarthost.example.net:587
resolver:
  nameservers: ["127.0.0.1:5353", "[::1]:53", 192.0.2.53]
  timeout: 1500ms
  tries: 5
  family: v6_only
  local_names: [mx.example.org]
  cache_entries: 0
  max_mx_hosts: 4
pool:
  max_connections: 50
  max_messages_per_connection: 500
  max_connection_age: 10m
  idle_timeout: 250ms
  connect_timeout: 15
  max_connecting: 50
pipelining:
  enabled: false
  chunking: no
  window: 1024
  max_recipients_per_transaction: 1000
  bdat_chunk_size: 256KiB
timeouts:
  greeting: 1m
  ehlo: 2m
  starttls: 3m
  tls_handshake: 4m
  mail: 5m
  rcpt: 6m
  data_init: 7m
  data_block: 8m
  data_end: 9m
  rset: 10s
  quit: 11s
tls:
  policy: require
retry:
  schedule: [1m, 90s, 1h]
  max_age: 2d
  jitter: 0
log:
  deliveries: "-"
scheduler:
  max_in_flight_messages: 1000
  batch: 64
bounces:
  enabled: false
  delay_warning_after: 30m
mime:
  non_mime_8bit: wrap
)");
  CHECK(c.hostname == "mta1.example.org");
  CHECK(c.spool == "/srv/spool");
  CHECK(c.threads == 4);
  CHECK(c.effectiveThreads() == 4);
  REQUIRE(c.routes.size() == 2);
  CHECK(c.routes[0] == std::pair<std::string, std::string>{"example.org", "[192.0.2.1]:2525"});
  CHECK(c.routes[1] == std::pair<std::string, std::string>{"*", "smarthost.example.net:587"});
  CHECK(c.resolver.nameservers == std::vector<std::string>{"127.0.0.1:5353", "[::1]:53", "192.0.2.53"});
  CHECK(c.resolver.timeoutMs == 1500);
  CHECK(c.resolver.tries == 5);
  CHECK(c.resolver.family == sluice::resolver::FamilyPolicy::V6Only);
  CHECK(c.resolver.localNames == std::vector<std::string>{"mx.example.org"});
  CHECK(c.resolver.cacheEntries == 0);
  CHECK(c.resolver.maxMxHosts == 4);
  CHECK(c.pool.maxConnections == 50);
  CHECK(c.pool.maxMessagesPerConnection == 500);
  CHECK(c.pool.maxConnectionAge == 10min);
  CHECK(c.pool.idleTimeout == 250ms);
  CHECK(c.pool.connectTimeout == 15s);
  CHECK(c.pool.maxConnecting == 50);
  CHECK(c.retry.schedule == std::vector<Millis>{1min, 90s, 1h});
  CHECK(c.retry.maxAge == 48h);
  CHECK(c.retry.jitter == 0.0);
  CHECK(c.deliveryLog == "-");
  CHECK(c.scheduler.maxInFlightMessages == 1000);
  CHECK(c.scheduler.batch == 64);
  CHECK_FALSE(c.bounces);
  CHECK(c.delayWarningAfter == 30min);
  CHECK(c.wrapNonMime8bit);

  const sluice::smtp::ClientConfig cc = c.clientConfig();
  CHECK(cc.heloName == "mta1.example.org");
  CHECK(cc.tls == sluice::smtp::TlsPolicy::Require);
  CHECK_FALSE(cc.usePipelining);
  CHECK_FALSE(cc.useChunking);
  CHECK(cc.maxInFlightTransactions == 1024);
  CHECK(cc.maxRecipientsPerTransaction == 1000);
  CHECK(cc.bdatChunkSize == 256 * 1024);
  CHECK(cc.timeouts.greeting == 1min);
  CHECK(cc.timeouts.ehlo == 2min);
  CHECK(cc.timeouts.startTls == 3min);
  CHECK(cc.timeouts.tlsHandshake == 4min);
  CHECK(cc.timeouts.mail == 5min);
  CHECK(cc.timeouts.rcpt == 6min);
  CHECK(cc.timeouts.dataInit == 7min);
  CHECK(cc.timeouts.dataBlock == 8min);
  CHECK(cc.timeouts.dataEnd == 9min);
  CHECK(cc.timeouts.rset == 10s);
  CHECK(cc.timeouts.quit == 11s);

  const sluice::resolver::ResolverConfig rc = c.resolverConfig();
  CHECK(rc.staticRoutes == c.routes);
  CHECK(rc.nameservers.size() == 3);
  sluice::resolver::ValidatedConfig v;
  CHECK(sluice::resolver::validateConfig(rc, true, v) == "");
  CHECK(v.routes.size() == 2);
  CHECK(runProblems(c).empty());
}

TEST_CASE("durations: units, bare seconds, and malformed text") {
  CHECK(parseDuration("250ms") == Millis(250));
  CHECK(parseDuration("90s") == Millis(90'000));
  CHECK(parseDuration("5m") == Millis(300'000));
  CHECK(parseDuration("2h") == Millis(7'200'000));
  CHECK(parseDuration("5d") == Millis(432'000'000));
  CHECK(parseDuration("30") == Millis(30'000));
  CHECK(parseDuration("0") == Millis(0));
  for (const char* bad : {"", "s", "5 m", "5M", "-5s", "1.5h", "5mm", "5w", "10y", "99999999999999999d", " 5s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseDuration(bad).has_value());
  }
  CHECK(formatDuration(Millis(300'000)) == "5m");
  CHECK(formatDuration(Millis(1500)) == "1500ms");
  CHECK(formatDuration(Millis(432'000'000)) == "5d");
  CHECK(formatDuration(Millis(90'000)) == "90s");
  CHECK(formatDuration(Millis(0)) == "0ms");
}

TEST_CASE("an unknown nested key is reported with its path, line, column and a suggestion") {
  const auto errors = parseBad("spool: /srv/spool\n"
                               "threads: 2\n"
                               "resolver:\n"
                               "  tries: 2\n"
                               "pool:\n"
                               "  max_connections: 10\n"
                               "  max_conections: 12\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "cfg.yaml:7:3: unknown key 'pool.max_conections' (did you mean 'max_connections'?)");
}

TEST_CASE("each kind of error names its line and column") {
  struct Row {
    const char* yaml;
    const char* expected;  // the whole first error
  };
  const Row rows[] = {
      {"bogus: 1\n", "cfg.yaml:1:1: unknown key 'bogus'"},
      {"spool: x\nthreds: 2\n", "cfg.yaml:2:1: unknown key 'threds' (did you mean 'threads'?)"},
      {"tls:\n  policy: require\n  verify: true\n", "cfg.yaml:3:3: unknown key 'tls.verify'"},
      {"mime:\n  non_mime_8bit: convert\n",
       "cfg.yaml:2:18: mime.non_mime_8bit: expected one of bounce|wrap, got 'convert'"},
      {"threads: 257\n", "cfg.yaml:1:10: threads: 257 is out of range: expected an integer in 0..256"},
      {"threads: many\n", "cfg.yaml:1:10: threads: expected an integer in 0..256, got 'many'"},
      {"threads: -1\n", "cfg.yaml:1:10: threads: expected an integer in 0..256, got '-1'"},
      {"threads: [1]\n", "cfg.yaml:1:10: threads: expected an integer in 0..256, got a list"},
      {"threads:\n", "cfg.yaml:1:1: threads: expected an integer in 0..256, got nothing"},
      {"pipelining:\n  window: 0\n",
       "cfg.yaml:2:11: pipelining.window: 0 is out of range: expected an integer in 1..1024"},
      {"pipelining:\n  window: 1025\n",
       "cfg.yaml:2:11: pipelining.window: 1025 is out of range: expected an integer in 1..1024"},
      {"pipelining:\n  enabled: maybe\n", "cfg.yaml:2:12: pipelining.enabled: expected true or false, got 'maybe'"},
      {"pipelining:\n  bdat_chunk_size: 1GiB\n",
       "cfg.yaml:2:20: pipelining.bdat_chunk_size: bad size '1GiB': expected octets, optionally with KiB or MiB"},
      {"pool:\n  idle_timeout: 5 minutes\n",
       "cfg.yaml:2:17: pool.idle_timeout: bad duration '5 minutes': expected e.g. 250ms, 90s, 5m, 2h, 5d or seconds"},
      {"pool:\n  connect_timeout: 0\n", "cfg.yaml:2:20: pool.connect_timeout: duration 0 is out of range 1s..10m"},
      {"pool:\n  max_connections: 4\n",
       "cfg.yaml:1:1: pool.max_connecting (8) must not exceed pool.max_connections (4)"},
      {"timeouts:\n  data_end: 2h\n", "cfg.yaml:2:13: timeouts.data_end: duration 2h is out of range 1s..1h"},
      {"tls:\n  policy: sometimes\n",
       "cfg.yaml:2:11: tls.policy: expected one of never|opportunistic|require, got 'sometimes'"},
      {"retry:\n  schedule: []\n", "cfg.yaml:2:13: retry.schedule: must have 1..100 entries"},
      {"retry:\n  schedule: 5m\n", "cfg.yaml:2:13: retry.schedule: expected a list of durations, got a scalar"},
      {"retry:\n  schedule: [5m, soon]\n",
       "cfg.yaml:2:18: retry.schedule[1]: bad duration 'soon': expected e.g. 250ms, 90s, 5m, 2h, 5d or seconds"},
      {"retry:\n  max_age: 31d\n", "cfg.yaml:2:12: retry.max_age: duration 31d is out of range 1m..30d"},
      {"retry:\n  jitter: 0.9\n", "cfg.yaml:2:11: retry.jitter: expected a number in 0..0.5, got '0.9'"},
      {"routes:\n  example.org: \"host:99999\"\n", "cfg.yaml:2:16: routes.example.org: bad route 'host:99999': "},
      {"routes:\n  \"bad domain!\": relay.test\n", "cfg.yaml:2:18: routes.bad domain!: bad route 'relay.test': "},
      {"routes: [a]\n", "cfg.yaml:1:9: routes: expected a mapping of domain to host:port, got a list"},
      {"resolver:\n  nameservers: [dns.example]\n",
       "cfg.yaml:2:17: resolver.nameservers[0]: nameserver 'dns.example' must be an IP address, not a name"},
      {"resolver:\n  tries: 11\n", "cfg.yaml:2:10: resolver.tries: 11 is out of range: expected an integer in 1..10"},
      {"resolver:\n  family: ipv4\n",
       "cfg.yaml:2:11: resolver.family: expected one of prefer_v4|prefer_v6|v4_only|v6_only, got 'ipv4'"},
      {"hostname: \"bad host\"\n", "cfg.yaml:1:11: hostname: bad EHLO name 'bad host': expected a domain or [address]"},
      {"spool: \"\"\n", "cfg.yaml:1:8: spool: must not be empty"},
      {"pool: 3\n", "cfg.yaml:1:7: pool: expected a mapping, got a scalar"},
      {"threads: 1\nthreads: 2\n", "cfg.yaml:2:1: duplicate key 'threads'"},
      {"[1, 2]\n", "cfg.yaml:1:1: the configuration must be a mapping of keys, got a list"},
      {"pool:\n  max_connections: [1\n", "cfg.yaml:3:1: YAML syntax error: "},
      {"spool: a\n---\nspool: b\n", "cfg.yaml: expected one YAML document, found several"},
      {",\n", "cfg.yaml:1:1: YAML syntax error: unexpected text at the top level"},  // hangs yaml-cpp's LoadAll
  };
  for (const Row& row : rows) {
    CAPTURE(row.yaml);
    const auto errors = parseBad(row.yaml);
    INFO(joinLines(errors));
    CHECK(errors.size() == 1);
    CHECK(errors[0].rfind(row.expected, 0) == 0);
  }
}

TEST_CASE("every error is reported, not just the first, in file order") {
  const auto errors = parseBad("threads: 999\n"               // 1
                               "pool:\n"                      // 2
                               "  max_conections: 3\n"        // 3
                               "  idle_timeout: forever\n"    // 4
                               "pipelining:\n"                // 5
                               "  window: 0\n"                // 6
                               "retry:\n"                     // 7
                               "  schedule: [5m, 0s, 1h]\n"   // 8
                               "routes:\n"                    // 9
                               "  a.example: \"[::1\"\n"      // 10
                               "colour: blue\n");             // 11
  INFO(joinLines(errors));
  REQUIRE(errors.size() == 7);
  const char* prefixes[] = {"cfg.yaml:1:10: threads:", "cfg.yaml:3:3: unknown key 'pool.max_conections'",
                            "cfg.yaml:4:17: pool.idle_timeout:", "cfg.yaml:6:11: pipelining.window:",
                            "cfg.yaml:8:18: retry.schedule[1]: duration 0s is out of range",
                            "cfg.yaml:10:14: routes.a.example: bad route", "cfg.yaml:11:1: unknown key 'colour'"};
  for (std::size_t i = 0; i < 7; ++i) CHECK(errors[i].rfind(prefixes[i], 0) == 0);
}

TEST_CASE("the demo configuration parses and can run") {
  const EngineConfig c = parseOk(demoConfigYaml());
  CHECK(runProblems(c).empty());
  CHECK_FALSE(c.spool.empty());
  REQUIRE(c.routes.size() == 1);
  CHECK(c.routes[0].first == "*");
}

TEST_CASE("runProblems: a spool is required, and a nameserver unless every domain is routed") {
  EngineConfig c = parseOk("resolver:\n  tries: 2\n");
  const auto p = runProblems(c);
  CHECK(countMatching(p, {"spool"}) == 1);
  CHECK(countMatching(p, {"resolver.nameservers"}) == 1);
  c = parseOk("spool: /s\nroutes:\n  example.org: 127.0.0.1\n");
  CHECK(runProblems(c).size() == 1);  // example.org is routed, other domains need DNS
  c = parseOk("spool: /s\nroutes:\n  \"*\": 127.0.0.1\n");
  CHECK(runProblems(c).empty());
}

TEST_CASE("loadConfigFile: the file name prefixes errors; unreadable and oversized files are errors") {
  ops_test::TempDir dir;
  const std::string path = dir.file("sluice.yaml");
  ops_test::writeFile(path, "spool: /s\npool:\n  max_connections: zero\n");
  ConfigResult r = loadConfigFile(path);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].rfind(path + ":3:20: pool.max_connections:", 0) == 0);

  r = loadConfigFile(dir.file("missing.yaml"));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == dir.file("missing.yaml") + ": cannot open the file");

  ops_test::writeFile(path, "# " + std::string(kMaxConfigBytes, 'x') + "\n");
  r = loadConfigFile(path);
  REQUIRE(r.errors.size() == 1);
  CHECK(countMatching(r.errors, {"larger than"}) == 1);

  r = loadConfigFile(dir.path.string());  // a directory
  CHECK_FALSE(r.config.has_value());
  CHECK(r.errors.size() == 1);
}
