// options.cpp: the sink's command-line flags (parseSinkArgs, sinkUsage), the counters line and the TLS switch.
//
// Ownership: plain functions over caller-owned values. Threads: any. Errors: parseSinkArgs returns false and a
// message naming the flag; nothing throws.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/sink/sink.hpp"

namespace sluice::sink {

namespace {

bool parseUnsigned(std::string_view text, std::uint64_t max, std::uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// "[stage:]P%" (the % is optional; P may have decimals, 0 <= P <= 100) into rates[stage] or every stage.
bool parseRate(std::string_view text, std::uint32_t (&rates)[kStages], std::string* error) {
  int stage = -1;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    static constexpr std::string_view kNames[kStages] = {"greeting", "mail", "rcpt", "data"};
    std::string_view name = text.substr(0, colon);
    for (std::size_t i = 0; i < kStages; ++i)
      if (name == kNames[i]) stage = static_cast<int>(i);
    if (stage < 0) {
      if (error) *error = "unknown stage '" + std::string(name) + "' (greeting, mail, rcpt or data)";
      return false;
    }
    text = text.substr(colon + 1);
  }
  if (!text.empty() && text.back() == '%') text.remove_suffix(1);
  std::string num(text);
  char* end = nullptr;
  errno = 0;
  const double pct = num.empty() ? -1 : std::strtod(num.c_str(), &end);
  if (num.empty() || errno != 0 || *end != '\0' || !(pct >= 0 && pct <= 100)) {
    if (error) *error = "bad rate '" + num + "' (want a percentage from 0 to 100, e.g. 5% or 0.1%)";
    return false;
  }
  const auto ppm = static_cast<std::uint32_t>(std::llround(pct * 10000));
  for (std::size_t i = 0; i < kStages; ++i)
    if (stage < 0 || static_cast<std::size_t>(stage) == i) rates[i] = ppm;
  return true;
}

}  // namespace

bool tlsAvailable() { return true; }

std::string sinkUsage() {
  return "usage: sluice sink [options]\n"
         "A receiving MTA for benchmarks and tests: counts (or keeps) what it receives.\n\n"
         "  --listen IP:PORT          listen address (default 127.0.0.1:2525; port 0 = ephemeral)\n"
         "  --hostname NAME           name in the greeting and EHLO reply\n"
         "  --no-pipelining --no-chunking --no-8bitmime --no-smtputf8 --no-size --no-dsn --no-starttls\n"
         "  --no-enhancedstatuscodes  leave that extension out of the EHLO reply\n"
         "  --no-ehlo                 answer EHLO with 500 (clients must use HELO)\n"
         "  --binarymime              also offer BINARYMIME (RFC 3030; with CHUNKING only)\n"
         "  --size N                  SIZE limit in octets (default 104857600; 0 = none)\n"
         "  --max-recipients N        per transaction (default 1000)\n"
         "  --reply-delay MS          hold each reply back MS ms from its command's arrival\n"
         "  --tempfail [STAGE:]P%     4xx at that rate; STAGE is greeting, mail, rcpt or data (default: all)\n"
         "  --permfail [STAGE:]P%     5xx at that rate\n"
         "  --disconnect [STAGE:]P%   drop the connection at that rate\n"
         "  --seed N                  seed of the fault draws (default 1)\n"
         "  --max-connections N       more get \"421 4.7.0 too many connections\" (default: no limit)\n"
         "  --maildir DIR             keep each message in DIR/new with an X-Sluice-Envelope header\n"
         "  --stats-every S           print the counters every S seconds\n"
         "  --exit-after-messages N   exit once N messages were accepted\n"
         "  --idle-timeout S          server timeout in seconds (default 300)\n"
         "  --threads N               N loops with SO_REUSEPORT listeners (default 1)\n"
         "  --quiet                   print only the listening line and errors\n";
}

bool parseSinkArgs(int argc, char** argv, SinkOptions& o, std::string* error, bool* help) {
  if (help) *help = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool hasValue = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      hasValue = true;
    }
    auto need = [&]() -> bool {
      if (hasValue) return true;
      if (i + 1 >= argc) {
        if (error) *error = "option " + std::string(arg) + " needs a value";
        return false;
      }
      value = argv[++i];
      return true;
    };
    auto number = [&](std::uint64_t max, std::uint64_t& out) -> bool {
      if (!need()) return false;
      if (!parseUnsigned(value, max, out)) {
        if (error) *error = "bad value '" + std::string(value) + "' for " + std::string(arg);
        return false;
      }
      return true;
    };
    std::uint64_t n = 0;
    struct Switch {
      std::string_view name;
      bool SinkOptions::*field;
    };
    static constexpr Switch kSwitches[] = {
        {"--no-pipelining", &SinkOptions::pipelining}, {"--no-chunking", &SinkOptions::chunking},
        {"--no-8bitmime", &SinkOptions::eightBitMime}, {"--no-smtputf8", &SinkOptions::smtpUtf8},
        {"--no-size", &SinkOptions::size},             {"--no-dsn", &SinkOptions::dsn},
        {"--no-starttls", &SinkOptions::startTls},     {"--no-ehlo", &SinkOptions::ehlo},
        {"--no-enhancedstatuscodes", &SinkOptions::enhancedStatusCodes},
    };
    bool matched = false;
    if (arg == "--binarymime" && !hasValue) {
      o.binaryMime = true;
      continue;
    }
    for (const auto& s : kSwitches) {
      if (arg == s.name && !hasValue) {
        o.*s.field = false;
        matched = true;
      }
    }
    if (matched) continue;
    if (arg == "--help" || arg == "-h") {
      if (help) *help = true;
      return true;
    } else if (arg == "--quiet" && !hasValue) {
      o.quiet = true;
    } else if (arg == "--listen") {
      if (!need()) return false;
      o.listen = value;
    } else if (arg == "--hostname") {
      if (!need()) return false;
      o.hostname = value;
    } else if (arg == "--maildir") {
      if (!need()) return false;
      o.maildir = value;
    } else if (arg == "--size") {
      if (!number(UINT64_MAX, o.maxMessageSize)) return false;
    } else if (arg == "--max-recipients") {
      if (!number(1000000, n)) return false;
      o.maxRecipients = n == 0 ? 1 : n;
    } else if (arg == "--reply-delay") {
      if (!number(3600000, n)) return false;
      o.replyDelayMs = static_cast<std::uint32_t>(n);
    } else if (arg == "--tempfail" || arg == "--permfail" || arg == "--disconnect") {
      if (!need()) return false;
      auto& rates = arg == "--tempfail" ? o.faults.tempfail : arg == "--permfail" ? o.faults.permfail
                                                                                  : o.faults.disconnect;
      if (!parseRate(value, rates, error)) return false;
    } else if (arg == "--seed") {
      if (!number(UINT64_MAX, o.seed)) return false;
    } else if (arg == "--max-connections") {
      if (!number(UINT32_MAX, n)) return false;
      o.maxConnections = static_cast<std::uint32_t>(n);
    } else if (arg == "--stats-every") {
      if (!number(86400, n)) return false;
      o.statsEverySec = static_cast<std::uint32_t>(n);
    } else if (arg == "--exit-after-messages") {
      if (!number(UINT64_MAX, o.exitAfterMessages)) return false;
    } else if (arg == "--idle-timeout") {
      if (!number(86400, n)) return false;
      o.idleTimeoutMs = static_cast<std::uint32_t>(n * 1000);
    } else if (arg == "--threads") {
      if (!number(256, n)) return false;
      o.threads = n == 0 ? 1 : static_cast<unsigned>(n);
    } else {
      if (error) *error = "unknown option '" + std::string(argv[i]) + "'";
      return false;
    }
  }
  for (std::size_t s = 0; s < kStages; ++s) {
    if (std::uint64_t{o.faults.tempfail[s]} + o.faults.permfail[s] + o.faults.disconnect[s] > 1000000) {
      if (error) *error = "the failure rates of one stage add up to more than 100%";
      return false;
    }
  }
  return true;
}

std::string SinkCounters::line() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "conns %llu refused %llu active %llu | ehlo %llu helo %llu tls %llu | txns %llu rcpts %llu "
                "msgs %llu (bdat %llu data %llu) bytes %llu | 2xx %llu 4xx %llu 5xx %llu drop %llu",
                static_cast<unsigned long long>(connectionsAccepted),
                static_cast<unsigned long long>(connectionsRefused), static_cast<unsigned long long>(connectionsActive),
                static_cast<unsigned long long>(ehlo), static_cast<unsigned long long>(helo),
                static_cast<unsigned long long>(tls), static_cast<unsigned long long>(transactions),
                static_cast<unsigned long long>(recipients), static_cast<unsigned long long>(messages),
                static_cast<unsigned long long>(messagesBdat), static_cast<unsigned long long>(messagesData),
                static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(replies2xx),
                static_cast<unsigned long long>(replies4xx), static_cast<unsigned long long>(replies5xx),
                static_cast<unsigned long long>(disconnects));
  std::string out = buf;
  if (maildirErrors) out += " | maildir errors " + std::to_string(maildirErrors);
  return out;
}

}  // namespace sluice::sink
