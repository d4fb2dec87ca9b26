// dns_source.hpp: the query layer under the MX logic: "ask (name, type), get a DnsAnswer later".
//
// Two implementations: AresSource (c-ares on the libuv loop, real DNS) and ZoneSource (answers from zone text,
// for tests). Both call back on the loop thread and never from inside query(). Destroying a source drops every
// pending callback without calling it. Each counts the queries it actually sent, by type.
#pragma once

#include "resolver/dns_message.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace sluice::resolver {

class DnsSource {
 public:
  using Callback = std::function<void(DnsAnswer&&)>;
  virtual ~DnsSource() = default;

  // Starts a query for a normalised name; cb runs once, later, on the loop thread (unless the source dies first).
  virtual void query(const std::string& name, QType type, Callback cb) = 0;

  // Queries sent so far for one type.
  virtual std::uint64_t queriesSent(QType type) const = 0;
};

}  // namespace sluice::resolver
