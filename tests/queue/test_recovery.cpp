// test_recovery.cpp: start-up recovery: a torn tail is truncated and appends continue after it, a corrupted record
// is skipped and logged while its neighbours survive, damage after start-up is caught by lookup's checksum, and a
// segment left half-created is removed.
#include <doctest/doctest.h>

#include <dirent.h>

#include "queue_test_support.hpp"

using namespace sluice::queue;
using namespace qtest;

namespace {

// Padded on-disk size of makeMessage(n) with default shape (n < 10).
std::size_t recordLen() {
  auto m = makeMessage(0);
  return paddedLength(measureRecord(m.in()).value());
}

// Appends n messages (numbered from base) and returns their ids.
std::vector<MessageId> appendMany(Spool& sp, int n, int base = 0, std::size_t bodyLen = 300) {
  std::vector<MessageId> ids = appendAll(sp, n, base, 1, bodyLen);
  REQUIRE(ids.size() == static_cast<std::size_t>(n));
  return ids;
}

// Checks every id is present with the body of message base+i.
void expectBodies(Spool& sp, const std::vector<MessageId>& ids, int base = 0, std::size_t bodyLen = 300) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto v = sp.lookup(ids[i]);
    REQUIRE_MESSAGE(v.isOk(), "id " << ids[i] << ": " << v.status().message());
    CHECK(v.value().body() == makeMessage(static_cast<std::uint64_t>(base) + i, 1, bodyLen).body);
  }
}

}  // namespace

TEST_CASE("a torn tail is truncated at recovery and appends continue") {
  TempDir d;
  std::vector<MessageId> ids;
  {
    auto s = Spool::open(testOptions(d.path));
    REQUIRE(s.isOk());
    ids = appendMany(*s.value(), 10);
  }
  // Simulate a crash mid-write: half of a record copy after the last record of the segment.
  std::string seg = d.file(Segment::fileName(1));
  std::string data = readFile(seg);
  std::size_t recLen = recordLen();
  std::string firstRecord = data.substr(kSegmentHeaderSize, recLen);
  long long size = static_cast<long long>(kSegmentHeaderSize + 10 * recLen);
  CHECK(fileSize(seg) == size);  // trimmed at close
  patchFile(seg, size, firstRecord.substr(0, recLen / 2));
  CHECK(fileSize(seg) > size);
  std::vector<std::string> logs;
  auto o = testOptions(d.path);
  o.log = [&](std::string_view l) { logs.emplace_back(l); };
  {
    auto s = Spool::open(o);
    REQUIRE(s.isOk());
    CHECK(s.value()->stats().tornTailsTruncated == 1);
    CHECK(s.value()->stats().recoveredMessages == 10);
    CHECK(fileSize(seg) == size);
    expectBodies(*s.value(), ids);
    auto more = appendMany(*s.value(), 5, 10);
    expectBodies(*s.value(), more, 10);
    ids.insert(ids.end(), more.begin(), more.end());
  }
  bool logged = false;
  for (auto& l : logs) logged = logged || l.find("torn tail") != std::string::npos;
  CHECK(logged);
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  CHECK(s.value()->stats().liveMessages == 15);
  expectBodies(*s.value(), ids);
}

TEST_CASE("a corrupted record is skipped and logged; its neighbours survive") {
  TempDir d;
  std::vector<MessageId> ids;
  {
    auto s = Spool::open(testOptions(d.path));
    REQUIRE(s.isOk());
    ids = appendMany(*s.value(), 5);
  }
  std::string seg = d.file(Segment::fileName(1));
  std::size_t recLen = recordLen();
  off_t third = static_cast<off_t>(kSegmentHeaderSize + 2 * recLen);
  patchFile(seg, third + 200, "\xEE\xEE");  // body bytes of the third message
  std::vector<std::string> logs;
  auto o = testOptions(d.path);
  o.log = [&](std::string_view l) { logs.emplace_back(l); };
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  CHECK(sp.stats().corruptRecordsSkipped == 1);
  CHECK(sp.stats().liveMessages == 4);
  CHECK(sp.lookup(ids[2]).status().code() == kErrNotFound);
  for (int i : {0, 1, 3, 4}) {
    auto v = sp.lookup(ids[static_cast<std::size_t>(i)]);
    REQUIRE(v.isOk());
    CHECK(v.value().body() == makeMessage(static_cast<std::uint64_t>(i)).body);
  }
  bool logged = false;
  for (auto& l : logs) logged = logged || l.find("corrupt record at offset " + std::to_string(third)) != std::string::npos;
  CHECK(logged);
}

TEST_CASE("lookup never serves a record damaged after start-up") {
  TempDir d;
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  auto ids = appendMany(*s.value(), 2);
  std::string seg = d.file(Segment::fileName(1));
  std::size_t recLen = recordLen();
  patchFile(seg, static_cast<off_t>(kSegmentHeaderSize + recLen + 100), "\x01\x02\x03");  // shared mapping sees it
  CHECK(s.value()->lookup(ids[1]).status().code() == kErrCorrupt);
  CHECK(s.value()->lookup(ids[0]).isOk());
}

TEST_CASE("a segment whose creation never finished is removed; messages in other segments survive") {
  TempDir d;
  std::vector<MessageId> ids;
  {
    auto s = Spool::open(testOptions(d.path));
    REQUIRE(s.isOk());
    ids = appendMany(*s.value(), 3);
  }
  std::string blank = d.file(Segment::fileName(5));
  patchFile(blank, 0, std::string());
  {
    int fd = ::open(blank.c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, 65536) == 0);
    ::close(fd);
  }
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  CHECK(fileSize(blank) == -1);
  expectBodies(*s.value(), ids);
  // New segments get ids past the removed one.
  auto more = appendMany(*s.value(), 1, 3);
  CHECK(fileSize(d.file(Segment::fileName(6))) > 0);
}

TEST_CASE("recovery rebuilds a spool spanning many segments") {
  TempDir d;
  std::vector<MessageId> ids;
  {
    auto s = Spool::open(testOptions(d.path, 64 * 1024));
    REQUIRE(s.isOk());
    ids = appendMany(*s.value(), 600, 0, 700);
    CHECK(s.value()->stats().segments > 5);
  }
  auto s = Spool::open(testOptions(d.path, 64 * 1024));
  REQUIRE(s.isOk());
  CHECK(s.value()->stats().recoveredMessages == 600);
  expectBodies(*s.value(), ids, 0, 700);
}

namespace {

// Number of open file descriptors of this process.
int openFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (d && ::readdir(d)) ++n;
  if (d) ::closedir(d);
  return n;
}

}  // namespace

TEST_CASE("sealed segments keep their mapping but not a file descriptor") {
  TempDir d;
  int before = openFds();
  std::vector<MessageId> ids;
  {
    auto s = Spool::open(testOptions(d.path, 64 * 1024));
    REQUIRE(s.isOk());
    ids = appendMany(*s.value(), 400, 0, 1000);
    REQUIRE(s.value()->stats().segments >= 6);
    REQUIRE(s.value()->maintain().isOk());
    CHECK(openFds() - before <= 4);  // lock, journal, active segment
    expectBodies(*s.value(), ids, 0, 1000);
  }
  auto s = Spool::open(testOptions(d.path, 64 * 1024));
  REQUIRE(s.isOk());
  CHECK(openFds() - before <= 3);  // lock, journal
  expectBodies(*s.value(), ids, 0, 1000);
  // Compaction still works from the mapping alone.
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (i % 10) REQUIRE(s.value()->recordOutcome(ids[i], 0, Outcome::Delivered, 0, 1, "250").isOk());
  REQUIRE(s.value()->maintain().isOk());
  CHECK(s.value()->stats().segmentsCompacted > 0);
  for (std::size_t i = 0; i < ids.size(); i += 10) REQUIRE(s.value()->lookup(ids[i]).isOk());
}
