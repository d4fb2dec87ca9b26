// crc32c.hpp: CRC-32C (Castagnoli), the checksum on every segment record, journal record and header.
// Uses the SSE4.2 crc32 instruction when the CPU has it, else a table-driven software path. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::queue {

// Extends a running CRC-32C (start with 0) over len bytes.
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t len);

}  // namespace sluice::queue
