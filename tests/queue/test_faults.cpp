// test_faults.cpp: back-pressure and faults. EIO on sync fails the waiting callbacks and turns the spool read-only
// (never retried, never reported as success); ENOSPC while preallocating a segment or growing the journal is
// refused with a clear error and clears once space returns; a read-only directory and a second process holding
// the lock make open() fail clearly; a segment that cannot be deleted keeps its messages finished across a
// restart. Faults come from an injected IoOps; where the test runs as root, a real tiny tmpfs (ENOSPC) and a real
// read-only bind mount are exercised too, otherwise those two cases are skipped.
#include <doctest/doctest.h>

#include <sys/mount.h>
#include <sys/wait.h>

#include "queue_test_support.hpp"

using namespace sluice::queue;
using namespace qtest;

namespace {

// Mounts something for the test's lifetime if the process may; mounted is false otherwise.
struct ScopedMount {
  std::string target;
  bool mounted = false;
  // Mounts a tmpfs of the given size (e.g. "2m") on target.
  static ScopedMount tmpfs(const std::string& target, const std::string& size) {
    ScopedMount m;
    m.target = target;
    m.mounted = ::mount("tmpfs", target.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    return m;
  }
  // Bind-mounts source on target read-only.
  static ScopedMount readOnlyBind(const std::string& source, const std::string& target) {
    ScopedMount m;
    m.target = target;
    if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) return m;
    m.mounted = true;
    if (::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      ::umount(target.c_str());
      m.mounted = false;
    }
    return m;
  }
  ScopedMount() = default;
  ScopedMount(ScopedMount&& o) noexcept : target(std::move(o.target)), mounted(o.mounted) { o.mounted = false; }
  ~ScopedMount() {
    if (mounted) ::umount2(target.c_str(), MNT_DETACH);
  }
};

}  // namespace

TEST_CASE("EIO on sync fails the waiting callbacks, never acknowledges, and makes the spool read-only") {
  TempDir d;
  FaultyIo io;
  auto o = testOptions(d.path);
  o.io = &io;
  std::vector<MessageId> acked;
  {
    auto s = Spool::open(o);
    REQUIRE(s.isOk());
    Spool& sp = *s.value();
    acked = appendAll(sp, 5);
    REQUIRE(acked.size() == 5);
    io.syncErr = EIO;
    std::atomic<int> ok{0}, failed{0};
    for (int i = 0; i < 5; ++i) {
      auto m = makeMessage(static_cast<std::uint64_t>(100 + i));
      auto r = sp.append(m.in(), [&](MessageId, const Status& st) { (st ? ok : failed)++; });
      if (!r) failed++;
    }
    CHECK_FALSE(sp.flush().isOk());
    CHECK(ok == 0);
    CHECK(failed == 5);
    CHECK(sp.health().state == Health::Failed);
    CHECK(sp.health().reason.find("Input/output error") != std::string::npos);
    // Even once the disk "recovers", the spool does not retry the sync and refuses writes.
    io.syncErr = 0;
    auto m = makeMessage(200);
    CHECK(sp.append(m.in(), {}).status().code() == kErrUnhealthy);
    CHECK(sp.recordOutcome(acked[0], 0, Outcome::Delivered, 0, 1, "250").code() == kErrUnhealthy);
    CHECK(io.syncFailures >= 1);
    CHECK(sp.lookup(acked[0]).isOk());  // reads still work
  }
  // A restart recovers everything that was acknowledged.
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  for (std::size_t i = 0; i < acked.size(); ++i) {
    auto v = s.value()->lookup(acked[i]);
    REQUIRE(v.isOk());
    CHECK(v.value().body() == makeMessage(i).body);
  }
}

TEST_CASE("a sync that failed in maintain() is not retried by the committer and reported as durable") {
  TempDir d;
  FaultyIo io;
  auto o = testOptions(d.path);
  o.maxCommitDelay = std::chrono::seconds(30);  // the outcome's group commit waits for the flush below
  o.io = &io;
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  auto m = makeMessage(1);
  auto id = sp.append(m.in(), [](MessageId, const Status&) {});
  REQUIRE(id.isOk());
  REQUIRE(sp.flush().isOk());  // makes the append durable now instead of after the 30 s delay
  auto done = std::make_shared<std::promise<Status>>();
  auto fut = done->get_future();
  REQUIRE(sp.recordOutcome(id.value(), 0, Outcome::Delivered, 0, 1, "250",
                           [done](MessageId, const Status& st) { done->set_value(st); })
              .isOk());
  // maintain() syncs the journal first; that sync fails (the kernel may have dropped the outcome's dirty pages).
  io.syncErr = EIO;
  CHECK_FALSE(sp.maintain().isOk());
  CHECK(sp.health().state == Health::Failed);
  // The disk "recovers": a second fdatasync of the same file would now succeed, but must not be believed.
  io.syncErr = 0;
  CHECK_FALSE(sp.flush().isOk());
  Status st = fut.get();
  CHECK_FALSE(st.isOk());
}

TEST_CASE("ENOSPC while preallocating a segment refuses the append and clears when space returns") {
  TempDir d;
  FaultyIo io;
  auto o = testOptions(d.path, 64 * 1024);
  o.io = &io;
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  io.allocErr = ENOSPC;
  auto m = makeMessage(1);
  bool called = false;
  auto r = sp.append(m.in(), [&](MessageId, const Status&) { called = true; });
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == ENOSPC);
  CHECK(r.status().message().find("preallocate segment") != std::string::npos);
  CHECK(sp.health().state == Health::DiskFull);
  CHECK(fileSize(d.file(Segment::fileName(1))) == -1);  // the half-made file is gone
  io.allocErr = 0;
  auto id = appendSync(sp, m);
  REQUIRE(id.isOk());
  CHECK_FALSE(called);
  CHECK(sp.health().state == Health::Ok);
}

TEST_CASE("a write cut short by ENOSPC is overwritten by the next append; EIO on write fails the spool") {
  TempDir d;
  FaultyIo io;
  auto o = testOptions(d.path);
  o.io = &io;
  std::vector<MessageId> acked;
  {
    auto s = Spool::open(o);
    REQUIRE(s.isOk());
    Spool& sp = *s.value();
    acked = appendAll(sp, 3);
    REQUIRE(acked.size() == 3);
    io.shortWriteThenErr = true;
    auto m = makeMessage(50);
    auto r = sp.append(m.in(), {});
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == ENOSPC);
    CHECK(sp.health().state == Health::DiskFull);
    io.writeErr = 0;
    auto more = appendAll(sp, 2, 3);
    REQUIRE(more.size() == 2);
    acked.insert(acked.end(), more.begin(), more.end());
    CHECK(sp.health().state == Health::Ok);
    io.writeErr = EIO;
    CHECK(sp.append(m.in(), {}).status().code() == EIO);
    CHECK(sp.health().state == Health::Failed);
    io.writeErr = 0;
    CHECK(sp.append(m.in(), {}).status().code() == kErrUnhealthy);
  }
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  CHECK(s.value()->stats().liveMessages == 5);
  CHECK(s.value()->stats().corruptRecordsSkipped == 0);
  for (std::size_t i = 0; i < acked.size(); ++i) {
    auto v = s.value()->lookup(acked[i]);
    REQUIRE(v.isOk());
    CHECK(v.value().body() == makeMessage(i).body);
  }
}

TEST_CASE("ENOSPC growing the journal refuses the outcome and leaves state unchanged") {
  TempDir d;
  FaultyIo io;
  auto o = testOptions(d.path);
  o.io = &io;
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  Spool& sp = *s.value();
  auto m = makeMessage(1);
  auto id = appendSync(sp, m);
  REQUIRE(id.isOk());
  // Fill the journal's first preallocated chunk, then make the next chunk fail.
  std::string reply(500, 'x');
  io.allocErr = ENOSPC;
  Status st;
  for (int i = 0; i < 20000 && st; ++i) st = sp.recordOutcome(id.value(), 0, Outcome::Deferred, i, 1, reply);
  CHECK(st.code() == ENOSPC);
  CHECK(sp.health().state == Health::DiskFull);
  CHECK(sp.lookup(id.value()).isOk());
  io.allocErr = 0;
  CHECK(sp.recordOutcome(id.value(), 0, Outcome::Delivered, 0, 2, "250").isOk());
  CHECK(sp.lookup(id.value()).status().code() == kErrNotFound);
}

TEST_CASE("a real full filesystem (tiny tmpfs) is back-pressure, and every acknowledged message survives") {
  TempDir d;
  auto mnt = ScopedMount::tmpfs(d.path, "4m");
  if (!mnt.mounted) {
    MESSAGE("skipped: cannot mount a tmpfs here (not root); the injected-fault tests cover ENOSPC");
    return;
  }
  std::vector<MessageId> acked;
  Status refusal;
  {
    auto s = Spool::open(testOptions(d.path + "/spool", 256 * 1024));
    REQUIRE_MESSAGE(s.isOk(), s.status().message());
    for (int i = 0; i < 10000; ++i) {
      auto m = makeMessage(static_cast<std::uint64_t>(i), 1, 4000);
      auto r = appendSync(*s.value(), m);
      if (!r) {
        refusal = r.status();
        break;
      }
      acked.push_back(r.value());
    }
    CHECK(refusal.code() == ENOSPC);
    CHECK(s.value()->health().state == Health::DiskFull);
  }
  CHECK(acked.size() > 100);
  auto s = Spool::open(testOptions(d.path + "/spool", 256 * 1024));
  REQUIRE_MESSAGE(s.isOk(), s.status().message());
  for (std::size_t i = 0; i < acked.size(); ++i) {
    auto v = s.value()->lookup(acked[i]);
    REQUIRE(v.isOk());
    CHECK(v.value().body() == makeMessage(i, 1, 4000).body);
  }
}

TEST_CASE("a read-only spool directory fails open with a clear error") {
  TempDir d;
  FaultyIo io;
  io.createErr = EROFS;  // injected: what a read-only filesystem returns for a create
  auto o = testOptions(d.path);
  o.io = &io;
  auto s = Spool::open(o);
  REQUIRE_FALSE(s.isOk());
  CHECK(s.status().code() == EROFS);
  CHECK(s.status().message().find("LOCK") != std::string::npos);
  CHECK(s.status().message().find("Read-only file system") != std::string::npos);
}

TEST_CASE("a real read-only bind mount over an existing spool fails open clearly and loses nothing") {
  TempDir d, ro;
  std::vector<MessageId> ids;
  {
    auto s = Spool::open(testOptions(d.path));
    REQUIRE(s.isOk());
    ids = appendAll(*s.value(), 3);
  }
  {
    auto mnt = ScopedMount::readOnlyBind(d.path, ro.path);
    if (!mnt.mounted) {
      MESSAGE("skipped: cannot bind-mount read-only here (not root); the injected EROFS test covers it");
      return;
    }
    auto s = Spool::open(testOptions(ro.path));
    REQUIRE_FALSE(s.isOk());
    CHECK(s.status().code() == EROFS);
  }
  auto s = Spool::open(testOptions(d.path));
  REQUIRE(s.isOk());
  for (MessageId id : ids) CHECK(s.value()->lookup(id).isOk());
}

TEST_CASE("a second process cannot open a spool that is in use") {
  TempDir d;
  int toChild[2], toParent[2];
  REQUIRE(::pipe(toChild) == 0);
  REQUIRE(::pipe(toParent) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto s = Spool::open(testOptions(d.path));
    char c = s.isOk() ? 'o' : 'e';
    if (::write(toParent[1], &c, 1) != 1) ::_exit(2);
    if (::read(toChild[0], &c, 1) != 1) ::_exit(3);  // hold the spool until told to go
    ::_exit(0);
  }
  char c = 0;
  REQUIRE(::read(toParent[0], &c, 1) == 1);
  REQUIRE(c == 'o');
  auto second = Spool::open(testOptions(d.path));
  REQUIRE_FALSE(second.isOk());
  CHECK(second.status().code() == kErrLocked);
  CHECK(second.status().message().find("in use by another process") != std::string::npos);
  REQUIRE(::write(toChild[1], "x", 1) == 1);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  auto third = Spool::open(testOptions(d.path));
  CHECK(third.isOk());
  for (int fd : {toChild[0], toChild[1], toParent[0], toParent[1]}) ::close(fd);
}

TEST_CASE("a segment that could not be deleted keeps its finished messages finished across a restart") {
  // Refuses to delete segment files while armed.
  struct NoUnlinkIo : IoOps {
    std::atomic<bool> refuse{false};
    // Fails with EACCES for segment files while refuse is set.
    int unlink(const char* path) override {
      if (refuse && std::string(path).find("seg-") != std::string::npos) {
        errno = EACCES;
        return -1;
      }
      return IoOps::unlink(path);
    }
  };
  TempDir d;
  NoUnlinkIo io;
  auto o = testOptions(d.path, 64 * 1024);
  o.io = &io;
  o.checkpointJournalBytes = 1;  // every maintain() checkpoints
  std::vector<MessageId> ids;
  {
    auto s = Spool::open(o);
    REQUIRE(s.isOk());
    Spool& sp = *s.value();
    ids = appendAll(sp, 80, 0, 1, 1000);  // more than one segment: the first is sealed
    REQUIRE(ids.size() == 80);
    io.refuse = true;
    // Deliver everything, then fail to delete segment 1; the checkpoint that follows must still know.
    for (MessageId id : ids) REQUIRE(sp.recordOutcome(id, 0, Outcome::Delivered, 0, 1, "250").isOk());
    REQUIRE(sp.flush().isOk());
    CHECK(sp.maintain().code() == EACCES);
    CHECK(fileSize(d.file(Segment::fileName(1))) > 0);
    CHECK(sp.lookup(ids[0]).status().code() == kErrNotFound);
  }
  io.refuse = false;
  auto s = Spool::open(o);
  REQUIRE(s.isOk());
  for (MessageId id : ids) CHECK(s.value()->lookup(id).status().code() == kErrNotFound);
  CHECK(s.value()->stats().liveMessages == 0);
}
