// dsn_test_support.hpp: shared inputs and checks for the bounce tests: a typical DsnInput, a line-level
// well-formedness check, and a bridge to tests/delivery/dsn_parse.py (Python's email package as an independent
// parser). Test-only; single-threaded; failures are reported through doctest.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/delivery/bounce.hpp"

namespace sluice::test {

using delivery::DsnInput;
using delivery::DsnRecipient;
using Action = delivery::DsnRecipient::Action;

// 2026-11-30 00:53:20 UTC and ten minutes later.
inline constexpr std::int64_t kArrival = 1'796'000'000'000;
inline constexpr std::int64_t kNow = 1'796'000'600'000;

inline const std::string kOriginal =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.com\r\n"
    "Subject: quarterly figures\r\n"
    "Message-ID: <orig-1@example.org>\r\n"
    "\r\n"
    "Hello Bob,\r\n"
    "the figures are attached.\r\n";

// A failure for bob@example.com answered 550 5.1.1 by mx.example.com.
inline DsnRecipient failedRecipient(std::string addr = "bob@example.com") {
  DsnRecipient r;
  r.finalRecipient = std::move(addr);
  r.action = Action::Failed;
  r.status = "5.1.1";
  r.remoteMta = "mx.example.com";
  r.diagnostic = "550 5.1.1 no such user";
  r.lastAttemptMs = kNow - 10'000;
  return r;
}

// One failed recipient, RET=HDRS, no ENVID, original kOriginal (the caller keeps kOriginal alive: it is static).
inline DsnInput baseInput() {
  DsnInput in;
  in.reportingMta = "mta.example.net";
  in.arrivalMs = kArrival;
  in.nowMs = kNow;
  in.originalSender = "alice@example.org";
  in.recipients.push_back(failedRecipient());
  in.originalMessage = kOriginal;
  in.ret = DsnInput::Return::Headers;
  in.messageIdDomain = "example.net";
  in.uniqueId = 0x1234;
  return in;
}

// Splits at CRLF; the piece after the final CRLF (empty for a well-formed message) is not returned.
inline std::vector<std::string> crlfLines(std::string_view s) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t end = s.find("\r\n", pos);
    if (end == std::string_view::npos) break;
    lines.emplace_back(s.substr(pos, end - pos));
    pos = end + 2;
  }
  return lines;
}

// RFC 5322 §2.1.1 / §2.3: ends with CRLF, no bare CR or LF, no line over 998 octets, no NUL.
inline void checkWellFormed(const std::string& bytes) {
  REQUIRE(bytes.size() >= 2);
  CHECK(bytes.substr(bytes.size() - 2) == "\r\n");
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\r') CHECK((i + 1 < bytes.size() && bytes[i + 1] == '\n'));
    if (bytes[i] == '\n') CHECK((i > 0 && bytes[i - 1] == '\r'));
    CHECK(bytes[i] != '\0');
  }
  for (const std::string& l : crlfLines(bytes)) CHECK(l.size() <= 998);
}

// Lines of `bytes` that start with `prefix`.
inline std::vector<std::string> linesStartingWith(const std::string& bytes, std::string_view prefix) {
  std::vector<std::string> out;
  for (const std::string& l : crlfLines(bytes))
    if (l.compare(0, prefix.size(), prefix) == 0) out.push_back(l);
  return out;
}

// The top-level header section, up to and including its last CRLF.
inline std::string topHeaders(const std::string& bytes) { return bytes.substr(0, bytes.find("\r\n\r\n") + 2); }

// RFC 5322 2.2.3 unfolding: every CRLF followed by white space is removed (the white space stays).
inline std::string unfold(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "\r\n") == 0 && i + 2 < s.size() && (s[i + 2] == ' ' || s[i + 2] == '\t')) {
      ++i;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

// Lines joined with "|", so that a failed comparison prints readable text.
inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += (out.empty() ? "" : "|") + l;
  return out;
}

// Undoes dsn_parse.py's escaping (\\ \r \n \t).
inline std::string unescape(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      const char c = v[++i];
      out.push_back(c == 'r' ? '\r' : c == 'n' ? '\n' : c == 't' ? '\t' : c);
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

// Path of dsn_parse.py: from SLUICE_SOURCE_DIR (set by ctest), else next to this header.
inline std::string parserScript() {
  if (const char* src = std::getenv("SLUICE_SOURCE_DIR"); src != nullptr && *src != '\0')
    return std::string(src) + "/tests/delivery/dsn_parse.py";
  std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/dsn_parse.py";
}

// Runs Debian's /usr/bin/python3 on dsn_parse.py over `bytes`; returns its key -> value map (values unescaped).
// A parser failure leaves "ok" absent, and the test's REQUIRE on it fails with Python's output in the log.
inline std::map<std::string, std::string> parseWithPython(const std::string& bytes) {
  std::map<std::string, std::string> fields;
  char path[] = "/tmp/sluice-dsn-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    REQUIRE(n > 0);
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  const std::string cmd = "/usr/bin/python3 '" + parserScript() + "' '" + path + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string output;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = ::pclose(p);
  ::unlink(path);
  INFO("python output: " << output);
  CHECK(status == 0);
  std::size_t pos = 0;
  while (pos < output.size()) {
    std::size_t end = output.find('\n', pos);
    if (end == std::string::npos) end = output.size();
    const std::string line = output.substr(pos, end - pos);
    pos = end + 1;
    const std::size_t tab = line.find('\t');
    if (tab != std::string::npos) fields[line.substr(0, tab)] = unescape(line.substr(tab + 1));
  }
  REQUIRE(fields.count("ok") == 1);
  return fields;
}

}  // namespace sluice::test
