// config.hpp: the engine's YAML configuration (every key documented in engine/ops/README.md).
//
// What it is: plain values (EngineConfig) with the defaults of the README, a strict parser that reports every
// problem with its file:line:column (unknown keys, wrong types, out-of-range values, bad durations, bad routes),
// and the mappings into the configurations of the modules that take it (smtp::ClientConfig,
// resolver::ResolverConfig).
// Ownership: values only; nothing here keeps state between calls.
// Threads: every function may be called from any thread.
// Errors: parseConfig and loadConfigFile never throw; problems come back as strings in ConfigResult::errors.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/smtp/client_session.hpp"
#include "resolver/config.hpp"

namespace sluice::ops {

using Millis = std::chrono::milliseconds;

// Connection pools, per MX site.
struct PoolConfig {
  unsigned maxConnections = 20;                 // open connections per site, 1..10000
  unsigned maxMessagesPerConnection = 10000;    // then the connection is retired, 1..10000000
  Millis maxConnectionAge{std::chrono::seconds(300)};  // then the connection is retired, 1s..1d
  Millis idleTimeout{std::chrono::seconds(5)};         // idle connection closed after, 100ms..1h
  Millis connectTimeout{std::chrono::seconds(30)};     // TCP connect, 1s..10m
  unsigned maxConnecting = 8;                   // connection attempts in progress per site, 1..max_connections
};

// RFC 2920 PIPELINING and RFC 3030 CHUNKING use.
struct PipeliningConfig {
  bool enabled = true;                       // use PIPELINING when advertised
  bool chunking = true;                      // use BDAT when CHUNKING is advertised
  unsigned window = 32;                      // transactions in flight per connection, 1..1024
  unsigned maxRecipientsPerTransaction = 100;  // 1..10000
  std::size_t bdatChunkSize = 1 << 20;       // octets per BDAT chunk, 1 KiB..64 MiB
};

// Retries of temporary failures (engine/ops/retry.hpp applies them).
struct RetryConfig {
  // Delay after the 1st, 2nd, ... failed attempt; the last one repeats. 1..100 entries, each 1s..7d.
  std::vector<Millis> schedule;
  Millis maxAge{std::chrono::hours(24 * 5)};  // give up (bounce, 4.4.7) once queued this long, 1m..30d
  double jitter = 0.1;                        // each delay is stretched by up to this fraction, 0..0.5
  RetryConfig();
};

struct SchedulerConfig {
  std::size_t maxInFlightMessages = 50000;  // messages held in memory by the delivery engine, 1..10000000
  std::size_t batch = 1024;                 // takeDue batch, 1..100000
};

struct EngineConfig {
  std::string hostname;  // EHLO name; defaults to the machine's host name
  std::string spool;     // spool directory; required for `run`
  unsigned threads = 0;  // event loops, 0..256; 0 = one per core (see effectiveThreads())
  // Static routes, (domain or "*", "host[:port]" or "[ip]:port"), in file order.
  std::vector<std::pair<std::string, std::string>> routes;
  resolver::ResolverConfig resolver;  // its staticRoutes are filled from `routes` by resolverConfig()
  PoolConfig pool;
  PipeliningConfig pipelining;
  smtp::ClientTimeouts timeouts;  // RFC 5321 §4.5.3.2 defaults
  smtp::TlsPolicy tls = smtp::TlsPolicy::Opportunistic;
  RetryConfig retry;
  std::string deliveryLog;  // log.deliveries: a path, "-" = stdout, "" = no delivery log
  SchedulerConfig scheduler;
  bool bounces = true;  // bounces.enabled: generate DSNs for failed recipients
  // bounces.delay_warning_after: a delay DSN (RFC 3464 "delayed") goes to recipients that asked NOTIFY=DELAY at
  // the first deferral once the message has waited this long (by the retry schedule's own count of attempts).
  std::chrono::milliseconds delayWarningAfter{std::chrono::hours(4)};
  // mime.non_mime_8bit: 8-bit content in a message without MIME structure, for a peer without 8BITMIME:
  // false = bounce it (5.6.3), true = wrap it as text/plain; charset=utf-8 in quoted-printable.
  bool wrapNonMime8bit = false;

  EngineConfig();  // defaults (hostname = this machine's)

  // The SMTP client configuration for every connection.
  smtp::ClientConfig clientConfig() const;
  // The resolver configuration, static routes included.
  resolver::ResolverConfig resolverConfig() const;
  // threads, or the number of cores when threads is 0 (at least 1).
  unsigned effectiveThreads() const;
};

struct ConfigResult {
  std::optional<EngineConfig> config;  // set exactly when errors is empty
  std::vector<std::string> errors;     // "source:line:col: message", every problem found, in file order
};

// Largest configuration file loadConfigFile reads (a named limit; real files are a few KiB).
inline constexpr std::size_t kMaxConfigBytes = 1 << 20;

// Parses YAML text. sourceName prefixes every error ("cfg.yaml:7:3: ...").
ConfigResult parseConfig(std::string_view yaml, std::string_view sourceName);
// Reads and parses a file; a file that cannot be read is one error.
ConfigResult loadConfigFile(const std::string& path);

// What keeps a parsed configuration from running the engine (no spool; no nameserver while some domain goes by
// MX). Empty when it can run. check-config reports these as errors too.
std::vector<std::string> runProblems(const EngineConfig& config);

// Parses a duration: "250ms", "90s", "5m", "2h", "5d", or a bare integer of seconds. nullopt when malformed or
// past 100 years.
std::optional<Millis> parseDuration(std::string_view text);
// Writes a duration in the largest unit that divides it ("5m", "1500ms").
std::string formatDuration(Millis d);

// A configuration text for the demo campaign. The demo replaces `spool` and `routes` with its own before use.
std::string_view demoConfigYaml();

// `sluice check-config FILE` (argv[0] is "check-config"): prints "FILE: ok" and a summary on stdout and returns 0,
// or every error on stderr and returns 1; --help prints usage and returns 0; bad usage returns 2.
int checkConfigCommand(int argc, char** argv);
// The same, writing to the given streams (tests).
int checkConfigCommand(int argc, char** argv, std::FILE* out, std::FILE* err);

}  // namespace sluice::ops
