// record.cpp: encoding, decoding and scanning of segment records (format described in record.hpp and README.md).
#include "queue/record.hpp"

#include <cstring>

#include "queue/bytes.hpp"
#include "queue/crc32c.hpp"

namespace sluice::queue {

namespace {

constexpr char kSegmentMagic[8] = {'S', 'L', 'Q', 'S', 'E', 'G', '0', '1'};

// Appends a u16-length-prefixed string.
void putString(std::string& out, std::string_view s) {
  appendLe<std::uint16_t>(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

// Reads a u16-length-prefixed string at pos, advancing it; false if it overruns.
bool takeString(std::string_view env, std::size_t& pos, std::string_view& out) {
  if (env.size() - pos < 2) return false;
  std::uint16_t n = loadLe<std::uint16_t>(env.data() + pos);
  pos += 2;
  if (env.size() - pos < n) return false;
  out = env.substr(pos, n);
  pos += n;
  return true;
}

// Computes the size of the encoded envelope of m.
std::size_t envelopeSize(const MessageIn& m) {
  std::size_t n = 4 + m.reversePath.size() + m.mailParams.size();
  for (const auto& r : m.recipients) n += 4 + r.address.size() + r.params.size();
  return n;
}

}  // namespace

void encodeSegmentHeader(const SegmentHeader& h, std::byte out[kSegmentHeaderSize]) {
  std::memset(out, 0, kSegmentHeaderSize);
  std::memcpy(out, kSegmentMagic, 8);
  std::uint32_t version = kSegmentVersion;
  std::memcpy(out + 8, &version, 4);
  std::memcpy(out + 16, &h.segmentId, 8);
  std::memcpy(out + 24, &h.createdMs, 8);
  std::memcpy(out + 32, &h.capacity, 8);
  std::uint32_t crc = crc32c(0, out + 16, kSegmentHeaderSize - 16);
  std::memcpy(out + 12, &crc, 4);
}

Result<SegmentHeader> decodeSegmentHeader(std::span<const std::byte> b) {
  if (b.size() < kSegmentHeaderSize) return Status(kErrCorrupt, "segment header: file shorter than header");
  if (std::memcmp(b.data(), kSegmentMagic, 8) != 0) return Status(kErrCorrupt, "segment header: bad magic");
  if (loadLe<std::uint32_t>(b.data() + 8) != kSegmentVersion)
    return Status(kErrCorrupt, "segment header: unknown version");
  if (loadLe<std::uint32_t>(b.data() + 12) != crc32c(0, b.data() + 16, kSegmentHeaderSize - 16))
    return Status(kErrCorrupt, "segment header: checksum mismatch");
  SegmentHeader h;
  h.segmentId = loadLe<std::uint64_t>(b.data() + 16);
  h.createdMs = loadLe<std::int64_t>(b.data() + 24);
  h.capacity = loadLe<std::uint64_t>(b.data() + 32);
  return h;
}

Result<std::uint32_t> measureRecord(const MessageIn& m) {
  if (m.recipients.empty()) return Status(kErrInvalid, "append: message has no recipients");
  if (m.recipients.size() > kMaxRecipients) return Status(kErrInvalid, "append: too many recipients");
  if (m.reversePath.size() > kMaxEnvelopeString || m.mailParams.size() > kMaxEnvelopeString)
    return Status(kErrInvalid, "append: reverse-path or MAIL parameters too long");
  for (const auto& r : m.recipients)
    if (r.address.size() > kMaxEnvelopeString || r.params.size() > kMaxEnvelopeString)
      return Status(kErrInvalid, "append: recipient or RCPT parameters too long");
  std::uint64_t total = kRecordHeaderSize + envelopeSize(m) + m.body.size();
  if (total > 0xFFFFFFF0ull) return Status(kErrTooLarge, "append: message larger than 4 GiB");
  return static_cast<std::uint32_t>(total);
}

void encodeHead(MessageId id, const MessageIn& m, std::string& out) {
  std::size_t env = envelopeSize(m);
  out.clear();
  out.reserve(kRecordHeaderSize + env);
  appendLe<std::uint32_t>(out, kRecordMagic);
  appendLe<std::uint32_t>(out, 0);  // crc, filled below
  appendLe<std::uint32_t>(out, static_cast<std::uint32_t>(kRecordHeaderSize + env + m.body.size()));
  appendLe<std::uint32_t>(out, static_cast<std::uint32_t>(env));
  appendLe<std::uint64_t>(out, id);
  appendLe<std::int64_t>(out, m.arrivalMs);
  appendLe<std::uint16_t>(out, static_cast<std::uint16_t>(m.recipients.size()));
  appendLe<std::uint8_t>(out, m.flags);
  appendLe<std::uint8_t>(out, 1);  // kind: message
  appendLe<std::uint32_t>(out, 0);
  putString(out, m.reversePath);
  putString(out, m.mailParams);
  for (const auto& r : m.recipients) {
    putString(out, r.address);
    putString(out, r.params);
  }
  std::uint32_t crc = crc32c(0, out.data() + 8, out.size() - 8);
  crc = crc32c(crc, m.body.data(), m.body.size());
  std::memcpy(out.data() + 4, &crc, 4);
}

DecodeOutcome decodeRecord(std::span<const std::byte> b, RecordView& out) {
  if (b.size() < 4) return DecodeOutcome::End;
  std::uint32_t magic = loadLe<std::uint32_t>(b.data());
  if (magic == 0) return DecodeOutcome::End;
  if (magic != kRecordMagic || b.size() < kRecordHeaderSize) return DecodeOutcome::Bad;
  const std::byte* p = b.data();
  std::uint32_t length = loadLe<std::uint32_t>(p + 8);
  std::uint32_t envLen = loadLe<std::uint32_t>(p + 12);
  if (length < kRecordHeaderSize || length > b.size() || envLen > length - kRecordHeaderSize)
    return DecodeOutcome::Bad;
  if (static_cast<std::uint8_t>(p[35]) != 1 || loadLe<std::uint32_t>(p + 36) != 0) return DecodeOutcome::Bad;
  if (loadLe<std::uint32_t>(p + 4) != crc32c(0, p + 8, length - 8)) return DecodeOutcome::Bad;
  RecordView v;
  v.id = loadLe<std::uint64_t>(p + 16);
  v.arrivalMs = loadLe<std::int64_t>(p + 24);
  v.rcptCount = loadLe<std::uint16_t>(p + 32);
  v.flags = static_cast<std::uint8_t>(p[34]);
  v.length = length;
  const char* c = reinterpret_cast<const char*>(p);
  v.envelope = std::string_view(c + kRecordHeaderSize, envLen);
  v.body = std::string_view(c + kRecordHeaderSize + envLen, length - kRecordHeaderSize - envLen);
  // The envelope must parse exactly and agree with the recipient count.
  std::size_t n = 0;
  if (v.id == 0 || v.rcptCount == 0) return DecodeOutcome::Bad;
  if (!forEachRecipient(v.envelope, [&](std::size_t, const RecipientView&) { ++n; }) || n != v.rcptCount)
    return DecodeOutcome::Bad;
  out = v;
  return DecodeOutcome::Ok;
}

bool envelopeSender(std::string_view env, std::string_view& reversePath, std::string_view& mailParams) {
  std::size_t pos = 0;
  return takeString(env, pos, reversePath) && takeString(env, pos, mailParams);
}

bool forEachRecipient(std::string_view env, const std::function<void(std::size_t, const RecipientView&)>& fn) {
  std::size_t pos = 0;
  std::string_view a, b;
  if (!takeString(env, pos, a) || !takeString(env, pos, b)) return false;
  std::size_t i = 0;
  while (pos < env.size()) {
    RecipientView r;
    if (!takeString(env, pos, r.address) || !takeString(env, pos, r.params)) return false;
    fn(i++, r);
  }
  return true;
}

ScanSummary scanSegment(std::span<const std::byte> bytes,
                        const std::function<void(std::size_t, const RecordView&)>& onRecord,
                        const std::function<void(std::size_t)>& onCorrupt) {
  ScanSummary s;
  std::size_t off = kSegmentHeaderSize;
  RecordView v;
  while (off < bytes.size()) {
    DecodeOutcome d = decodeRecord(bytes.subspan(off), v);
    if (d == DecodeOutcome::End) break;
    if (d == DecodeOutcome::Ok) {
      onRecord(off, v);
      ++s.records;
      off += paddedLength(v.length);
      s.validEnd = off < bytes.size() ? off : bytes.size();
      continue;
    }
    // Bad record: look for the next good record at an aligned offset. If there is one, this record is corrupt
    // and skipped; if there is none, everything from here on is a torn tail.
    std::size_t next = 0;
    for (std::size_t q = off + kRecordAlign; q + kRecordHeaderSize <= bytes.size(); q += kRecordAlign) {
      if (loadLe<std::uint32_t>(bytes.data() + q) != kRecordMagic) continue;
      if (decodeRecord(bytes.subspan(q), v) == DecodeOutcome::Ok) {
        next = q;
        break;
      }
    }
    if (next == 0) {
      s.tornTail = true;
      break;
    }
    onCorrupt(off);
    ++s.corrupt;
    off = next;
  }
  if (s.validEnd > bytes.size()) s.validEnd = bytes.size();
  return s;
}

}  // namespace sluice::queue
