// bytes.hpp: fixed-width integer access for the on-disk formats (segment records, journal records). Formats are
// little-endian; this build only targets little-endian hosts, checked at compile time, so access is a memcpy.
#pragma once

#include <bit>
#include <cstring>
#include <string>

namespace sluice::queue {

static_assert(std::endian::native == std::endian::little, "the spool formats are little-endian");

// Reads an integer of type T at p (any alignment).
template <typename T>
T loadLe(const void* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Writes an integer of type T at p (any alignment).
template <typename T>
void storeLe(void* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

// Appends the bytes of an integer of type T to out.
template <typename T>
void appendLe(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

}  // namespace sluice::queue
