// zone_source.hpp: a DnsSource answering from a Zone, asynchronously on a libuv loop (for tests and the engine's
// test harness). Loop thread only; destroying it drops answers not yet delivered.
#pragma once

#include "resolver/defer_queue.hpp"
#include "resolver/dns_source.hpp"
#include "resolver/zone.hpp"

#include <array>

namespace sluice::resolver {

class ZoneSource final : public DnsSource {
 public:
  // Answers from `zone`, delivering on `loop`.
  ZoneSource(uv_loop_t* loop, Zone zone) : zone_(std::move(zone)), defer_(loop) {}

  // Looks the name up now and delivers the answer on the next loop turn.
  void query(const std::string& name, QType type, Callback cb) override;

  // Queries answered so far for one type.
  std::uint64_t queriesSent(QType type) const override;

 private:
  Zone zone_;
  DeferQueue defer_;
  std::uint64_t mx_ = 0, a_ = 0, aaaa_ = 0;
};

}  // namespace sluice::resolver
