// peers_mime.cpp: 8-bit content against a real 7-bit receiver: a private Postfix instance whose smtpd does not
// offer 8BITMIME (nor CHUNKING or PIPELINING, so the converted body also travels the dot-stuffed DATA path).
// Messages from the conversion corpus (tests/mime/corpus) are queued, converted by the engine per RFC 6152 §3 and
// esmtp-rules §4, delivered into Postfix's Maildir, and each file Postfix wrote is checked with check_mime.py
// (Python's email package: the same MIME tree, the same decoded content part for part, 7-bit only, every line at
// most 998 octets). The same messages to the 8BITMIME listener go natively, byte for byte.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/sink/sink.hpp"
#include "tests/engine/dsn_support.hpp"
#include "tests/engine/harness.hpp"
#include "tests/interop/peers.hpp"

namespace sluice::enginetest {
namespace {

using interop::PostfixDelivery;
using interop::PostfixPeer;

const Millis kWait{60000};

std::filesystem::path source() {
  const char* s = std::getenv("SLUICE_SOURCE_DIR");
  return s ? std::filesystem::path(s) : std::filesystem::path(".");
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

std::string lfToCrlf(const std::string& s) {
  std::string o;
  o.reserve(s.size() + s.size() / 40);
  for (char c : s) {
    if (c == '\n') o += '\r';
    o += c;
  }
  return o;
}

// The Subject of a corpus message (to find its delivery in the Maildir).
std::string subjectOf(const std::string& message) {
  std::size_t at = message.find("\nSubject: ");
  if (at == std::string::npos) return {};
  at += 10;
  std::size_t end = message.find_first_of("\r\n", at);
  return message.substr(at, end - at);
}

// Runs the independent checker on original vs delivered; returns "" when they match, else its output.
std::string check(const std::filesystem::path& dir, const std::string& name, const std::string& delivered,
                  bool sevenBit) {
  const auto out = dir / ("delivered-" + name);
  writeFile(out, delivered);
  std::vector<std::string> argv = {"/usr/bin/python3", (source() / "tests/mime/check_mime.py").string()};
  if (sevenBit) argv.push_back("--seven-bit");
  argv.push_back((source() / "tests/mime/corpus" / name).string());
  argv.push_back(out.string());
  const interop::RunResult r = interop::runCommand(argv, Millis(60000));
  return r.status == 0 ? std::string() : (r.output.empty() ? std::string("checker failed") : r.output);
}

// Corpus files with 8-bit or binary content that a 7-bit peer must receive converted, and two it must not get.
const std::vector<std::string> kConverted = {
    "02-utf8-french.eml",         "03-utf8-cyrillic.eml",       "06-alternative-8bit.eml",
    "07-mixed-pdf-binary.eml",    "09-nested-mixed-related-alt.eml", "10-rfc822-8bit-body.eml",
    "16-long-line-5000.eml",      "19-dot-lines-8bit.eml",      "20-qp-equals-trailing-space.eml",
    "22-nul-in-text.eml",         "25-preamble-epilogue-8bit.eml",  "36-octet-stream-8bit.eml"};
const std::vector<std::string> kRefused = {"13-partial-8bit.eml", "38-external-body-8bit.eml"};

}  // namespace

TEST_CASE("engine vs Postfix without 8BITMIME: corpus messages converted to 7-bit MIME, content intact "
          "(RFC 6152 §3, RFC 2045 §6.7-6.8, RFC 2046 §5.1; esmtp-rules §4, edge case 14)") {
  PostfixPeer pf;
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  EngineHarness h(testConfig(loopback(pf.plainPort())));
  std::map<std::string, std::string> bySubject;  // subject -> corpus file
  for (const auto& name : kConverted) {
    const std::string msg = readFile(source() / "tests/mime/corpus" / name);
    REQUIRE_FALSE(msg.empty());
    const std::string subject = subjectOf(msg);
    REQUIRE_MESSAGE(!subject.empty(), name);
    REQUIRE_MESSAGE(bySubject.emplace(subject, name).second, "subjects must be unique: " << name);
    h.add({"sender@x.test", {"rcpt@y.test"}, msg, {}});
  }
  for (const auto& name : kRefused) {
    h.add({"sender@x.test", {"refused@y.test"}, readFile(source() / "tests/mime/corpus" / name), {}});
  }

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  // Every converted message delivered; each refused one bounced 554 5.6.3 before MAIL, with its bounce delivered.
  CHECK(r.progress.transactionsConverted == kConverted.size());
  CHECK(r.progress.transactions8bit == 0);
  std::size_t converted = 0, refused = 0;
  for (const LogLine& l : r.log) {
    INFO(l.raw);
    if (l.rcpt == "rcpt@y.test") {
      CHECK(l.status == "delivered");
      CHECK(l.body == "converted");
      CHECK_FALSE(l.chunking);
      ++converted;
    } else if (l.rcpt == "refused@y.test") {
      CHECK(l.status == "bounced");
      CHECK(l.code == 554);
      CHECK(l.enhanced == "5.6.3");
      CHECK(l.synthesized);
      ++refused;
    }
  }
  CHECK(converted == kConverted.size());
  CHECK(refused == kRefused.size());

  // The two bounces also reach Postfix (the "*" route); the originals never do.
  const auto got = pf.waitDeliveries(kConverted.size() + kRefused.size(), kWait);
  REQUIRE(got.size() == kConverted.size() + kRefused.size());
  std::set<std::string> seen;
  for (const PostfixDelivery& d : got) {
    if (d.message.find("multipart/report") != std::string::npos) continue;  // a bounce
    const std::string subject = subjectOf(d.message);
    auto it = bySubject.find(subject);
    REQUIRE_MESSAGE(it != bySubject.end(), "unexpected delivery with subject '" << subject << "'");
    INFO("corpus file " << it->second);
    seen.insert(it->second);
    CHECK(check(h.dir(), it->second, lfToCrlf(d.message), true) == "");
  }
  CHECK(seen.size() == kConverted.size());
}

TEST_CASE("engine vs Postfix with 8BITMIME: the same corpus messages go natively, byte for byte (RFC 6152 §2)") {
  PostfixPeer pf;
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  EngineHarness h(testConfig(loopback(pf.noChunkingPort())));
  std::map<std::string, std::string> bySubject;
  // The binary ones (NUL, lines over 998) need BINARYMIME, which Postfix does not offer: they are converted to
  // an 8-bit-safe variant (base64 where needed) even for this peer.
  const std::set<std::string> binary = {"07-mixed-pdf-binary.eml", "16-long-line-5000.eml", "22-nul-in-text.eml"};
  for (const auto& name : kConverted) {
    const std::string msg = readFile(source() / "tests/mime/corpus" / name);
    bySubject.emplace(subjectOf(msg), name);
    h.add({"sender@x.test", {"rcpt@y.test"}, msg, {}});
  }
  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.progress.delivered == kConverted.size());
  CHECK(r.progress.transactionsConverted == binary.size());
  CHECK(r.progress.transactions8bit == kConverted.size() - binary.size());  // sent natively
  const auto got = pf.waitDeliveries(kConverted.size(), kWait);
  REQUIRE(got.size() == kConverted.size());
  for (const PostfixDelivery& d : got) {
    auto it = bySubject.find(subjectOf(d.message));
    REQUIRE(it != bySubject.end());
    INFO("corpus file " << it->second);
    if (binary.count(it->second)) {
      CHECK(check(h.dir(), it->second, lfToCrlf(d.message), false) == "");
    } else {
      // Exactly the queued bytes (the corpus file after intake's CRLF normalisation).
      std::string queued = readFile(source() / "tests/mime/corpus" / it->second);
      CHECK(check(h.dir(), it->second, lfToCrlf(d.message), false) == "");
      CHECK(interop::crlfToLf(queued) == d.message);
    }
  }
}

}  // namespace sluice::enginetest

namespace sluice::enginetest {

// Non-MIME 8-bit content under `mime.non_mime_8bit: wrap`: the real 7-bit peer (smtp-sink -8) gets it wrapped as
// text/plain; charset=utf-8 in quoted-printable, and the checker finds the same text (esmtp-rules §4).
TEST_CASE("engine vs smtp-sink -8 with the wrap policy: a non-MIME 8-bit message arrives wrapped in QP") {
  interop::SmtpSink sink({"-8"});
  REQUIRE(sink.running());
  ops::EngineConfig cfg = testConfig(loopback(sink.port()));
  cfg.wrapNonMime8bit = true;
  EngineHarness h(cfg);
  const std::string name = "30-nonmime-8bit.eml";
  h.add({"sender@x.test", {"rcpt@y.test"}, readFile(source() / "tests/mime/corpus" / name), {}});
  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.progress.delivered == 1);
  CHECK(r.progress.transactionsConverted == 1);
  const auto dumps = sink.waitDumps(1, kWait);
  REQUIRE(dumps.size() == 1);
  CHECK(dumps[0].mailArgs.find("BODY=") == std::string::npos);  // never BODY= to a peer without 8BITMIME
  CHECK(dumps[0].message.find("Content-Transfer-Encoding: quoted-printable") != std::string::npos);
  CHECK(dumps[0].message.find("charset=utf-8") != std::string::npos);
  CHECK(check(h.dir(), name, lfToCrlf(dumps[0].message), true) == "");
}

}  // namespace sluice::enginetest

namespace sluice::enginetest {

// RFC 3030 §3 / esmtp-rules §3: binary content (NUL, lines over 998) goes with BODY=BINARYMIME over BDAT to a peer
// offering BINARYMIME, byte for byte; to the same peer without CHUNKING (so DATA) it is made 8-bit safe instead,
// and BODY=BINARYMIME is never written in front of DATA.
TEST_CASE("engine vs sluice sink --binarymime: binary content natively over BDAT, converted over DATA") {
  const std::vector<std::string> files = {"07-mixed-pdf-binary.eml", "16-long-line-5000.eml", "22-nul-in-text.eml"};
  for (bool chunking : {true, false}) {
    CAPTURE(chunking);
    sink::SinkOptions o;
    o.binaryMime = true;
    o.chunking = chunking;
    dsntest::SluiceSink peer(o);
    REQUIRE_MESSAGE(peer.started(), peer.error());
    EngineHarness h(testConfig(peer.endpoint()));
    std::map<std::string, std::string> bySubject;
    for (const auto& name : files) {
      const std::string msg = readFile(source() / "tests/mime/corpus" / name);
      bySubject.emplace(subjectOf(msg), name);
      h.add({"sender@x.test", {"rcpt@y.test"}, msg, {}});
    }
    const RunReport r = h.run();
    REQUIRE_MESSAGE(r.created, r.createError);
    CHECK(r.progress.delivered == files.size());
    CHECK(r.progress.transactionsConverted == (chunking ? 0 : files.size()));
    for (const LogLine& l : r.log) {
      INFO(l.raw);
      CHECK(l.body == (chunking ? "binarymime" : "converted"));
      CHECK(l.chunking == chunking);
    }
    const auto stored = peer.messages();
    REQUIRE(stored.size() == files.size());
    for (const auto& s : stored) {
      auto it = bySubject.find(subjectOf(s.body));
      REQUIRE(it != bySubject.end());
      INFO(it->second << ": " << s.envelope);
      if (chunking) {
        CHECK(s.envelope.find("body=BINARYMIME") != std::string::npos);
        std::string queued = readFile(source() / "tests/mime/corpus" / it->second);
        CHECK(interop::crlfToLf(s.body) == interop::crlfToLf(queued));  // byte for byte, long lines and NULs kept
      } else {
        CHECK(s.envelope.find("BINARYMIME") == std::string::npos);
        CHECK(check(h.dir(), it->second, s.body, false) == "");
        CHECK(s.body.find('\0') == std::string::npos);
      }
    }
  }
}

}  // namespace sluice::enginetest
