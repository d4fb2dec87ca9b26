// measure.hpp: what the benchmark measures besides its own counters: CPU time and peak RSS of this process and of
// a child (from /proc), a live progress line, and number formatting for the final table.
//
// Ownership: plain values; ProgressLine writes to the stream it is given. Threads: ProgressLine is used by one
// thread at a time (the benchmark's reporter); the other functions may be called from any thread.
// Errors: a /proc file that cannot be read gives -1 (shown as "n/a"), never an error.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace sluice::bench {

// User + system CPU seconds of this process so far (getrusage, every thread).
double selfCpuSeconds();
// User + system CPU seconds of process pid (from /proc/PID/stat); -1 when unreadable.
double processCpuSeconds(pid_t pid);
// Peak resident set size in KiB (VmHWM from /proc/PID/status; pid 0 = this process); -1 when unreadable.
long peakRssKb(pid_t pid = 0);
// Current anonymous resident memory (the heap: RssAnon from /proc/self/status) in KiB; -1 when unreadable.
long rssAnonKb();
// Resets this process's peak RSS to its current RSS (writes 5 to /proc/self/clear_refs); false when refused.
bool resetPeakRss();

// "12,345" style grouping for counts.
std::string groupDigits(std::uint64_t v);

// A progress line on a stream: rewritten in place with \r when the stream is a terminal (at most 5 times a
// second), else one line per second. finish() ends it with a newline (on a terminal).
class ProgressLine {
 public:
  ProgressLine(std::FILE* out, std::string label, std::uint64_t total, bool enabled);
  // Reports `done` of total at this moment; prints when due.
  void update(std::uint64_t done);
  // Prints the last state (when anything was printed) and ends the line.
  void finish(std::uint64_t done);

 private:
  void print(std::uint64_t done, double now);

  std::FILE* out_;
  std::string label_;
  std::uint64_t total_;
  bool enabled_;
  bool tty_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point start_;
  double lastPrint_ = -1;     // seconds since start_
  double rateMark_ = 0;       // seconds since start_ of the previous rate sample
  std::uint64_t rateDone_ = 0;
  double rateNow_ = 0;
};

}  // namespace sluice::bench
