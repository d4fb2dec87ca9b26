// test_spool.cpp: the spool's interface: append with durable notification, byte-exact lookup through the mapping,
// outcomes and recipient progress, due iteration with in-flight marking, many concurrent producers sharing
// commits, the compact index table, and the parent sync when open creates the spool directory.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <thread>
#include <unordered_map>

#include "queue_test_support.hpp"

using namespace sluice::queue;
using namespace qtest;

TEST_CASE("append reports durability once and lookup returns the same bytes from the mapping") {
  TempDir d;
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  auto m = makeMessage(1, 2, 5000);
  auto id = appendSync(sp, m);
  REQUIRE(id.isOk());
  auto v = sp.lookup(id.value());
  REQUIRE(v.isOk());
  CHECK(v.value().body() == m.body);
  CHECK(v.value().reversePath() == m.reversePath);
  CHECK(v.value().mailParams() == m.mailParams);
  CHECK(v.value().flags() == m.flags);
  REQUIRE(v.value().recipientCount() == 2);
  CHECK(v.value().recipient(1).address == m.addrs[1]);
  CHECK(v.value().recipient(1).params == m.params[1]);
  CHECK(v.value().recipientPending(0));
  CHECK(sp.lookup(id.value() + 1000).status().code() == kErrNotFound);
  auto st = sp.stats();
  CHECK(st.liveMessages == 1);
  CHECK(st.pendingRecipients == 2);
  CHECK(sp.health().state == Health::Ok);
}

TEST_CASE("ids increase and are not reused after reopening") {
  TempDir d;
  MessageId last = 0;
  for (int round = 0; round < 3; ++round) {
    auto s = Spool::open(testOptions(d.path));
    REQUIRE(s.isOk());
    auto m = makeMessage(static_cast<std::uint64_t>(round));
    auto id = appendSync(*s.value(), m);
    REQUIRE(id.isOk());
    CHECK(id.value() > last);
    last = id.value();
    // Finish it so its segment is reclaimed: the id must still not come back.
    REQUIRE(s.value()->recordOutcome(id.value(), 0, Outcome::Delivered, 0, 1, "250 ok").isOk());
    REQUIRE(s.value()->flush().isOk());
  }
}

TEST_CASE("outcomes track recipients; a fully final message leaves the index") {
  TempDir d;
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  auto m = makeMessage(7, 40);  // past the 32 inline recipient bits
  auto id = appendSync(sp, m);
  REQUIRE(id.isOk());
  for (std::uint16_t r = 0; r < 40; r += 2) REQUIRE(sp.recordOutcome(id.value(), r, Outcome::Delivered, 0, 1, "250").isOk());
  REQUIRE(sp.recordOutcome(id.value(), 35, Outcome::Bounced, 0, 1, "550 no").isOk());
  auto v = sp.lookup(id.value());
  REQUIRE(v.isOk());
  for (std::size_t r = 0; r < 40; ++r) CHECK(v.value().recipientPending(r) == (r % 2 == 1 && r != 35));
  CHECK(sp.stats().pendingRecipients == 19);
  CHECK(sp.recordOutcome(id.value(), 40, Outcome::Delivered, 0, 1, "").code() == kErrInvalid);
  for (std::uint16_t r = 1; r < 40; r += 2) REQUIRE(sp.recordOutcome(id.value(), r, Outcome::Delivered, 0, 1, "").isOk());
  CHECK(sp.lookup(id.value()).status().code() == kErrNotFound);
  CHECK(sp.stats().liveMessages == 0);
  CHECK(sp.recordOutcome(id.value(), 0, Outcome::Delivered, 0, 1, "").code() == kErrNotFound);
}

TEST_CASE("takeDue hands out due messages once and deferral reschedules them") {
  TempDir d;
  std::int64_t now = 1'000'000;
  auto o = testOptions(d.path);
  o.clockMs = [&now] { return now; };
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  std::vector<MessageId> ids;
  for (int i = 0; i < 5; ++i) {
    auto m = makeMessage(static_cast<std::uint64_t>(i));
    auto id = appendSync(sp, m);
    REQUIRE(id.isOk());
    ids.push_back(id.value());
  }
  std::vector<MessageId> due;
  CHECK(sp.takeDue(now, 3, due) == 3);
  CHECK(sp.takeDue(now, 10, due) == 2);
  CHECK(due == ids);
  CHECK(sp.takeDue(now, 10, due) == 0);  // all in flight
  REQUIRE(sp.recordOutcome(ids[0], 0, Outcome::Deferred, now + 60'000, 1, "451 later").isOk());
  REQUIRE(sp.release(ids[1], now + 10).isOk());
  due.clear();
  CHECK(sp.takeDue(now + 9, 10, due) == 0);
  CHECK(sp.takeDue(now + 10, 10, due) == 1);
  CHECK(due[0] == ids[1]);
  due.clear();
  CHECK(sp.takeDue(now + 60'000, 10, due) == 1);
  CHECK(due[0] == ids[0]);
  auto v = sp.lookup(ids[0]);
  REQUIRE(v.isOk());
  CHECK(v.value().attempts() == 1);
  CHECK(v.value().nextAttemptMs() == now + 60'000);
}

TEST_CASE("maintain rebuilds the due heap once deferrals have left it mostly stale") {
  TempDir d;
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  auto ids = appendAll(sp, 10);
  REQUIRE(ids.size() == 10);
  for (int k = 0; k < 300; ++k)
    for (MessageId id : ids) REQUIRE(sp.recordOutcome(id, 0, Outcome::Deferred, 5000 + k, 1, "451").isOk());
  std::uint64_t before = sp.stats().indexMemoryBytes;
  REQUIRE(sp.maintain().isOk());
  CHECK(sp.stats().indexMemoryBytes + 3000 * sizeof(DueQueue::Item) / 2 < before);
  std::vector<MessageId> due;
  CHECK(sp.takeDue(5298, 100, due) == 0);
  CHECK(sp.takeDue(5299, 100, due) == 10);
}

TEST_CASE("a full batch commits without waiting out the delay, and flush does not wait for it either") {
  TempDir d;
  auto o = testOptions(d.path);
  o.maxCommitDelay = std::chrono::hours(1);  // a test that waited for it would never finish
  o.maxCommitBatch = 4;
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  std::vector<std::future<Status>> done;
  std::vector<std::shared_ptr<std::promise<Status>>> promises;
  for (int i = 0; i < 4; ++i) {
    auto p = std::make_shared<std::promise<Status>>();
    done.push_back(p->get_future());
    auto m = makeMessage(static_cast<std::uint64_t>(i));
    REQUIRE(sp.append(m.in(), [p](MessageId, const Status& st) { p->set_value(st); }).isOk());
  }
  for (auto& f : done) CHECK(f.get().isOk());
  auto m = makeMessage(9);
  bool called = false;
  REQUIRE(sp.append(m.in(), [&](MessageId, const Status& st) { called = st.isOk(); }).isOk());
  REQUIRE(sp.flush().isOk());
  CHECK(called);
  CHECK(sp.stats().liveMessages == 5);
}

TEST_CASE("many producers share group commits and every append is reported durable") {
  TempDir d;
  auto o = testOptions(d.path, 1 << 20);
  o.maxCommitDelay = std::chrono::microseconds(2000);
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  constexpr int kThreads = 8, kPer = 200;
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        auto m = makeMessage(static_cast<std::uint64_t>(t * kPer + i), 1, 1000);
        auto r = sp.append(m.in(), [&](MessageId, const Status& st) { (st ? ok : bad)++; });
        if (!r) bad++;
      }
    });
  for (auto& t : ts) t.join();
  REQUIRE(sp.flush().isOk());
  CHECK(ok == kThreads * kPer);
  CHECK(bad == 0);
  auto st = sp.stats();
  CHECK(st.liveMessages == kThreads * kPer);
  CHECK(st.commitBatches < st.appends);  // commits were shared
  CHECK(st.segments > 1);                // and rolled over segments
}

TEST_CASE("the message table agrees with a reference map under random inserts and erases") {
  MessageTable t;
  std::unordered_map<MessageId, std::uint32_t> ref;
  std::mt19937_64 rng(1234);
  for (int i = 0; i < 200000; ++i) {
    MessageId id = rng() % 5000 + 1;
    if (rng() % 3) {
      IndexEntry e;
      e.id = id;
      e.offset = static_cast<std::uint32_t>(i);
      auto [p, ins] = t.insert(e);
      if (ins) ref[id] = e.offset;
      CHECK(p->offset == ref[id]);
    } else {
      CHECK(t.erase(id) == (ref.erase(id) == 1));
    }
  }
  CHECK(t.size() == ref.size());
  for (auto& [id, off] : ref) {
    IndexEntry* p = t.find(id);
    REQUIRE(p != nullptr);
    CHECK(p->offset == off);
  }
  std::size_t n = 0;
  t.forEach([&](IndexEntry&) { ++n; });
  CHECK(n == ref.size());
}

namespace {

// IoOps that records the path of every file or directory it fsyncs.
struct SyncRecorder : IoOps {
  std::mutex mu;
  std::vector<std::string> synced;
  // Notes the descriptor's path, then syncs it.
  int fsync(int fd) override {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd), ec);
    {
      std::lock_guard<std::mutex> lk(mu);
      synced.push_back(p.string());
    }
    return IoOps::fsync(fd);
  }
};

}  // namespace

TEST_CASE("open syncs the parent directory of a spool directory it creates") {
  TempDir d;
  SyncRecorder io;
  auto o = testOptions(d.file("spool"));
  o.io = &io;
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  std::string parent = std::filesystem::canonical(d.path).string();
  std::lock_guard<std::mutex> lk(io.mu);
  CHECK(std::find(io.synced.begin(), io.synced.end(), parent) != io.synced.end());
}
