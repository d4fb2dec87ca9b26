// commands.cpp: `sluice run` and `sluice inject` (see commands.hpp).
#include "engine/delivery/commands.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "engine/delivery/engine.hpp"
#include "engine/delivery/envelope.hpp"
#include "engine/delivery/inject.hpp"
#include "engine/ops/config.hpp"
#include "queue/spool.hpp"

namespace sluice::delivery {
namespace {

// Loads and checks the configuration for a command that needs the spool. nullopt after printing the errors.
std::optional<ops::EngineConfig> loadForRun(const std::string& path, const char* cmd) {
  ops::ConfigResult r = ops::loadConfigFile(path);
  for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!r.config) return std::nullopt;
  auto problems = ops::runProblems(*r.config);
  if (!problems.empty()) {
    for (const auto& p : problems) std::fprintf(stderr, "%s: %s\n", path.c_str(), p.c_str());
    return std::nullopt;
  }
  return r.config;
}

std::unique_ptr<queue::Spool> openSpool(const std::string& dir) {
  queue::SpoolOptions opts;
  opts.dir = dir;
  auto spool = queue::Spool::open(opts);
  if (!spool.isOk()) {
    std::fprintf(stderr, "sluice: cannot open the spool %s: %s\n", dir.c_str(), spool.status().message().c_str());
    return nullptr;
  }
  return std::move(spool.value());
}

void printProgress(const EngineProgress& p, bool final) {
  std::fprintf(stderr,
               "%sdelivered %llu  bounced %llu  deferred %llu  in flight %llu  connections %llu%s",
               final ? "" : "\r", static_cast<unsigned long long>(p.delivered),
               static_cast<unsigned long long>(p.bounced), static_cast<unsigned long long>(p.deferred),
               static_cast<unsigned long long>(p.messagesInFlight),
               static_cast<unsigned long long>(p.connectionsOpen), final ? "\n" : "   ");
}

const char* kRunUsage =
    "usage: sluice run --config FILE [--drain] [--progress]\n"
    "  Delivers the spool's messages until SIGTERM/SIGINT (in-flight transactions are finished first).\n"
    "  --drain     exit once nothing is due and nothing is in flight (deferred messages stay queued)\n"
    "  --progress  show counters on stderr every second\n";

const char* kInjectUsage =
    "usage: sluice inject --config FILE --from ADDR --to ADDR [--to ADDR ...] [options] FILE.eml\n"
    "  Puts one message into the spool, durably, for a daemon that is not running (the spool is locked while\n"
    "  it runs). FILE.eml may be '-' for standard input. --from '' gives the null reverse-path.\n"
    "  --notify LIST  DSN NOTIFY for the following --to (NEVER or SUCCESS,FAILURE,DELAY)\n"
    "  --orcpt ADDR   DSN ORCPT (rfc822) for the following --to\n"
    "  --ret FULL|HDRS, --envid ID   DSN parameters of the message\n";

}  // namespace

int runCommand(int argc, char** argv) {
  std::string configPath;
  bool drain = false, progress = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kRunUsage, stdout);
      return 0;
    } else if (a == "--config" && i + 1 < argc) {
      configPath = argv[++i];
    } else if (a == "--drain") {
      drain = true;
    } else if (a == "--progress") {
      progress = true;
    } else {
      std::fprintf(stderr, "sluice run: unexpected argument '%s'\n%s", a.c_str(), kRunUsage);
      return 2;
    }
  }
  if (configPath.empty()) {
    std::fputs(kRunUsage, stderr);
    return 2;
  }
  auto config = loadForRun(configPath, "run");
  if (!config) return 1;
  auto spool = openSpool(config->spool);
  if (!spool) return 1;
  EngineOptions opts;
  opts.config = *config;
  opts.drain = drain;
  if (progress) {
    opts.onProgress = [](const EngineProgress& p) { printProgress(p, false); };
    opts.progressEveryMs = 1000;
  }
  std::string error;
  auto engine = Engine::create(std::move(opts), *spool, &error);
  if (!engine) {
    std::fprintf(stderr, "sluice run: %s\n", error.c_str());
    return 1;
  }
  int rc = engine->run(true);
  printProgress(engine->progress(), true);
  engine.reset();
  auto health = spool->health();
  if (health.state != queue::Health::Ok) std::fprintf(stderr, "sluice run: spool: %s\n", health.reason.c_str());
  return rc;
}

int injectCommand(int argc, char** argv) {
  std::string configPath, file;
  InjectMessage msg;
  bool haveFrom = false;
  smtp::RcptParams nextParams;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sluice inject: %s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kInjectUsage, stdout);
      return 0;
    } else if (a == "--config") {
      const char* v = value("--config");
      if (!v) return 2;
      configPath = v;
    } else if (a == "--from") {
      const char* v = value("--from");
      if (!v) return 2;
      msg.from = v;
      haveFrom = true;
    } else if (a == "--to") {
      const char* v = value("--to");
      if (!v) return 2;
      msg.to.push_back({v, nextParams});
      nextParams = smtp::RcptParams{};
    } else if (a == "--notify") {
      const char* v = value("--notify");
      if (!v) return 2;
      smtp::RcptParams parsed;  // the NOTIFY rules (RFC 3461 §4.1) live in the stored-form parser
      std::string err;
      if (!parseRcptParams("NOTIFY=" + std::string(v), parsed, &err)) {
        std::fprintf(stderr, "sluice inject: %s\n", err.c_str());
        return 2;
      }
      nextParams.notify = parsed.notify;
    } else if (a == "--orcpt") {
      const char* v = value("--orcpt");
      if (!v) return 2;
      nextParams.orcptType = "rfc822";
      nextParams.orcpt = v;
    } else if (a == "--ret") {
      const char* v = value("--ret");
      if (!v) return 2;
      std::string r = v;
      if (r == "FULL" || r == "full") msg.params.ret = smtp::DsnRet::Full;
      else if (r == "HDRS" || r == "hdrs") msg.params.ret = smtp::DsnRet::Headers;
      else {
        std::fprintf(stderr, "sluice inject: --ret wants FULL or HDRS\n");
        return 2;
      }
    } else if (a == "--envid") {
      const char* v = value("--envid");
      if (!v) return 2;
      msg.params.envid = v;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      std::fprintf(stderr, "sluice inject: unknown option '%s'\n%s", a.c_str(), kInjectUsage);
      return 2;
    } else if (file.empty()) {
      file = a;
    } else {
      std::fprintf(stderr, "sluice inject: more than one message file\n");
      return 2;
    }
  }
  if (configPath.empty() || !haveFrom || msg.to.empty() || file.empty()) {
    std::fputs(kInjectUsage, stderr);
    return 2;
  }
  if (!msg.from.empty()) {
    std::string why = checkAddress(msg.from);
    if (!why.empty()) {
      std::fprintf(stderr, "sluice inject: --from %s: %s\n", msg.from.c_str(), why.c_str());
      return 2;
    }
  }
  for (const auto& r : msg.to) {
    std::string why = checkAddress(r.address);
    if (!why.empty()) {
      std::fprintf(stderr, "sluice inject: --to %s: %s\n", r.address.c_str(), why.c_str());
      return 2;
    }
  }
  if (msg.to.size() > 65535) {
    std::fprintf(stderr, "sluice inject: too many recipients\n");
    return 2;
  }
  if (file == "-") {
    msg.body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "sluice inject: cannot read %s: %s\n", file.c_str(), std::strerror(errno));
      return 1;
    }
    msg.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto config = loadForRun(configPath, "inject");
  if (!config) return 1;
  auto spool = openSpool(config->spool);
  if (!spool) return 1;
  auto id = appendDurably(*spool, msg);
  if (!id.isOk()) {
    std::fprintf(stderr, "sluice inject: not queued: %s\n", id.status().message().c_str());
    return 1;
  }
  std::printf("queued %llu\n", static_cast<unsigned long long>(id.value()));
  return 0;
}

}  // namespace sluice::delivery
