// measure.cpp: CPU, peak RSS and the progress line (see measure.hpp).
#include "bench/driver/measure.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace sluice::bench {

double selfCpuSeconds() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double processCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may contain spaces: fields are counted after the last ')'.
  std::size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 1));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  // After ')': field 3 (state) is the first; utime and stime are fields 14 and 15.
  for (int field = 3; field <= 15 && (fields >> f); ++field) {
    if (field == 14) utime = std::stoull(f);
    if (field == 15) stime = std::stoull(f);
  }
  if (!fields) return -1;
  const long ticks = sysconf(_SC_CLK_TCK);
  return ticks > 0 ? static_cast<double>(utime + stime) / static_cast<double>(ticks) : -1;
}

long peakRssKb(pid_t pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

long rssAnonKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::strtol(line.c_str() + 8, nullptr, 10);
  }
  return -1;
}

bool resetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

std::string groupDigits(std::uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

ProgressLine::ProgressLine(std::FILE* out, std::string label, std::uint64_t total, bool enabled)
    : out_(out),
      label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressLine::update(std::uint64_t done) {
  if (!enabled_) return;
  const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double every = tty_ ? 0.2 : 1.0;
  if ((lastPrint_ < 0 ? now : now - lastPrint_) < every) return;  // the first line after one period
  if (now - rateMark_ >= 0.5 || rateMark_ == 0) {
    // The rate over the last half second or more (steadier than one tick).
    if (now > rateMark_) rateNow_ = static_cast<double>(done - rateDone_) / (now - rateMark_);
    rateMark_ = now;
    rateDone_ = done;
  }
  print(done, now);
}

void ProgressLine::print(std::uint64_t done, double now) {
  lastPrint_ = now;
  printed_ = true;
  const double pct = total_ ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 0;
  const double avg = now > 0 ? static_cast<double>(done) / now : 0;
  std::string eta = "--";
  if (avg > 0 && done < total_) {
    char b[32];
    std::snprintf(b, sizeof b, "%.0fs", static_cast<double>(total_ - done) / avg);
    eta = b;
  } else if (done >= total_) {
    eta = "0s";
  }
  std::fprintf(out_, "%s%s: %s / %s (%.1f%%)  %s msg/s now  ETA %s%s", tty_ ? "\r" : "", label_.c_str(),
               groupDigits(done).c_str(), groupDigits(total_).c_str(), pct,
               groupDigits(static_cast<std::uint64_t>(rateNow_)).c_str(), eta.c_str(), tty_ ? "   " : "\n");
  std::fflush(out_);
}

void ProgressLine::finish(std::uint64_t done) {
  if (!enabled_ || !printed_) return;
  const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (tty_) {
    print(done, now);
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

}  // namespace sluice::bench
