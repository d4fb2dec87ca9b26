// options.cpp: `sluice bench` command-line parsing, usage text and the loopback check (see bench.hpp).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdlib>
#include <cstring>

#include "bench/driver/bench.hpp"
#include "engine/net/uv.hpp"

namespace sluice::bench {
namespace {

bool parseUnsigned(const std::string& s, std::uint64_t max, std::uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (v > (max - static_cast<std::uint64_t>(c - '0')) / 10) return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<std::uint64_t> parseSize(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::uint64_t v = 0;
  if (!parseUnsigned(text.substr(0, digits), 1ull << 40, v)) return std::nullopt;
  const std::string unit = text.substr(digits);
  std::uint64_t mul = 1;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "K" || unit == "k" || unit == "KiB") mul = 1024;
  else if (unit == "M" || unit == "MiB") mul = 1024 * 1024;
  else return std::nullopt;
  return v * mul;
}

bool isLoopbackTarget(const std::string& hostPort) {
  sockaddr_storage ss{};
  if (!net::parseHostPort(hostPort, ss)) return false;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

std::string benchUsage() {
  return "usage: sluice bench [options]                 delivery rate (no options: the quick-start demo)\n"
         "       sluice bench --load HOST:PORT [options]  load generator (SMTP client blasting a receiver)\n\n"
         "messages:\n"
         "  --messages N        messages to send (default 5000)\n"
         "  --size SIZE         body size, e.g. 5120, 5K, 1M (default 5K; raised to the shape's minimum)\n"
         "  --shape S           plain (7-bit text), html8 (8-bit UTF-8 HTML), multipart (text + HTML +\n"
         "                      base64 attachment); default plain\n"
         "  --rcpts R           recipients per message (default 1)\n"
         "  --domains D         recipients spread over D domains (default 1)\n"
         "delivery-rate mode:\n"
         "  --spool DIR         spool directory (default: a fresh temporary one, removed at the end)\n"
         "  --keep-spool        keep the temporary spool\n"
         "  --config FILE       engine configuration (default: the embedded demo configuration);\n"
         "                      its spool and routes are replaced by the benchmark's\n"
         "  --connections N     connection limit to the receiver (default 20)\n"
         "  --window N          transactions in flight per connection (default: the configuration's)\n"
         "  --threads N         engine loops (default: the configuration's; 0 = one per core)\n"
         "  --tls P             never | opportunistic | require (default: the configuration's)\n"
         "  --sink-args \"...\"   extra arguments for the `sluice sink` child, e.g. \"--reply-delay 50\"\n"
         "  --target HOST:PORT  deliver to this receiver instead of starting a sink\n"
         "  --log FILE          write the engine's delivery log (JSON lines)\n"
         "load mode:\n"
         "  --load HOST:PORT    the receiver to blast\n"
         "  --sessions S        concurrent sessions (default 20)\n"
         "  --window N          transactions in flight per session (default 32)\n"
         "common:\n"
         "  --allow-remote      allow a target that is not a loopback address\n"
         "  --result FILE       also write the figures as 'key value' lines\n"
         "  --quiet             no progress line\n"
         "  --help              this text\n\n"
         "Exit status: 0 every message delivered; 1 the run could not start; 2 bad usage; 3 some messages\n"
         "were not delivered.\n";
}

std::string parseBenchArgs(int argc, char** argv, BenchOptions& o, bool* help) {
  *help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& v) -> bool {
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    std::string v;
    std::uint64_t n = 0;
    if (a == "--help" || a == "-h") {
      *help = true;
      return "";
    } else if (a == "--keep-spool") {
      o.keepSpool = true;
    } else if (a == "--allow-remote") {
      o.allowRemote = true;
    } else if (a == "--quiet") {
      o.progress = false;
    } else if (!value(v)) {
      return a.rfind("--", 0) == 0 ? "option " + a + " needs a value (or is unknown)" : "unexpected argument '" + a + "'";
    } else if (a == "--messages") {
      if (!parseUnsigned(v, 1ull << 40, n) || n == 0) return "--messages wants a positive number";
      o.messages = n;
    } else if (a == "--size") {
      auto s = parseSize(v);
      if (!s) return "--size wants a size such as 5120, 5K or 1M";
      o.corpus.size = static_cast<std::size_t>(*s);
    } else if (a == "--shape") {
      auto s = parseShape(v);
      if (!s) return "--shape wants plain, html8 or multipart";
      o.corpus.shape = *s;
    } else if (a == "--rcpts") {
      if (!parseUnsigned(v, kMaxCorpusRcpts, n) || n == 0) return "--rcpts wants 1..1000";
      o.corpus.rcpts = static_cast<unsigned>(n);
    } else if (a == "--domains") {
      if (!parseUnsigned(v, kMaxCorpusDomains, n) || n == 0) return "--domains wants 1..1000000";
      o.corpus.domains = static_cast<unsigned>(n);
    } else if (a == "--spool") {
      o.spool = v;
    } else if (a == "--config") {
      o.config = v;
    } else if (a == "--connections") {
      if (!parseUnsigned(v, 10000, n) || n == 0) return "--connections wants 1..10000";
      o.connections = static_cast<unsigned>(n);
    } else if (a == "--window") {
      if (!parseUnsigned(v, 1024, n) || n == 0) return "--window wants 1..1024";
      o.window = static_cast<unsigned>(n);
      o.loadWindow = static_cast<unsigned>(n);
    } else if (a == "--threads") {
      if (!parseUnsigned(v, 256, n)) return "--threads wants 0..256";
      o.threads = static_cast<unsigned>(n);
    } else if (a == "--tls") {
      if (v != "never" && v != "opportunistic" && v != "require") return "--tls wants never, opportunistic or require";
      o.tls = v;
    } else if (a == "--sink-args") {
      o.sinkArgs = v;
    } else if (a == "--target") {
      o.target = v;
    } else if (a == "--log") {
      o.deliveryLog = v;
    } else if (a == "--result") {
      o.resultFile = v;
    } else if (a == "--load") {
      o.load = v;
    } else if (a == "--sessions") {
      if (!parseUnsigned(v, 10000, n) || n == 0) return "--sessions wants 1..10000";
      o.sessions = static_cast<unsigned>(n);
    } else {
      return "unknown option '" + a + "'";
    }
  }
  if (std::string e = validate(o.corpus); !e.empty()) return e;
  if (!o.target.empty() && !o.sinkArgs.empty()) return "--sink-args has no effect with --target";
  for (const std::string* t : {&o.target, &o.load}) {
    if (t->empty()) continue;
    sockaddr_storage ss{};
    if (!net::parseHostPort(*t, ss)) return "'" + *t + "' is not a numeric ip:port or [ipv6]:port";
    if (!o.allowRemote && !isLoopbackTarget(*t))
      return "'" + *t + "' is not a loopback address; pass --allow-remote to send mail there";
  }
  return "";
}

}  // namespace sluice::bench
