// zone_source.cpp: asynchronous answers from a Zone.
#include "resolver/zone_source.hpp"

namespace sluice::resolver {

// Counts, answers from the zone, and defers the callback to the next loop turn.
void ZoneSource::query(const std::string& name, QType type, Callback cb) {
  if (type == QType::MX) ++mx_;
  if (type == QType::A) ++a_;
  if (type == QType::AAAA) ++aaaa_;
  defer_.post([answer = zone_.lookup(name, type), cb = std::move(cb)]() mutable { cb(std::move(answer)); });
}

// Per-type counter.
std::uint64_t ZoneSource::queriesSent(QType type) const {
  return type == QType::MX ? mx_ : type == QType::A ? a_ : type == QType::AAAA ? aaaa_ : 0;
}

}  // namespace sluice::resolver
