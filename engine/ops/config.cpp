// config.cpp: the strict YAML parser behind parseConfig / loadConfigFile (keys and ranges in README.md).
//
// The schema is walked by hand: every mapping lists its known keys, so an unknown or duplicated key, a value of
// the wrong type or out of range is reported with its line and column, and parsing goes on to find the rest.
// yaml-cpp throws on syntax errors (and could on misuse): everything is caught here and becomes an error.
// Any thread; no shared state.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ops/config.hpp"
#include "resolver/address.hpp"

namespace sluice::ops {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// Levenshtein distance, for "did you mean" suggestions (key names are short).
std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string_view typeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    default: return "nothing";
  }
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// True for an EHLO name: dot-separated labels of letters, digits and '-' (RFC 5321 §4.1.2 Domain), or an
// address literal in brackets.
bool validHeloName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (s.front() == '[') return s.size() > 2 && s.back() == ']';
  std::size_t label = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '.') {
      if (label == 0 || s[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (c != '-' || label == 0)) return false;
    if (++label > 63) return false;
  }
  return label > 0 && s.back() != '-';
}

// Counts documents without building them. yaml-cpp 0.7's LoadAll never returns on some malformed input (a
// stray ',' at top level repeats an empty document forever), so documents are counted here, with a bound, and
// a document starting where the previous one did is reported as a parser that cannot move on.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    stuck = stuck || (count > 0 && mark.pos == last.pos);
    if (count == 0 || !stuck) last = mark;
    ++count;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  int count = 0;
  bool stuck = false;
  YAML::Mark last;
};

// Walks one document against the schema, collecting errors.
class Parser {
 public:
  Parser(std::string_view source, std::vector<std::string>& errors) : source_(source), errors_(errors) {}

  void error(const YAML::Mark& m, std::string_view msg) {
    std::string s(source_);
    if (!m.is_null()) s += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
    s += ": ";
    s += msg;
    errors_.push_back(std::move(s));
  }
  void error(const YAML::Node& n, const std::string& path, std::string_view msg) {
    error(n.Mark(), path.empty() ? std::string(msg) : path + ": " + std::string(msg));
  }

  // Calls fn(key, value, path, keyMark) for each known key of mapping n; reports unknown and duplicate keys.
  // A missing section (null) is an empty mapping.
  using KeyFn = std::function<void(std::string_view, const YAML::Node&, const std::string&, const YAML::Mark&)>;
  void walkMap(const YAML::Node& n, const std::string& path, std::initializer_list<std::string_view> known,
               const KeyFn& fn) {
    if (n.IsNull()) return;
    if (!n.IsMap()) {
      error(n, path, "expected a mapping, got " + std::string(typeName(n)));
      return;
    }
    std::set<std::string> seen;
    for (const auto& kv : n) {
      const YAML::Node k = kv.first;
      const YAML::Mark km = k.Mark();
      if (!k.IsScalar()) {
        error(km, join(path, "?") + ": a key must be a plain name");
        continue;
      }
      const std::string& name = k.Scalar();
      const std::string full = join(path, name);
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string msg = "unknown key '" + full + "'";
        std::string_view best;
        std::size_t bestD = 3;
        for (std::string_view cand : known) {
          const std::size_t d = editDistance(name, cand);
          if (d < bestD) bestD = d, best = cand;
        }
        if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
        error(km, msg);
        continue;
      }
      if (!seen.insert(name).second) {
        error(km, "duplicate key '" + full + "'");
        continue;
      }
      fn(name, kv.second, full, km);
    }
  }

  // The scalar text of n, or false (with an error) when n is not a scalar.
  bool scalar(const YAML::Node& n, const std::string& path, const YAML::Mark& km, std::string_view what,
              std::string& out) {
    if (!n.IsScalar()) {
      error(n.IsNull() ? km : n.Mark(),
            path + ": expected " + std::string(what) + ", got " + std::string(typeName(n)));
      return false;
    }
    out = n.Scalar();
    return true;
  }

  void getString(const YAML::Node& n, const std::string& path, const YAML::Mark& km, bool allowEmpty,
                 std::string& out) {
    std::string s;
    if (!scalar(n, path, km, "a string", s)) return;
    if (s.empty() && !allowEmpty) return error(n, path, "must not be empty");
    out = std::move(s);
  }

  template <class T>
  void getUnsigned(const YAML::Node& n, const std::string& path, const YAML::Mark& km, std::uint64_t min,
                   std::uint64_t max, T& out) {
    const std::string what = "an integer in " + std::to_string(min) + ".." + std::to_string(max);
    std::string s;
    if (!scalar(n, path, km, what, s)) return;
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
      if (ec == std::errc::result_out_of_range) return error(n, path, "'" + s + "' is out of range: expected " + what);
      return error(n, path, "expected " + what + ", got '" + s + "'");
    }
    if (v < min || v > max) return error(n, path, std::to_string(v) + " is out of range: expected " + what);
    out = static_cast<T>(v);
  }

  void getBool(const YAML::Node& n, const std::string& path, const YAML::Mark& km, bool& out) {
    std::string s;
    if (!scalar(n, path, km, "true or false", s)) return;
    if (s == "true" || s == "yes" || s == "on") {
      out = true;
    } else if (s == "false" || s == "no" || s == "off") {
      out = false;
    } else {
      error(n, path, "expected true or false, got '" + s + "'");
    }
  }

  void getDuration(const YAML::Node& n, const std::string& path, const YAML::Mark& km, Millis min, Millis max,
                   Millis& out) {
    const std::string range = formatDuration(min) + ".." + formatDuration(max);
    std::string s;
    if (!scalar(n, path, km, "a duration", s)) return;
    const std::optional<Millis> d = parseDuration(s);
    if (!d) return error(n, path, "bad duration '" + s + "': expected e.g. 250ms, 90s, 5m, 2h, 5d or seconds");
    if (*d < min || *d > max) return error(n, path, "duration " + s + " is out of range " + range);
    out = *d;
  }

  // Octets: an integer, or with a KiB / MiB suffix (also K, M).
  void getSize(const YAML::Node& n, const std::string& path, const YAML::Mark& km, std::uint64_t min,
               std::uint64_t max, std::size_t& out) {
    std::string s;
    if (!scalar(n, path, km, "a size", s)) return;
    std::size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
    const std::string_view suffix = std::string_view(s).substr(digits);
    std::uint64_t mult = 0;
    if (suffix.empty()) mult = 1;
    if (suffix == "K" || suffix == "KiB") mult = 1024;
    if (suffix == "M" || suffix == "MiB") mult = 1024 * 1024;
    std::uint64_t v = 0;
    if (digits == 0 || digits > 12 || mult == 0) {
      return error(n, path, "bad size '" + s + "': expected octets, optionally with KiB or MiB");
    }
    std::from_chars(s.data(), s.data() + digits, v);
    v *= mult;
    if (v < min || v > max) {
      return error(n, path, "size " + s + " is out of range " + std::to_string(min) + ".." + std::to_string(max));
    }
    out = static_cast<std::size_t>(v);
  }

  void getFraction(const YAML::Node& n, const std::string& path, const YAML::Mark& km, double max, double& out) {
    std::string s;
    if (!scalar(n, path, km, "a number", s)) return;
    double v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !(v >= 0 && v <= max)) {
      std::ostringstream o;
      o << "expected a number in 0.." << max << ", got '" << s << "'";
      return error(n, path, o.str());
    }
    out = v;
  }

  template <class E>
  void getEnum(const YAML::Node& n, const std::string& path, const YAML::Mark& km,
               std::initializer_list<std::pair<std::string_view, E>> choices, E& out) {
    std::string names;
    for (const auto& c : choices) names += (names.empty() ? "" : "|") + std::string(c.first);
    std::string s;
    if (!scalar(n, path, km, "one of " + names, s)) return;
    for (const auto& c : choices) {
      if (s == c.first) {
        out = c.second;
        return;
      }
    }
    error(n, path, "expected one of " + names + ", got '" + s + "'");
  }

  // A list of scalars; calls fn(item, itemPath) for each. A null list is an empty one.
  void walkList(const YAML::Node& n, const std::string& path, const YAML::Mark& km,
                const std::function<void(const YAML::Node&, const std::string&)>& fn) {
    if (n.IsNull()) return;
    if (!n.IsSequence()) return error(n, path, "expected a list, got " + std::string(typeName(n)));
    for (std::size_t i = 0; i < n.size(); ++i) fn(n[i], path + "[" + std::to_string(i) + "]");
  }

  void parseRoot(const YAML::Node& root, EngineConfig& c);

 private:
  void parseRoutes(const YAML::Node& n, const std::string& path, EngineConfig& c);
  void parseResolver(const YAML::Node& n, const std::string& path, EngineConfig& c);

  std::string_view source_;
  std::vector<std::string>& errors_;
};

void Parser::parseRoutes(const YAML::Node& n, const std::string& path, EngineConfig& c) {
  if (n.IsNull()) return;
  if (!n.IsMap()) return error(n, path, "expected a mapping of domain to host:port, got " + std::string(typeName(n)));
  std::set<std::string> seen;
  for (const auto& kv : n) {
    const YAML::Node k = kv.first;
    const YAML::Node v = kv.second;
    if (!k.IsScalar()) {
      error(k.Mark(), path + ": a route's domain must be a plain name");
      continue;
    }
    const std::string full = path + "." + k.Scalar();
    std::string target;
    if (!scalar(v, full, k.Mark(), "a host:port target", target)) continue;
    resolver::StaticRoute route;
    const std::string why = resolver::parseStaticRoute(k.Scalar(), target, route);
    if (!why.empty()) {
      error(v.Mark(), full + ": bad route '" + target + "': " + why);
      continue;
    }
    if (!seen.insert(route.domain).second) {
      error(k.Mark(), "duplicate route for '" + route.domain + "'");
      continue;
    }
    c.routes.emplace_back(k.Scalar(), target);
  }
}

void Parser::parseResolver(const YAML::Node& n, const std::string& path, EngineConfig& c) {
  resolver::ResolverConfig& r = c.resolver;
  walkMap(n, path,
          {"nameservers", "timeout", "tries", "family", "local_names", "cache_entries", "max_mx_hosts"},
          [&](std::string_view k, const YAML::Node& v, const std::string& p, const YAML::Mark& km) {
            if (k == "nameservers") {
              r.nameservers.clear();
              walkList(v, p, km, [&](const YAML::Node& item, const std::string& ip) {
                std::string s;
                if (!scalar(item, ip, km, "an address", s)) return;
                resolver::Endpoint ep;
                const std::string why = resolver::parseEndpoint(s, 53, ep);
                if (!why.empty()) return error(item, ip, "bad nameserver '" + s + "': " + why);
                if (!ep.ip) return error(item, ip, "nameserver '" + s + "' must be an IP address, not a name");
                r.nameservers.push_back(s);
              });
            } else if (k == "timeout") {
              Millis d{r.timeoutMs};
              getDuration(v, p, km, milliseconds(1), seconds(60), d);
              r.timeoutMs = static_cast<int>(d.count());
            } else if (k == "tries") {
              getUnsigned(v, p, km, 1, 10, r.tries);
            } else if (k == "family") {
              using F = resolver::FamilyPolicy;
              getEnum<F>(v, p, km,
                         {{"prefer_v4", F::PreferV4}, {"prefer_v6", F::PreferV6}, {"v4_only", F::V4Only},
                          {"v6_only", F::V6Only}},
                         r.family);
            } else if (k == "local_names") {
              r.localNames.clear();
              walkList(v, p, km, [&](const YAML::Node& item, const std::string& ip) {
                std::string s, norm;
                if (!scalar(item, ip, km, "a host name", s)) return;
                if (!resolver::normaliseDomain(s, norm)) return error(item, ip, "bad host name '" + s + "'");
                r.localNames.push_back(s);
              });
            } else if (k == "cache_entries") {
              getUnsigned(v, p, km, 0, 10'000'000, r.cacheEntries);
            } else if (k == "max_mx_hosts") {
              getUnsigned(v, p, km, 1, 64, r.maxMxHosts);
            }
          });
}

void Parser::parseRoot(const YAML::Node& root, EngineConfig& c) {
  walkMap(
      root, "",
      {"hostname", "spool", "threads", "routes", "resolver", "pool", "pipelining", "timeouts", "tls", "retry", "log",
       "scheduler", "bounces", "mime"},
      [&](std::string_view k, const YAML::Node& v, const std::string& p, const YAML::Mark& km) {
        if (k == "hostname") {
          std::string s;
          if (!scalar(v, p, km, "a host name", s)) return;
          if (!validHeloName(s)) return error(v, p, "bad EHLO name '" + s + "': expected a domain or [address]");
          c.hostname = s;
        } else if (k == "spool") {
          getString(v, p, km, false, c.spool);
        } else if (k == "threads") {
          getUnsigned(v, p, km, 0, 256, c.threads);
        } else if (k == "routes") {
          parseRoutes(v, p, c);
        } else if (k == "resolver") {
          parseResolver(v, p, c);
        } else if (k == "pool") {
          PoolConfig& o = c.pool;
          YAML::Mark connectingMark = km;
          walkMap(v, p,
                  {"max_connections", "max_messages_per_connection", "max_connection_age", "idle_timeout",
                   "connect_timeout", "max_connecting"},
                  [&](std::string_view k2, const YAML::Node& v2, const std::string& p2, const YAML::Mark& km2) {
                    if (k2 == "max_connections") getUnsigned(v2, p2, km2, 1, 10000, o.maxConnections);
                    if (k2 == "max_messages_per_connection") {
                      getUnsigned(v2, p2, km2, 1, 10'000'000, o.maxMessagesPerConnection);
                    }
                    if (k2 == "max_connection_age") getDuration(v2, p2, km2, seconds(1), hours(24), o.maxConnectionAge);
                    if (k2 == "idle_timeout") getDuration(v2, p2, km2, milliseconds(100), hours(1), o.idleTimeout);
                    if (k2 == "connect_timeout") getDuration(v2, p2, km2, seconds(1), minutes(10), o.connectTimeout);
                    if (k2 == "max_connecting") {
                      connectingMark = km2;
                      getUnsigned(v2, p2, km2, 1, 10000, o.maxConnecting);
                    }
                  });
          if (o.maxConnecting > o.maxConnections) {
            error(connectingMark, "pool.max_connecting (" + std::to_string(o.maxConnecting) +
                                      ") must not exceed pool.max_connections (" +
                                      std::to_string(o.maxConnections) + ")");
          }
        } else if (k == "pipelining") {
          PipeliningConfig& o = c.pipelining;
          walkMap(v, p, {"enabled", "chunking", "window", "max_recipients_per_transaction", "bdat_chunk_size"},
                  [&](std::string_view k2, const YAML::Node& v2, const std::string& p2, const YAML::Mark& km2) {
                    if (k2 == "enabled") getBool(v2, p2, km2, o.enabled);
                    if (k2 == "chunking") getBool(v2, p2, km2, o.chunking);
                    if (k2 == "window") getUnsigned(v2, p2, km2, 1, 1024, o.window);
                    if (k2 == "max_recipients_per_transaction") {
                      getUnsigned(v2, p2, km2, 1, 10000, o.maxRecipientsPerTransaction);
                    }
                    if (k2 == "bdat_chunk_size") getSize(v2, p2, km2, 1024, 64u << 20, o.bdatChunkSize);
                  });
        } else if (k == "timeouts") {
          using T = smtp::ClientTimeouts;
          static constexpr std::pair<std::string_view, Millis T::*> kFields[] = {
              {"greeting", &T::greeting},   {"ehlo", &T::ehlo},           {"starttls", &T::startTls},
              {"tls_handshake", &T::tlsHandshake}, {"mail", &T::mail},    {"rcpt", &T::rcpt},
              {"data_init", &T::dataInit},  {"data_block", &T::dataBlock}, {"data_end", &T::dataEnd},
              {"rset", &T::rset},           {"quit", &T::quit}};
          walkMap(v, p,
                  {"greeting", "ehlo", "starttls", "tls_handshake", "mail", "rcpt", "data_init", "data_block",
                   "data_end", "rset", "quit"},
                  [&](std::string_view k2, const YAML::Node& v2, const std::string& p2, const YAML::Mark& km2) {
                    for (const auto& f : kFields) {
                      if (f.first == k2) getDuration(v2, p2, km2, seconds(1), hours(1), c.timeouts.*(f.second));
                    }
                  });
        } else if (k == "tls") {
          walkMap(v, p, {"policy"},
                  [&](std::string_view, const YAML::Node& v2, const std::string& p2, const YAML::Mark& km2) {
                    using P = smtp::TlsPolicy;
                    getEnum<P>(v2, p2, km2,
                               {{"never", P::Never}, {"opportunistic", P::Opportunistic}, {"require", P::Require}},
                               c.tls);
                  });
        } else if (k == "retry") {
          walkMap(v, p, {"schedule", "max_age", "jitter"},
                  [&](std::string_view k2, const YAML::Node& v2, const std::string& p2, const YAML::Mark& km2) {
                    if (k2 == "schedule") {
                      if (!v2.IsSequence()) {
                        return error(v2.IsNull() ? km2 : v2.Mark(),
                                     p2 + ": expected a list of durations, got " + std::string(typeName(v2)));
                      }
                      if (v2.size() == 0 || v2.size() > 100) return error(v2, p2, "must have 1..100 entries");
                      std::vector<Millis> out;
                      walkList(v2, p2, km2, [&](const YAML::Node& item, const std::string& ip) {
                        Millis d{0};
                        getDuration(item, ip, km2, seconds(1), hours(24 * 7), d);
                        out.push_back(d);
                      });
                      c.retry.schedule = std::move(out);
                    }
                    if (k2 == "max_age") getDuration(v2, p2, km2, minutes(1), hours(24 * 30), c.retry.maxAge);
                    if (k2 == "jitter") getFraction(v2, p2, km2, 0.5, c.retry.jitter);
                  });
        } else if (k == "log") {
          walkMap(v, p, {"deliveries"},
                  [&](std::string_view, const YAML::Node& v2, const std::string& p2, const YAML::Mark& km2) {
                    getString(v2, p2, km2, true, c.deliveryLog);
                  });
        } else if (k == "scheduler") {
          walkMap(v, p, {"max_in_flight_messages", "batch"},
                  [&](std::string_view k2, const YAML::Node& v2, const std::string& p2, const YAML::Mark& km2) {
                    if (k2 == "max_in_flight_messages") {
                      getUnsigned(v2, p2, km2, 1, 10'000'000, c.scheduler.maxInFlightMessages);
                    }
                    if (k2 == "batch") getUnsigned(v2, p2, km2, 1, 100000, c.scheduler.batch);
                  });
        } else if (k == "bounces") {
          walkMap(v, p, {"enabled", "delay_warning_after"},
                  [&](std::string_view k2, const YAML::Node& v2, const std::string& p2, const YAML::Mark& km2) {
                    if (k2 == "enabled") getBool(v2, p2, km2, c.bounces);
                    if (k2 == "delay_warning_after") {
                      getDuration(v2, p2, km2, milliseconds(0), hours(24 * 30), c.delayWarningAfter);
                    }
                  });
        } else if (k == "mime") {
          walkMap(v, p, {"non_mime_8bit"},
                  [&](std::string_view, const YAML::Node& v2, const std::string& p2, const YAML::Mark& km2) {
                    getEnum<bool>(v2, p2, km2, {{"bounce", false}, {"wrap", true}}, c.wrapNonMime8bit);
                  });
        }
      });
}

}  // namespace

ConfigResult parseConfig(std::string_view yaml, std::string_view sourceName) {
  ConfigResult result;
  Parser parser(sourceName, result.errors);
  EngineConfig config;
  try {
    const std::string text(yaml);
    DocumentCounter counter;
    {
      std::istringstream in(text);
      YAML::Parser events(in);
      while (counter.count < 3 && events.HandleNextDocument(counter)) {
      }
    }
    if (counter.stuck) {
      parser.error(counter.last, "YAML syntax error: unexpected text at the top level");
    } else if (counter.count > 1) {
      parser.error(YAML::Mark::null_mark(), "expected one YAML document, found several");
    } else if (counter.count == 1) {
      const YAML::Node root = YAML::Load(text);
      if (!root.IsMap() && !root.IsNull()) {
        parser.error(root.Mark(), "the configuration must be a mapping of keys, got " + std::string(typeName(root)));
      } else {
        parser.parseRoot(root, config);
      }
    }
    if (result.errors.empty()) {
      resolver::ValidatedConfig checked;
      const std::string why = resolver::validateConfig(config.resolverConfig(), false, checked);
      if (!why.empty()) parser.error(YAML::Mark::null_mark(), "resolver: " + why);
    }
  } catch (const YAML::Exception& e) {
    parser.error(e.mark, "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    parser.error(YAML::Mark::null_mark(), std::string("cannot parse: ") + e.what());
  } catch (...) {
    parser.error(YAML::Mark::null_mark(), "cannot parse: unexpected failure");
  }
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

ConfigResult loadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigResult r;
    r.errors.push_back(path + ": cannot open the file");
    return r;
  }
  std::string text;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      ConfigResult r;
      r.errors.push_back(path + ": larger than " + std::to_string(kMaxConfigBytes) + " bytes");
      return r;
    }
  }
  if (in.bad()) {
    ConfigResult r;
    r.errors.push_back(path + ": read error");
    return r;
  }
  return parseConfig(text, path);
}

}  // namespace sluice::ops
