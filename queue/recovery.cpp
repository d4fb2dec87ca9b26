// recovery.cpp: opening a spool. Takes the directory lock, scans every segment (torn tails truncated, corrupt
// records skipped and logged, duplicate copies left by an interrupted compaction ignored), replays the newest
// complete journal, rebuilds the index and due heap, writes a fresh checkpoint and starts the committer. Segment
// scans run in parallel (one thread per core); everything that touches spool state runs on the opening thread.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include "queue/spool.hpp"

namespace sluice::queue {
namespace {

// Parses "seg-XXXXXXXX.dat"; returns false for other names.
bool parseSegmentName(const char* name, std::uint32_t& id) {
  unsigned v = 0;
  int n = 0;
  if (std::strlen(name) != 16 || std::sscanf(name, "seg-%8x.dat%n", &v, &n) != 1 || n != 16) return false;
  id = v;
  return true;
}

// Parses "journal-XXXXXXXXXXXXXXXX.log"; returns false for other names.
bool parseJournalName(const char* name, std::uint64_t& seq) {
  unsigned long long v = 0;
  int n = 0;
  if (std::strlen(name) != 28 || std::sscanf(name, "journal-%16llx.log%n", &v, &n) != 1 || n != 28) return false;
  seq = v;
  return true;
}

// The directory that holds dir ("." for a bare name).
std::string parentDir(const std::string& dir) {
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "a/b/" names b
  std::filesystem::path parent = p.parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::open(SpoolOptions opts) {
  if (opts.dir.empty()) return Status(kErrInvalid, "open spool: no directory given");
  if (opts.segmentBytes < 64 * 1024 || opts.segmentBytes > 0xFFFFFFFFull)
    return Status(kErrInvalid, "open spool: segment size must be between 64 KiB and 4 GiB");
  std::unique_ptr<Spool> s(new Spool(std::move(opts)));
  const std::string& dir = s->opts_.dir;
  if (::mkdir(dir.c_str(), 0755) == 0) {
    // The new directory's own entry must be durable too, or a power cut could take the whole spool with it.
    if (Status st = syncDir(s->io_, parentDir(dir)); !st) return st;
  } else if (errno != EEXIST) {
    return Status::fromErrno(errno, "create spool directory " + dir);
  }
  std::string lockPath = joinPath(dir, "LOCK");
  int fd = s->io_.open(lockPath.c_str(), O_RDWR | O_CREAT, 0644);
  if (fd < 0) return Status::fromErrno(errno, "open spool lock file " + lockPath);
  s->lock_ = Fd(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return Status(kErrLocked, "open spool " + dir + ": in use by another process (lock held on " + lockPath + ")");
    return Status::fromErrno(errno, "lock spool " + lockPath);
  }
  if (Status st = s->recover(); !st) return st;
  GroupCommitter::Options co;
  co.maxDelay = s->opts_.maxCommitDelay;
  co.maxBatch = s->opts_.maxCommitBatch;
  Spool* self = s.get();
  s->committer_ = std::make_unique<GroupCommitter>(
      co, [self](std::vector<CommitItem>& batch, const Status& st) { self->onBatch(batch, st); });
  return s;
}

Status Spool::recover() {
  std::vector<std::uint32_t> segIds;
  std::vector<std::uint64_t> journalSeqs;
  DIR* d = ::opendir(opts_.dir.c_str());
  if (!d) return Status::fromErrno(errno, "read spool directory " + opts_.dir);
  while (struct dirent* ent = ::readdir(d)) {
    std::uint32_t id;
    std::uint64_t seq;
    if (parseSegmentName(ent->d_name, id)) segIds.push_back(id);
    else if (parseJournalName(ent->d_name, seq)) journalSeqs.push_back(seq);
  }
  ::closedir(d);
  std::sort(segIds.begin(), segIds.end());
  std::sort(journalSeqs.begin(), journalSeqs.end());

  std::lock_guard<std::mutex> lk(mu_);
  recovering_ = true;
  if (Status st = recoverSegments(segIds); !st) return st;
  if (Status st = recoverJournal(journalSeqs); !st) return st;
  recovering_ = false;
  table_.forEach([&](IndexEntry& e) {
    if (!(e.flags & kEntryFinished)) due_.push(e.nextAttemptMs, e.id);
  });
  counters_.recoveredMessages = counters_.liveMessages;
  oldJournals_ = journalSeqs;
  if (Status st = checkpointLocked(); !st) return st;
  // Segments whose every message is final (per the now durable checkpoint) can go.
  std::vector<std::shared_ptr<Segment>> dead;
  for (const auto& [id, seg] : segments_)
    if (seg->liveMessages == 0) dead.push_back(seg);
  for (const auto& seg : dead)
    if (Status st = dropSegmentLocked(seg); !st) log(st.message());
  return Status();
}

namespace {

// One good record found by a scan, in the order found.
struct FoundRecord {
  std::uint64_t id;
  std::int64_t arrivalMs;
  std::uint32_t offset;
  std::uint32_t length;
  std::uint16_t rcptCount;
};

// What scanning one segment file found; produced on a worker thread, applied on the recovering thread.
struct ScannedSegment {
  Status error;                  // could not open or map: recovery stops
  std::shared_ptr<Segment> seg;  // null if the header was bad
  bool blankHeader = false;      // header never written (crash during creation)
  std::string headerProblem;
  std::vector<FoundRecord> records;
  std::vector<std::size_t> corruptOffsets;
  ScanSummary summary;
};

// Opens, validates and scans one segment (CRC of every record). Touches no spool state, so it can run in parallel.
ScannedSegment scanOne(IoOps& io, const std::string& dir, std::uint32_t id) {
  ScannedSegment out;
  auto opened = Segment::openExisting(io, dir, id);
  if (!opened) {
    out.error = opened.status();
    return out;
  }
  std::shared_ptr<Segment> seg = opened.value();
  auto bytes = seg->bytes();
  auto header = decodeSegmentHeader(bytes);
  if (!header || header.value().segmentId != id) {
    out.blankHeader = bytes.size() < kSegmentHeaderSize ||
                      std::all_of(bytes.begin(), bytes.begin() + kSegmentHeaderSize,
                                  [](std::byte b) { return b == std::byte{0}; });
    out.headerProblem = header ? std::string("header names another segment") : header.status().message();
    out.seg = seg;  // kept only for its path; not indexed
    return out;
  }
  out.summary = scanSegment(
      bytes,
      [&](std::size_t off, const RecordView& v) {
        out.records.push_back(FoundRecord{v.id, v.arrivalMs, static_cast<std::uint32_t>(off), v.length, v.rcptCount});
      },
      [&](std::size_t off) { out.corruptOffsets.push_back(off); });
  out.seg = seg;
  return out;
}

}  // namespace

Status Spool::recoverSegments(std::vector<std::uint32_t> ids) {
  // Scanning (reading and checksumming every byte) runs on up to one thread per core, a window of segments at a
  // time; results are applied strictly in segment order so the first copy of a duplicated id still wins.
  std::size_t window = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t base = 0; base < ids.size(); base += window) {
    std::vector<std::future<ScannedSegment>> work;
    for (std::size_t k = base; k < ids.size() && k < base + window; ++k)
      work.push_back(std::async(std::launch::async, scanOne, std::ref(io_), std::cref(opts_.dir), ids[k]));
    for (std::size_t k = 0; k < work.size(); ++k) {
      std::uint32_t id = ids[base + k];
      ScannedSegment sc = work[k].get();
      if (!sc.error) return sc.error;
      nextSegmentId_ = std::max(nextSegmentId_, id + 1);
      std::shared_ptr<Segment> seg = sc.seg;
      if (!sc.headerProblem.empty()) {
        // A crash while creating a segment leaves a header that was never synced; nothing in it was acknowledged
        // (the header is synced before the first append). Anything else is set aside for inspection, not deleted.
        if (sc.blankHeader) {
          log("segment " + seg->path() + ": unfinished creation, removed");
          io_.unlink(seg->path().c_str());
        } else {
          log("segment " + seg->path() + ": " + sc.headerProblem + "; renamed to .corrupt");
          io_.rename(seg->path().c_str(), (seg->path() + ".corrupt").c_str());
        }
        continue;
      }
      for (const FoundRecord& f : sc.records) {
        IndexEntry e;
        e.id = f.id;
        e.nextAttemptMs = f.arrivalMs;
        e.segment = id;
        e.offset = f.offset;
        e.length = f.length;
        e.rcptCount = f.rcptCount;
        e.pending = f.rcptCount;
        if (f.id >= nextId_) nextId_ = f.id + 1;
        auto [p, inserted] = table_.insert(e);
        if (!inserted) {  // the older copy wins; this one came from an interrupted compaction
          spareCopies_.emplace(f.id, std::make_pair(id, f.offset));
          continue;
        }
        seg->liveMessages += 1;
        seg->liveBytes += paddedLength(f.length);
        counters_.liveMessages += 1;
        counters_.pendingRecipients += f.rcptCount;
      }
      for (std::size_t off : sc.corruptOffsets) {
        log("segment " + seg->path() + ": skipped corrupt record at offset " + std::to_string(off));
        ++counters_.corruptRecordsSkipped;
      }
      if (sc.summary.tornTail) {
        log("segment " + seg->path() + ": torn tail at offset " + std::to_string(sc.summary.validEnd) + " truncated");
        ++counters_.tornTailsTruncated;
      }
      if (sc.summary.validEnd < seg->used()) {
        if (Status st = seg->truncateAndSeal(sc.summary.validEnd); !st) return st;
      }
      seg->releaseFd();  // never written again; the mapping is all readers need
      segments_[id] = seg;
    }
  }
  return Status();
}

Status Spool::recoverJournal(std::vector<std::uint64_t> seqs) {
  if (!seqs.empty()) lastJournalSeq_ = seqs.back();
  for (auto it = seqs.rbegin(); it != seqs.rend(); ++it) {
    std::string path = joinPath(opts_.dir, Journal::fileName(*it));
    auto probe = replayJournal(path, [](const JournalRecord&) {});
    if (!probe) {
      log(probe.status().message() + "; ignored");
      continue;
    }
    if (!probe.value().complete) {
      log("journal " + path + ": checkpoint never finished; ignored");
      continue;
    }
    auto r = replayJournal(path, [&](const JournalRecord& rec) { applyJournal(rec); });
    if (!r) return r.status();
    const JournalReplay& jr = r.value();
    if (jr.corrupt) log("journal " + path + ": skipped " + std::to_string(jr.corrupt) + " corrupt records");
    if (jr.tornTail) log("journal " + path + ": torn tail ignored");
    counters_.corruptRecordsSkipped += jr.corrupt;
    counters_.tornTailsTruncated += jr.tornTail ? 1 : 0;
    nextId_ = std::max({nextId_, jr.maxId + 1, jr.nextIdAtCheckpoint, jr.nextIdAtCreate});
    // Give back the journal's preallocated tail first, so the checkpoint that follows fits even on a disk that
    // filled up during the last run.
    int fd = io_.open(path.c_str(), O_RDWR, 0);
    if (fd >= 0) {
      Fd guard(fd);
      if (io_.ftruncate(fd, static_cast<off_t>(jr.validEnd)) != 0) log("journal " + path + ": could not trim tail");
    }
    return Status();
  }
  if (!seqs.empty()) log("no complete journal found; starting with no recorded outcomes");
  return Status();
}

}  // namespace sluice::queue
