// fuzz_config.cpp: libFuzzer target for the configuration parser (engine/ops/config.hpp). The input is YAML text.
// parseConfig must never throw or crash; it returns a configuration exactly when it reports no error, every error
// names the source, and an accepted configuration respects the documented ranges and maps into a resolver
// configuration the resolver accepts. The first line of the input is also tried as a duration.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/ops/config.hpp"

namespace {

// Aborts (a finding for the fuzzer) when a condition that must always hold does not.
void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

// libFuzzer entry point.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const sluice::ops::ConfigResult r = sluice::ops::parseConfig(text, "fuzz.yaml");
  require(r.config.has_value() == r.errors.empty());
  for (const std::string& e : r.errors) require(e.rfind("fuzz.yaml", 0) == 0);
  if (r.config) {
    const sluice::ops::EngineConfig& c = *r.config;
    require(c.threads <= 256);
    require(c.pipelining.window >= 1 && c.pipelining.window <= 1024);
    require(c.pool.maxConnecting >= 1 && c.pool.maxConnecting <= c.pool.maxConnections);
    require(!c.retry.schedule.empty() && c.retry.schedule.size() <= 100);
    require(c.retry.jitter >= 0 && c.retry.jitter <= 0.5);
    require(!c.hostname.empty());
    const sluice::smtp::ClientConfig cc = c.clientConfig();
    require(cc.heloName == c.hostname && cc.bdatChunkSize >= 1024);
    sluice::resolver::ValidatedConfig v;
    require(sluice::resolver::validateConfig(c.resolverConfig(), false, v).empty());
    require(v.routes.size() == c.routes.size());
  }
  // Durations: whatever parses formats back to the same value.
  const std::string_view first = text.substr(0, text.find('\n'));
  if (const auto d = sluice::ops::parseDuration(first)) {
    require(d->count() >= 0);
    require(sluice::ops::parseDuration(sluice::ops::formatDuration(*d)) == d);
  }
  return 0;
}
