// queue_test_support.hpp: helpers shared by the queue tests: a scratch directory removed afterwards, message
// builders, a synchronous append, and a fault-injecting IoOps.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "queue/spool.hpp"

namespace qtest {

using namespace sluice::queue;

// A fresh directory under the system temp dir, deleted with its contents on destruction.
struct TempDir {
  std::string path;
  // Creates the directory.
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-queue-test.XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    path = p ? p : "";
  }
  // Removes the directory and everything in it.
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  // Path of a file inside.
  std::string file(const std::string& name) const { return path + "/" + name; }
};

// A message with owned strings; in() gives the MessageIn view.
struct OwnedMessage {
  std::string reversePath = "sender@example.org";
  std::string mailParams = "SIZE=100 BODY=8BITMIME";
  std::vector<std::string> addrs;
  std::vector<std::string> params;
  std::string body;
  std::uint8_t flags = 0;
  std::vector<RecipientIn> rcpts;
  // Builds the MessageIn view (valid while this object lives and is not modified).
  MessageIn in() {
    rcpts.clear();
    for (std::size_t i = 0; i < addrs.size(); ++i) rcpts.push_back({addrs[i], params[i]});
    MessageIn m;
    m.reversePath = reversePath;
    m.mailParams = mailParams;
    m.recipients = rcpts;
    m.body = body;
    m.flags = flags;
    return m;
  }
};

// Deterministic message number n with nrcpt recipients and a body of bodyLen bytes.
inline OwnedMessage makeMessage(std::uint64_t n, std::size_t nrcpt = 1, std::size_t bodyLen = 300) {
  OwnedMessage m;
  for (std::size_t i = 0; i < nrcpt; ++i) {
    m.addrs.push_back("rcpt" + std::to_string(i) + "-" + std::to_string(n) + "@example.net");
    m.params.push_back(i % 2 ? "NOTIFY=SUCCESS ORCPT=rfc822;x" : "");
  }
  m.body.resize(bodyLen);
  std::uint64_t x = n * 0x9E3779B97F4A7C15ull + 1;
  for (auto& c : m.body) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  m.flags = static_cast<std::uint8_t>(n);
  return m;
}

// Appends and waits for the durable callback; returns the id or the error.
inline Result<MessageId> appendSync(Spool& s, OwnedMessage& m) {
  auto done = std::make_shared<std::promise<Status>>();
  auto fut = done->get_future();
  auto r = s.append(m.in(), [done](MessageId, const Status& st) { done->set_value(st); });
  if (!r) return r.status();
  Status st = fut.get();
  if (!st) return st;
  return r.value();
}

// Appends makeMessage(base..base+n-1) without waiting for each, then waits for all; returns the ids, or an empty
// vector if any append or its sync failed.
inline std::vector<MessageId> appendAll(Spool& s, int n, int base = 0, std::size_t nrcpt = 1, std::size_t bodyLen = 300) {
  std::vector<MessageId> ids;
  auto failures = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < n; ++i) {
    auto m = makeMessage(static_cast<std::uint64_t>(base + i), nrcpt, bodyLen);
    auto r = s.append(m.in(), [failures](MessageId, const Status& st) {
      if (!st) ++*failures;
    });
    if (!r) return {};
    ids.push_back(r.value());
  }
  if (!s.flush() || *failures != 0) return {};
  return ids;
}

// Options for a test spool in dir with small segments and a short commit delay.
inline SpoolOptions testOptions(const std::string& dir, std::uint64_t segBytes = 256 * 1024) {
  SpoolOptions o;
  o.dir = dir;
  o.segmentBytes = segBytes;
  o.maxCommitDelay = std::chrono::microseconds(200);
  o.log = [](std::string_view) {};
  return o;
}

// IoOps that fails chosen calls with a chosen errno while armed.
struct FaultyIo : IoOps {
  std::atomic<int> syncErr{0};      // errno for fdatasync
  std::atomic<int> allocErr{0};     // errno for fallocate
  std::atomic<int> writeErr{0};     // errno for pwritev
  std::atomic<int> createErr{0};    // errno for open with O_CREAT
  std::atomic<int> syncFailures{0};
  // Fails creating opens with createErr while it is set.
  int open(const char* path, int flags, mode_t mode) override {
    if ((flags & O_CREAT) && createErr) {
      errno = createErr;
      return -1;
    }
    return IoOps::open(path, flags, mode);
  }
  std::atomic<bool> shortWriteThenErr{false};  // next write stores half its first buffer, the one after fails
  // Writes half then arms ENOSPC when shortWriteThenErr is set; fails with writeErr while it is set.
  ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t off) override {
    if (shortWriteThenErr.exchange(false)) {
      writeErr = ENOSPC;
      return ::pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, off);
    }
    if (writeErr) {
      errno = writeErr;
      return -1;
    }
    return IoOps::pwritev(fd, iov, n, off);
  }
  // Fails (and counts the failure) with syncErr while it is set.
  int fdatasync(int fd) override {
    if (syncErr) {
      ++syncFailures;
      errno = syncErr;
      return -1;
    }
    return IoOps::fdatasync(fd);
  }
  // Fails with allocErr while it is set.
  int fallocate(int fd, off_t off, off_t len) override {
    if (allocErr) {
      errno = allocErr;
      return -1;
    }
    return IoOps::fallocate(fd, off, len);
  }
};

// Reads a whole file.
inline std::string readFile(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

// Overwrites bytes of a file at an offset.
inline void patchFile(const std::string& path, off_t off, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) return;
  if (::pwrite(fd, bytes.data(), bytes.size(), off) < 0) {
  }
  ::close(fd);
}

// Size of a file (-1 if missing).
inline long long fileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

}  // namespace qtest
