// ascii.hpp: byte-level helpers shared by the parsers and writers of engine/smtp (internal to the module):
// the CR/LF scanner of the DATA paths, decimal output, ASCII letters/digits and upper-casing. Pure; output goes
// only into buffers the caller passes.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::smtp {

// Offset of the first CR or LF in p[0..n), or n when there is none. Scans 16 bytes at a time where SSE2 is available.
inline std::size_t findLineBreak(const char* p, std::size_t n) {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const unsigned mask =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf))));
    if (mask != 0) return i + static_cast<std::size_t>(std::countr_zero(mask));
  }
#endif
  for (; i < n; ++i) {
    if (p[i] == '\r' || p[i] == '\n') return i;
  }
  return n;
}

// Writes the decimal form of v at out (room for 20 characters needed; no locale, sign or padding); returns its length.
inline std::size_t writeDecimal(char* out, std::uint64_t v) {
  char tmp[20];
  std::size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (std::size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return n;
}

// Appends the decimal form of v to out.
inline void appendDecimal(std::string& out, std::uint64_t v) {
  char tmp[20];
  out.append(tmp, writeDecimal(tmp, v));
}

// True for an ASCII letter or digit.
constexpr bool isAsciiAlnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Upper-cases one ASCII letter; every other octet passes unchanged.
constexpr char upperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

}  // namespace sluice::smtp
