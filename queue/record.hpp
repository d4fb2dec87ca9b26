// record.hpp: the on-disk format of segment files. A segment is a 64-byte header followed by records, each aligned
// to 8 bytes; unused space is zero (preallocated). A record is a 40-byte header, the envelope (reverse-path, MAIL
// parameters, recipients with their RCPT parameters, as length-prefixed opaque strings) and the body bytes, all
// covered by one CRC-32C. The queue never parses the body and never interprets parameter strings.
//
// Pure functions over byte ranges: no I/O, no allocation except encodeHead's output string. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "queue/status.hpp"

namespace sluice::queue {

using MessageId = std::uint64_t;  // assigned by the spool, strictly increasing, never reused; 0 is "none"

inline constexpr std::size_t kSegmentHeaderSize = 64;
inline constexpr std::size_t kRecordHeaderSize = 40;
inline constexpr std::size_t kRecordAlign = 8;
inline constexpr std::uint32_t kRecordMagic = 0x52515153u;  // "SQQR" little-endian
inline constexpr std::uint32_t kSegmentVersion = 1;
inline constexpr std::size_t kMaxEnvelopeString = 0xFFFF;  // one address or parameter string
inline constexpr std::size_t kMaxRecipients = 0xFFFF;

// One recipient as handed to append(): the address and its RCPT parameters as one opaque string.
struct RecipientIn {
  std::string_view address;
  std::string_view params;
};

// A message as handed to append(). Views must stay valid for the duration of the call only.
struct MessageIn {
  std::string_view reversePath;  // may be empty (null reverse-path)
  std::string_view mailParams;   // opaque, e.g. "SIZE=1234 BODY=8BITMIME"
  std::span<const RecipientIn> recipients;
  std::string_view body;       // the message bytes as they will be sent; never parsed
  std::uint8_t flags = 0;      // free for the engine (e.g. a MIME classification)
  std::int64_t arrivalMs = 0;  // unix ms; 0 = the spool fills in the current time
};

// Decoded segment header.
struct SegmentHeader {
  std::uint64_t segmentId = 0;
  std::int64_t createdMs = 0;
  std::uint64_t capacity = 0;
};

// A record decoded in place: every view points into the caller's buffer (normally the mapping).
struct RecordView {
  MessageId id = 0;
  std::int64_t arrivalMs = 0;
  std::uint8_t flags = 0;
  std::uint16_t rcptCount = 0;
  std::uint32_t length = 0;   // header + envelope + body, unpadded
  std::string_view envelope;  // encoded envelope
  std::string_view body;
};

// Envelope fields decoded from RecordView::envelope.
struct RecipientView {
  std::string_view address;
  std::string_view params;
};

enum class DecodeOutcome { Ok, End, Bad };

// Writes a 64-byte segment header into out.
void encodeSegmentHeader(const SegmentHeader& h, std::byte out[kSegmentHeaderSize]);
// Validates and decodes a segment header.
Result<SegmentHeader> decodeSegmentHeader(std::span<const std::byte> bytes);

// Checks that a message can be encoded (string and count limits); returns the record's unpadded length.
Result<std::uint32_t> measureRecord(const MessageIn& m);
// Encodes the record header and envelope (everything but the body) into out, CRC computed over body too.
void encodeHead(MessageId id, const MessageIn& m, std::string& out);
// Rounds a record length up to the record alignment.
constexpr std::size_t paddedLength(std::size_t len) { return (len + kRecordAlign - 1) & ~(kRecordAlign - 1); }

// Decodes one record at the start of bytes. End = zero magic (clean end of data), Bad = anything invalid.
DecodeOutcome decodeRecord(std::span<const std::byte> bytes, RecordView& out);

// Decodes the reverse-path and MAIL parameters of an envelope. Returns false if the envelope is malformed.
bool envelopeSender(std::string_view envelope, std::string_view& reversePath, std::string_view& mailParams);
// Calls fn(index, recipient) for each recipient; returns false if the envelope is malformed.
bool forEachRecipient(std::string_view envelope, const std::function<void(std::size_t, const RecipientView&)>& fn);

// What a scan of one segment found.
struct ScanSummary {
  std::size_t validEnd = kSegmentHeaderSize;  // offset just past the last good record
  std::size_t records = 0;                    // good records
  std::size_t corrupt = 0;                    // records skipped because their checksum or framing failed
  bool tornTail = false;                      // bytes after validEnd that are not a clean zero end
};

// Walks the records of a segment image (header included), calling onRecord(offset, view) for each good record and
// onCorrupt(offset) for each skipped one. A bad record followed by a good one is skipped; a bad record with no good
// record after it is a torn tail and ends the scan. Never reads outside bytes.
ScanSummary scanSegment(std::span<const std::byte> bytes,
                        const std::function<void(std::size_t, const RecordView&)>& onRecord,
                        const std::function<void(std::size_t)>& onCorrupt);

}  // namespace sluice::queue
