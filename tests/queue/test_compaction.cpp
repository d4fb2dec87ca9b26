// test_compaction.cpp: reclaim and compaction: segments whose messages are all final are deleted, sparse segments
// have their survivors copied forward and are deleted, survivors stay byte-exact across a restart, finished
// messages never come back (not even through a copy an interrupted compaction left behind), and a view taken before
// compaction stays readable after its segment is gone.
#include <doctest/doctest.h>

#include "queue_test_support.hpp"

using namespace sluice::queue;
using namespace qtest;

namespace {

struct Filled {
  std::vector<MessageId> ids;
};

// Opens a spool with 64 KiB segments and fills it with n messages of 1000 bytes.
Filled fill(Spool& sp, int n) {
  Filled f;
  f.ids = appendAll(sp, n, 0, 1, 1000);
  REQUIRE(f.ids.size() == static_cast<std::size_t>(n));
  return f;
}

// Opens the spool in dir (64 KiB segments), appends message n durably, closes it again; returns the id.
MessageId appendOneAndClose(const std::string& dir, std::uint64_t n) {
  auto s = Spool::open(testOptions(dir, 64 * 1024));
  REQUIRE(s.isOk());
  auto m = makeMessage(n, 1, 1000);
  auto r = appendSync(*s.value(), m);
  REQUIRE(r.isOk());
  return r.value();
}

}  // namespace

TEST_CASE("segments whose messages are all final are deleted") {
  TempDir d;
  auto s = Spool::open(testOptions(d.path, 64 * 1024));
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  auto f = fill(sp, 300);
  auto before = sp.stats();
  CHECK(before.segments >= 5);
  for (std::size_t i = 0; i < 200; ++i) REQUIRE(sp.recordOutcome(f.ids[i], 0, Outcome::Delivered, 0, 1, "250").isOk());
  REQUIRE(sp.maintain().isOk());
  auto after = sp.stats();
  CHECK(after.segmentsReclaimed >= 2);
  CHECK(after.segments < before.segments);
  CHECK(after.segmentBytes < before.segmentBytes);
  CHECK(fileSize(d.file(Segment::fileName(1))) == -1);
  for (std::size_t i = 200; i < 300; ++i) CHECK(sp.lookup(f.ids[i]).isOk());
}

TEST_CASE("a sparse segment is compacted: survivors move forward, disk use follows live data") {
  TempDir d;
  std::vector<MessageId> survivors;
  std::vector<int> survivorNums;
  std::vector<MessageId> finished;
  {
    auto s = Spool::open(testOptions(d.path, 64 * 1024));
    REQUIRE(s.isOk());
    Spool& sp = *s.value();
    auto f = fill(sp, 300);
    for (std::size_t i = 0; i < 300; ++i) {
      if (i % 20 == 0) {  // one in twenty stays deferred for a long time
        survivors.push_back(f.ids[i]);
        survivorNums.push_back(static_cast<int>(i));
        REQUIRE(sp.recordOutcome(f.ids[i], 0, Outcome::Deferred, 9'000'000'000'000, 5, "451").isOk());
      } else {
        finished.push_back(f.ids[i]);
        REQUIRE(sp.recordOutcome(f.ids[i], 0, Outcome::Delivered, 0, 1, "250").isOk());
      }
    }
    auto pinned = sp.lookup(survivors[0]);  // a delivery still sending from the old mapping
    REQUIRE(pinned.isOk());
    auto before = sp.stats();
    REQUIRE(sp.maintain().isOk());
    auto after = sp.stats();
    CHECK(after.segmentsCompacted >= 4);
    CHECK(after.recordsCopied >= 12);
    CHECK(after.segmentBytes * 4 < before.segmentBytes);
    CHECK(fileSize(d.file(Segment::fileName(1))) == -1);
    CHECK(pinned.value().body() == makeMessage(0, 1, 1000).body);  // still mapped although unlinked
    for (std::size_t k = 0; k < survivors.size(); ++k) {
      auto v = sp.lookup(survivors[k]);
      REQUIRE(v.isOk());
      CHECK(v.value().body() == makeMessage(static_cast<std::uint64_t>(survivorNums[k]), 1, 1000).body);
      CHECK(v.value().attempts() == 5);
    }
  }
  auto s = Spool::open(testOptions(d.path, 64 * 1024));
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  CHECK(sp.stats().liveMessages == survivors.size());
  for (std::size_t k = 0; k < survivors.size(); ++k) {
    auto v = sp.lookup(survivors[k]);
    REQUIRE(v.isOk());
    CHECK(v.value().body() == makeMessage(static_cast<std::uint64_t>(survivorNums[k]), 1, 1000).body);
    CHECK(v.value().nextAttemptMs() == 9'000'000'000'000);
  }
  for (MessageId id : finished) CHECK(sp.lookup(id).status().code() == kErrNotFound);
}

TEST_CASE("a compaction copy left by a crash is ignored in favour of the original") {
  TempDir d;
  MessageId id = appendOneAndClose(d.path, 1);
  // Hand-make a second segment holding a copy of the same record, as an interrupted compaction would.
  std::string seg1 = readFile(d.file(Segment::fileName(1)));
  std::string seg2 = seg1;
  std::byte h[kSegmentHeaderSize];
  encodeSegmentHeader(SegmentHeader{2, 1, 65536}, h);
  seg2.replace(0, kSegmentHeaderSize, reinterpret_cast<const char*>(h), kSegmentHeaderSize);
  patchFile(d.file(Segment::fileName(2)), 0, "");
  {
    int fd = ::open(d.file(Segment::fileName(2)).c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, seg2.data(), seg2.size()) == static_cast<ssize_t>(seg2.size()));
    ::close(fd);
  }
  auto s = Spool::open(testOptions(d.path, 64 * 1024));
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  CHECK(sp.stats().liveMessages == 1);
  // The copy's segment holds no live message, so the next maintain deletes it.
  REQUIRE(sp.maintain().isOk());
  CHECK(fileSize(d.file(Segment::fileName(2))) == -1);
  REQUIRE(sp.lookup(id).isOk());
  REQUIRE(sp.recordOutcome(id, 0, Outcome::Delivered, 0, 1, "250").isOk());
  REQUIRE(sp.flush().isOk());
}

TEST_CASE("a finished message whose original segment is reclaimed stays finished while a crash's copy remains") {
  TempDir d;
  MessageId id = appendOneAndClose(d.path, 1);
  MessageId other = appendOneAndClose(d.path, 2);  // after a restart it goes to segment 2, which stays live
  // An interrupted compaction of segment 1 had copied its record to the end of segment 2.
  std::string seg1 = readFile(d.file(Segment::fileName(1)));
  long long seg2Size = fileSize(d.file(Segment::fileName(2)));
  REQUIRE(seg2Size > 0);
  patchFile(d.file(Segment::fileName(2)), static_cast<off_t>(seg2Size), seg1.substr(kSegmentHeaderSize));
  auto o = testOptions(d.path, 64 * 1024);
  o.checkpointJournalBytes = 1;  // every maintain() checkpoints
  {
    auto s = Spool::open(o);
    REQUIRE(s.isOk());
    Spool& sp = *s.value();
    CHECK(sp.stats().liveMessages == 2);
    REQUIRE(sp.recordOutcome(id, 0, Outcome::Delivered, 0, 1, "250").isOk());
    REQUIRE(sp.flush().isOk());
    // Segment 1 is dead and goes; the checkpoint that follows must still say the message is finished.
    REQUIRE(sp.maintain().isOk());
    CHECK(fileSize(d.file(Segment::fileName(1))) == -1);
    CHECK(sp.lookup(id).status().code() == kErrNotFound);
  }
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  CHECK(sp.lookup(id).status().code() == kErrNotFound);  // not brought back by the leftover copy
  CHECK(sp.lookup(other).isOk());
  CHECK(sp.stats().liveMessages == 1);
}
