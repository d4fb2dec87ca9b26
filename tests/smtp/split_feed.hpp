// split_feed.hpp: test helpers that replay one byte string under many TCP segmentations, so a streaming parser
// or encoder can be checked to give the same result however the bytes arrive (spec edge case 1).
//
// Usage: forEachSegmentation(input, [&](const Segments& parts, const std::string& how) {
//          Parser p; for (auto s : parts) p.feed(s); CHECK(...); });
// `how` names the segmentation ("whole", "split at 7", "byte at a time", "random #3") for failure messages.
// Header-only, no doctest dependency; usable by any test binary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::test {

using Segments = std::vector<std::string_view>;

// Calls run(head, tail) for every 2-way split of input: head = input[0..k), tail = input[k..), k = 0..size.
template <class Run>
void forEachTwoWaySplit(std::string_view input, Run&& run) {
  for (std::size_t k = 0; k <= input.size(); ++k) run(input.substr(0, k), input.substr(k));
}

// Calls feed(one) for each byte of input in order, each as a one-byte string_view.
template <class Feed>
void feedByteAtATime(std::string_view input, Feed&& feed) {
  for (std::size_t i = 0; i < input.size(); ++i) feed(input.substr(i, 1));
}

// Splits input into pieces of pseudo-random length 1..maxPiece (deterministic for a given seed).
inline Segments randomSegments(std::string_view input, std::uint64_t seed, std::size_t maxPiece = 7) {
  Segments out;
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  std::size_t i = 0;
  while (i < input.size()) {
    x ^= x << 13;  // xorshift64
    x ^= x >> 7;
    x ^= x << 17;
    std::size_t len = 1 + static_cast<std::size_t>(x % maxPiece);
    if (len > input.size() - i) len = input.size() - i;
    out.push_back(input.substr(i, len));
    i += len;
  }
  return out;
}

// Calls run(parts, how) for: the whole input at once, every 2-way split, byte at a time, and `randomRounds`
// seeded random segmentations. Each call should start from a fresh object under test.
template <class Run>
void forEachSegmentation(std::string_view input, Run&& run, int randomRounds = 4) {
  run(Segments{input}, std::string("whole"));
  forEachTwoWaySplit(input, [&](std::string_view head, std::string_view tail) {
    run(Segments{head, tail}, "split at " + std::to_string(head.size()));
  });
  Segments bytes;
  feedByteAtATime(input, [&](std::string_view one) { bytes.push_back(one); });
  run(bytes, std::string("byte at a time"));
  for (int r = 0; r < randomRounds; ++r) {
    run(randomSegments(input, static_cast<std::uint64_t>(r) + 1), "random #" + std::to_string(r));
  }
}

}  // namespace sluice::test
