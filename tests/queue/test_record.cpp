// test_record.cpp: the segment record format: checksum, encode/decode round trip, rejection of damaged records,
// and the segment scanner's handling of a corrupt record and of a torn tail.
#include <doctest/doctest.h>

#include <cstring>

#include "queue/crc32c.hpp"
#include "queue/record.hpp"
#include "queue_test_support.hpp"

using namespace sluice::queue;
using qtest::makeMessage;

namespace {

// Builds a segment image holding the given messages; offsets receives each record's offset.
std::string buildSegment(std::vector<qtest::OwnedMessage>& msgs, std::vector<std::size_t>& offsets) {
  std::string img(kSegmentHeaderSize, '\0');
  encodeSegmentHeader(SegmentHeader{7, 1000, 1 << 20}, reinterpret_cast<std::byte*>(img.data()));
  std::string head;
  MessageId id = 100;
  for (auto& m : msgs) {
    MessageIn in = m.in();
    in.arrivalMs = 5000;
    encodeHead(id++, in, head);
    offsets.push_back(img.size());
    img += head;
    img += m.body;
    img.resize(paddedLength(img.size()), '\0');
  }
  return img;
}

// Views a string as bytes.
std::span<const std::byte> asBytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("crc32c matches the standard check value and the software path") {
  CHECK(crc32c(0, "123456789", 9) == 0xE3069283u);
  // Incremental use gives the same answer as one call.
  std::string s(1000, 'x');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 7);
  CHECK(crc32c(crc32c(0, s.data(), 333), s.data() + 333, 667) == crc32c(0, s.data(), 1000));
}

TEST_CASE("a record round-trips with envelope, flags and body intact") {
  auto m = makeMessage(3, 3, 1234);
  m.reversePath = "";  // null reverse-path is allowed
  MessageIn in = m.in();
  in.arrivalMs = 1700000000123;
  auto len = measureRecord(in);
  REQUIRE(len.isOk());
  std::string head;
  encodeHead(42, in, head);
  std::string rec = head + m.body;
  CHECK(rec.size() == len.value());
  RecordView v;
  REQUIRE(decodeRecord(asBytes(rec), v) == DecodeOutcome::Ok);
  CHECK(v.id == 42);
  CHECK(v.arrivalMs == 1700000000123);
  CHECK(v.flags == m.flags);
  CHECK(v.rcptCount == 3);
  CHECK(v.body == m.body);
  std::string_view rp, mp;
  REQUIRE(envelopeSender(v.envelope, rp, mp));
  CHECK(rp.empty());
  CHECK(mp == "SIZE=100 BODY=8BITMIME");
  std::vector<std::string> seen;
  REQUIRE(forEachRecipient(v.envelope, [&](std::size_t i, const RecipientView& r) {
    CHECK(r.address == m.addrs[i]);
    CHECK(r.params == m.params[i]);
    seen.emplace_back(r.address);
  }));
  CHECK(seen.size() == 3);
}

TEST_CASE("decoding rejects every single-byte corruption and a short buffer") {
  auto m = makeMessage(9, 2, 64);
  MessageIn in = m.in();
  std::string head;
  encodeHead(5, in, head);
  std::string rec = head + m.body;
  RecordView v;
  for (std::size_t i = 0; i < rec.size(); ++i) {
    std::string bad = rec;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    CHECK_MESSAGE(decodeRecord(asBytes(bad), v) != DecodeOutcome::Ok, "byte " << i);
  }
  CHECK(decodeRecord(asBytes(rec.substr(0, rec.size() - 1)), v) == DecodeOutcome::Bad);
  std::string zeros(64, '\0');
  CHECK(decodeRecord(asBytes(zeros), v) == DecodeOutcome::End);
}

TEST_CASE("measureRecord enforces the format's limits") {
  qtest::OwnedMessage none;
  none.body = "x";
  CHECK(measureRecord(none.in()).status().code() == kErrInvalid);
  auto big = makeMessage(1);
  big.addrs[0] = std::string(70000, 'a');
  CHECK(measureRecord(big.in()).status().code() == kErrInvalid);
}

TEST_CASE("segment header validates magic, version and checksum") {
  std::byte h[kSegmentHeaderSize];
  encodeSegmentHeader(SegmentHeader{12, 99, 65536}, h);
  auto ok = decodeSegmentHeader({h, sizeof h});
  REQUIRE(ok.isOk());
  CHECK(ok.value().segmentId == 12);
  CHECK(ok.value().capacity == 65536);
  h[20] ^= std::byte{1};
  CHECK(decodeSegmentHeader({h, sizeof h}).status().code() == kErrCorrupt);
}

TEST_CASE("scan skips a corrupt record in the middle and keeps the records after it") {
  std::vector<qtest::OwnedMessage> msgs = {makeMessage(1), makeMessage(2), makeMessage(3)};
  std::vector<std::size_t> offs;
  std::string img = buildSegment(msgs, offs);
  img[offs[1] + 60] ^= 0x01;  // flip a byte inside record 2's envelope
  std::vector<MessageId> ids;
  std::vector<std::size_t> corrupt;
  ScanSummary s = scanSegment(
      asBytes(img), [&](std::size_t, const RecordView& v) { ids.push_back(v.id); },
      [&](std::size_t off) { corrupt.push_back(off); });
  CHECK(ids == std::vector<MessageId>{100, 102});
  CHECK(corrupt == std::vector<std::size_t>{offs[1]});
  CHECK(s.corrupt == 1);
  CHECK_FALSE(s.tornTail);
  CHECK(s.validEnd == img.size());
}

TEST_CASE("scan reports a torn tail at the end of the last good record") {
  std::vector<qtest::OwnedMessage> msgs = {makeMessage(1), makeMessage(2), makeMessage(3)};
  std::vector<std::size_t> offs;
  std::string img = buildSegment(msgs, offs);
  std::string torn = img.substr(0, offs[2] + 50);  // record 3 cut short
  torn.resize(torn.size() + 4096, '\0');             // then preallocated zeros
  std::vector<MessageId> ids;
  ScanSummary s = scanSegment(
      asBytes(torn), [&](std::size_t, const RecordView& v) { ids.push_back(v.id); }, [](std::size_t) {});
  CHECK(ids == std::vector<MessageId>{100, 101});
  CHECK(s.tornTail);
  CHECK(s.validEnd == offs[2]);
  // A clean end (zeros after the last record) is not torn.
  std::string clean = img + std::string(4096, '\0');
  ScanSummary c = scanSegment(asBytes(clean), [](std::size_t, const RecordView&) {}, [](std::size_t) {});
  CHECK(c.records == 3);
  CHECK_FALSE(c.tornTail);
  CHECK(c.validEnd == img.size());
}
