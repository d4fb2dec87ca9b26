// fuzz_queue_record.cpp: libFuzzer target for the spool's record decoders. The input is treated as the tail of a
// segment (after a valid segment header) and scanned exactly as recovery scans it, every decoded record's envelope
// is walked, and the same bytes are fed to the journal record decoder. None of it may crash, read out of bounds or
// return views outside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "queue/journal.hpp"
#include "queue/record.hpp"

using namespace sluice::queue;

// Scans the input as a segment tail and decodes it as journal records, aborting on any view outside the input.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string img(kSegmentHeaderSize, '\0');
  encodeSegmentHeader(SegmentHeader{1, 0, 1 << 20}, reinterpret_cast<std::byte*>(img.data()));
  img.append(reinterpret_cast<const char*>(data), size);
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(img.data()), img.size());
  const char* lo = img.data();
  const char* hi = img.data() + img.size();
  auto inside = [&](std::string_view v) {
    if (v.data() < lo || v.data() + v.size() > hi) std::abort();
  };
  std::size_t lastOff = 0;
  ScanSummary s = scanSegment(
      bytes,
      [&](std::size_t off, const RecordView& v) {
        if (off < kSegmentHeaderSize || off < lastOff || off % kRecordAlign) std::abort();
        lastOff = off;
        inside(v.envelope);
        inside(v.body);
        std::string_view rp, mp;
        if (!envelopeSender(v.envelope, rp, mp)) std::abort();  // decodeRecord already validated it
        inside(rp);
        inside(mp);
        std::size_t n = 0;
        forEachRecipient(v.envelope, [&](std::size_t, const RecipientView& r) {
          inside(r.address);
          inside(r.params);
          ++n;
        });
        if (n != v.rcptCount) std::abort();
      },
      [](std::size_t) {});
  if (s.validEnd > img.size()) std::abort();
  // The same bytes as journal records.
  std::string_view j(reinterpret_cast<const char*>(data), size);
  std::size_t off = 0;
  JournalRecord rec;
  while (off < j.size()) {
    long n = decodeJournalRecord(j.substr(off), rec);
    if (n <= 0) break;
    if (rec.reply.data() < j.data() || rec.reply.data() + rec.reply.size() > j.data() + j.size()) std::abort();
    off += static_cast<std::size_t>(n);
  }
  return 0;
}
