// test_journal.cpp: the state journal: record round trip, replay with a torn tail and a corrupt record, outcomes
// surviving a restart (delivered stays delivered, deferral time and attempts kept), checkpoints bounding the
// journal, and an unfinished checkpoint being ignored.
#include <doctest/doctest.h>

#include <dirent.h>

#include "queue_test_support.hpp"

using namespace sluice::queue;
using namespace qtest;

namespace {

// Lists file names in dir that start with prefix.
std::vector<std::string> filesWithPrefix(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  while (struct dirent* e = d ? ::readdir(d) : nullptr)
    if (std::string(e->d_name).rfind(prefix, 0) == 0) out.emplace_back(e->d_name);
  if (d) ::closedir(d);
  return out;
}

}  // namespace

TEST_CASE("journal records round-trip and long replies are cut") {
  JournalRecord r{JournalType::RecipientOutcome, Outcome::Deferred, 3, 7, 99, 123456789, std::string_view()};
  std::string reply(2000, 'r');
  r.reply = reply;
  std::string buf;
  encodeJournalRecord(r, buf);
  CHECK(buf.size() % 8 == 0);
  JournalRecord out;
  long n = decodeJournalRecord(buf, out);
  CHECK(n == static_cast<long>(buf.size()));
  CHECK(out.id == 99);
  CHECK(out.rcpt == 3);
  CHECK(out.attempts == 7);
  CHECK(out.outcome == Outcome::Deferred);
  CHECK(out.nextAttemptMs == 123456789);
  CHECK(out.reply.size() == kMaxReplyBytes);
  buf[20] ^= 1;
  CHECK(decodeJournalRecord(buf, out) == -1);
}

TEST_CASE("journal replay skips a corrupt record and stops at a torn tail") {
  TempDir d;
  auto j = Journal::create(IoOps::system(), d.path, 1, 10);
  REQUIRE(j.isOk());
  std::string buf;
  for (MessageId id = 1; id <= 5; ++id) {
    JournalRecord r{JournalType::RecipientOutcome, Outcome::Delivered, 0, 1, id, 0, "250 ok"};
    encodeJournalRecord(r, buf);
  }
  JournalRecord end{JournalType::CheckpointEnd, Outcome::Final, 0, 0, 77, 0, {}};
  encodeJournalRecord(end, buf);
  std::size_t recLen = buf.size() / 6;
  REQUIRE(j.value()->append(buf).isOk());
  REQUIRE(j.value()->sync().isOk());
  std::string path = j.value()->path();
  // Corrupt record 2 (id 2), then leave half a record after the end.
  patchFile(path, static_cast<off_t>(kJournalHeaderSize + recLen + 17), "\x55");
  patchFile(path, static_cast<off_t>(kJournalHeaderSize + buf.size()), buf.substr(0, recLen / 2));
  std::vector<MessageId> ids;
  auto r = replayJournal(path, [&](const JournalRecord& rec) {
    if (rec.type == JournalType::RecipientOutcome) ids.push_back(rec.id);
  });
  REQUIRE(r.isOk());
  CHECK(ids == std::vector<MessageId>{1, 3, 4, 5});
  CHECK(r.value().corrupt == 1);
  CHECK(r.value().tornTail);
  CHECK(r.value().complete);
  CHECK(r.value().nextIdAtCheckpoint == 77);
}

TEST_CASE("outcomes survive a restart: delivered stays delivered, deferral keeps time and attempts") {
  TempDir d;
  std::vector<MessageId> ids;
  {
    auto s = Spool::open(testOptions(d.path));
    REQUIRE(s.isOk());
    for (int i = 0; i < 4; ++i) {
      auto m = makeMessage(static_cast<std::uint64_t>(i), 2);
      auto id = appendSync(*s.value(), m);
      REQUIRE(id.isOk());
      ids.push_back(id.value());
    }
    Spool& sp = *s.value();
    REQUIRE(sp.recordOutcome(ids[0], 0, Outcome::Delivered, 0, 1, "250").isOk());
    REQUIRE(sp.recordOutcome(ids[0], 1, Outcome::Bounced, 0, 1, "550").isOk());
    REQUIRE(sp.recordOutcome(ids[1], 1, Outcome::Delivered, 0, 1, "250").isOk());
    REQUIRE(sp.recordOutcome(ids[2], 0, Outcome::Deferred, 5'000'000'000'000, 3, "451").isOk());
    REQUIRE(sp.flush().isOk());
  }
  for (int reopen = 0; reopen < 2; ++reopen) {  // the second open replays the checkpoint the first one wrote
    auto s = Spool::open(testOptions(d.path));
    REQUIRE(s.isOk());
    Spool& sp = *s.value();
    CHECK(sp.lookup(ids[0]).status().code() == kErrNotFound);
    auto v1 = sp.lookup(ids[1]);
    REQUIRE(v1.isOk());
    CHECK(v1.value().recipientPending(0));
    CHECK_FALSE(v1.value().recipientPending(1));
    auto v2 = sp.lookup(ids[2]);
    REQUIRE(v2.isOk());
    CHECK(v2.value().attempts() == 3);
    CHECK(v2.value().nextAttemptMs() == 5'000'000'000'000);
    std::vector<MessageId> due;
    sp.takeDue(4'000'000'000'000, 10, due);
    CHECK(due == std::vector<MessageId>{ids[1], ids[3]});
    CHECK(sp.stats().liveMessages == 3);
  }
}

TEST_CASE("checkpoints keep the journal small and drop older journal files") {
  TempDir d;
  auto o = testOptions(d.path);
  o.checkpointJournalBytes = 4096;
  std::vector<MessageId> ids;
  {
    auto s = Spool::open(o);
    REQUIRE(s.isOk());
    Spool& sp = *s.value();
    for (int i = 0; i < 50; ++i) {
      auto m = makeMessage(static_cast<std::uint64_t>(i), 2);
      auto id = appendSync(sp, m);
      REQUIRE(id.isOk());
      ids.push_back(id.value());
    }
    for (int k = 0; k < 20; ++k)
      for (MessageId id : ids) REQUIRE(sp.recordOutcome(id, 1, Outcome::Deferred, 1000 + k, static_cast<std::uint16_t>(k + 1), "451").isOk());
    for (MessageId id : ids) REQUIRE(sp.recordOutcome(id, 0, Outcome::Delivered, 0, 21, "250").isOk());
    std::uint64_t before = sp.stats().journalBytes;
    REQUIRE(sp.maintain().isOk());
    CHECK(sp.stats().checkpoints >= 2);  // one at open, one now
    CHECK(sp.stats().journalBytes < before / 10);
    CHECK(filesWithPrefix(d.path, "journal-").size() == 1);
  }
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  for (MessageId id : ids) {
    auto v = s.value()->lookup(id);
    REQUIRE(v.isOk());
    CHECK_FALSE(v.value().recipientPending(0));
    CHECK(v.value().recipientPending(1));
    CHECK(v.value().attempts() == 21);
    CHECK(v.value().nextAttemptMs() == 1019);
  }
}

TEST_CASE("a deferral recorded with 0 attempts keeps its next attempt time across a checkpoint and restart") {
  TempDir d;
  auto o = testOptions(d.path);
  o.checkpointJournalBytes = 1;  // every maintain() checkpoints
  MessageId id = 0;
  {
    auto s = Spool::open(o);
    REQUIRE(s.isOk());
    Spool& sp = *s.value();
    auto m = makeMessage(7, 1);
    auto appended = appendSync(sp, m);
    REQUIRE(appended.isOk());
    id = appended.value();
    REQUIRE(sp.recordOutcome(id, 0, Outcome::Deferred, 7'000'000'000'000, 0, "451 greylisted").isOk());
    const auto before = sp.stats().checkpoints;
    REQUIRE(sp.maintain().isOk());  // the checkpoint replaces the journal that held the deferral
    REQUIRE(sp.stats().checkpoints == before + 1);
  }
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  auto v = s.value()->lookup(id);
  REQUIRE(v.isOk());
  CHECK(v.value().recipientPending(0));
  CHECK(v.value().nextAttemptMs() == 7'000'000'000'000);
}

TEST_CASE("a journal whose checkpoint never finished is ignored in favour of the previous one") {
  TempDir d;
  MessageId id;
  {
    auto s = Spool::open(testOptions(d.path));
    REQUIRE(s.isOk());
    auto m = makeMessage(1, 2);
    auto r = appendSync(*s.value(), m);
    REQUIRE(r.isOk());
    id = r.value();
    REQUIRE(s.value()->recordOutcome(id, 0, Outcome::Delivered, 0, 1, "250").isOk());
    REQUIRE(s.value()->flush().isOk());
  }
  // A later journal with a header but no checkpoint marker, as a crash during a checkpoint leaves it.
  auto j = Journal::create(IoOps::system(), d.path, 999, 1);
  REQUIRE(j.isOk());
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  auto v = s.value()->lookup(id);
  REQUIRE(v.isOk());
  CHECK_FALSE(v.value().recipientPending(0));
  CHECK(v.value().recipientPending(1));
}
