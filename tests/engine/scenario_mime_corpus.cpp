// scenario_mime_corpus.cpp: the whole MIME corpus (tests/mime/corpus/, one message each, one recipient) through
// the delivery engine to four receivers, judged by corpus/EXPECTED and by the independent checker
// tests/mime/check_mime.py (Python's email package):
//   1. `sluice sink --maildir` (in-process Sink) with 8BITMIME (no BINARYMIME: the sink never offers it), BDAT;
//   2. the same with --no-8bitmime: a 7-bit peer;
//   3. Postfix smtp-sink -8: a real 7-bit peer, DATA only (no CHUNKING);
//   4. Postfix smtp-sink without -8: an 8BITMIME peer, DATA only.
// None of them offers SMTPUTF8 (the sinks run with --no-smtputf8; smtp-sink has none), which is what EXPECTED
// assumes; a fifth, small run checks the one SMTPUTF8 case (a raw UTF-8 Subject) against a sink that offers it.
// For every message: exactly one delivery log line for its recipient, delivered or bounced as EXPECTED says (a
// bounce with EXPECTED's enhanced code, 5xx); a delivered one is on the receiver, with BODY=8BITMIME declared only
// to an 8BITMIME peer, and its stored bytes pass check_mime.py: --expect-identical when the peer could take it as
// it was (7-bit clean, or 8-bit without NUL or long lines for an 8BITMIME peer), else --seven-bit for a 7-bit
// peer. Every bounce's DSN reaches the sender (routed to the same receiver). Spec: esmtp-rules.md §4, §11 edge
// cases 11-14; RFC 6152 §3, RFC 6531 §3.2.
//
// Ownership: each run owns its receiver (stopped on destruction), its spool (EngineHarness) and temp dirs.
// Threads: the engine's loop and the sink's worker; the test thread reads files after the drained run.
// Errors: doctest assertions; a failed check shows the checker's output and the receiver's file.
#include <doctest/doctest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/sink/sink.hpp"
#include "engine/mime/mime.hpp"
#include "tests/engine/harness.hpp"
#include "tests/mime/corpus_support.hpp"

namespace sluice::enginetest {
namespace {

namespace fs = std::filesystem;

const Millis kWait{30000};  // a hang guard for files to appear, not an assertion on speed

using mimetest::corpusDir;
using mimetest::runChecker;
using mimetest::sourceDir;

// One corpus message and what EXPECTED says about it.
struct CorpusMessage {
  std::string file;       // "07-mixed-pdf-binary.eml"
  std::string rcpt;       // "m07@corpus.test"
  std::string expect7;    // for a 7-bit peer: "deliver" or "refuse:X.Y.Z"
  std::string expect8;    // for an 8BITMIME peer
  std::uint8_t flags = 0; // mime::classify() of the normalised message
};

std::vector<CorpusMessage> loadCorpus() {
  std::vector<CorpusMessage> out;
  std::istringstream in(interop::readFile(corpusDir() / "EXPECTED"));
  REQUIRE_MESSAGE(in.str().size() > 0, "cannot read " << (corpusDir() / "EXPECTED").string());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    CorpusMessage m;
    f >> m.file >> m.expect7 >> m.expect8;
    REQUIRE_MESSAGE(!m.expect8.empty(), "bad EXPECTED line: " << line);
    m.rcpt = "m" + m.file.substr(0, 2) + "@corpus.test";
    std::string body = interop::readFile(corpusDir() / m.file);
    delivery::normaliseLineEndings(body);  // as intake does, before classifying
    mime::foldLongHeaderLines(body);
    m.flags = mime::classify(body);
    out.push_back(std::move(m));
  }
  REQUIRE(out.size() >= 34);
  return out;
}

enum class Receiver { SluiceSink, SmtpSink };

struct PeerSpec {
  const char* name;
  Receiver receiver;
  bool eightBitMime;
  bool smtpUtf8 = false;
};

// A started receiver: the address to route to and where its stored messages appear.
class Peer {
 public:
  explicit Peer(const PeerSpec& spec) : spec_(spec), dir_("sluice-mimecorpus.") {
    if (spec.receiver == Receiver::SluiceSink) {
      sink::SinkOptions o;
      o.listen = "127.0.0.1:0";
      o.maildir = (dir_ / "md").string();
      o.eightBitMime = spec.eightBitMime;
      o.smtpUtf8 = spec.smtpUtf8;
      o.startTls = false;
      o.quiet = true;
      sink_ = std::make_unique<sink::Sink>(o);
      std::string error;
      REQUIRE_MESSAGE(sink_->start(&error), error);
      port_ = sink_->port();
      files_ = dir_ / "md" / "new";
    } else {
      // smtp-sink as in the shared recipe: runs as postfix, dumps one file per message.
      files_ = dir_ / "dump";
      fs::create_directory(files_);
      const struct passwd* pw = ::getpwnam("postfix");
      REQUIRE_MESSAGE(pw != nullptr, "no postfix user for smtp-sink");
      REQUIRE(::chown(files_.c_str(), pw->pw_uid, pw->pw_gid) == 0);
      port_ = interop::freePort();
      std::vector<std::string> argv = {"smtp-sink", "-u", "postfix", "-4", "-h", "sink.test"};
      if (!spec.eightBitMime) argv.push_back("-8");
      argv.insert(argv.end(), {"-d", files_.string() + "/%Y%m%d%H%M%S.", "127.0.0.1:" + std::to_string(port_),
                               "64"});
      child_ = interop::Child(argv, dir_ / "sink.log");
      REQUIRE_MESSAGE(interop::waitForPort(port_, Millis(5000)), "smtp-sink did not start");
    }
  }
  ~Peer() {
    if (sink_) {
      sink_->stop();
      sink_->wait();
    }
    child_.stop();
  }
  std::uint16_t port() const { return port_; }
  const PeerSpec& spec() const { return spec_; }
  // check_mime.py's --strip for this receiver's files.
  std::string strip() const { return spec_.receiver == Receiver::SluiceSink ? "sluice" : "smtp-sink"; }

  // Waits for `n` stored files whose size has settled; returns them by recipient (the one RCPT of each).
  std::multimap<std::string, fs::path> stored(std::size_t n) const {
    interop::pollUntil(kWait, [&] { return interop::listFiles(files_).size() >= n; });
    std::map<std::string, std::uintmax_t> sizes;
    interop::pollUntil(Millis(5000), [&] {  // smtp-sink writes a dump while the message arrives
      bool same = true;
      for (const auto& f : interop::listFiles(files_)) {
        const auto s = fs::file_size(f);
        same = same && sizes[f.string()] == s;
        sizes[f.string()] = s;
      }
      return same;
    });
    std::multimap<std::string, fs::path> out;
    for (const auto& f : interop::listFiles(files_)) {
      const std::string text = interop::readFile(f).substr(0, 2048);
      std::string rcpt;
      const std::string key = spec_.receiver == Receiver::SluiceSink ? "; to=<" : "\nX-Rcpt-Args: <";
      if (const std::size_t at = text.find(key); at != std::string::npos) {
        const std::size_t start = at + key.size();
        rcpt = text.substr(start, text.find('>', start) - start);
      }
      out.emplace(rcpt, f);
    }
    return out;
  }

  // What the receiver recorded about BODY= for a stored file.
  std::string bodyParam(const fs::path& file) const {
    const std::string text = interop::readFile(file).substr(0, 2048);
    if (spec_.receiver == Receiver::SluiceSink) {
      const std::size_t at = text.find("; body=");
      return at == std::string::npos ? "?" : text.substr(at + 7, text.find(';', at + 7) - at - 7);
    }
    const std::size_t at = text.find("X-Mail-Args: ");
    const std::string args = at == std::string::npos ? "" : text.substr(at, text.find('\n', at) - at);
    const std::size_t b = args.find("BODY=");
    return b == std::string::npos ? "none" : args.substr(b + 5, args.find(' ', b) - b - 5);
  }

 private:
  PeerSpec spec_;
  interop::TempDir dir_;
  std::unique_ptr<sink::Sink> sink_;
  interop::Child child_;
  std::uint16_t port_ = 0;
  fs::path files_;
};

// Known defects, reported and not yet fixed: each must still fail for the peers it names; once it passes, the
// test fails and asks for its line to be removed.
struct Open {
  const char* file;
  bool sevenBitPeers;
  bool eightBitPeers;
  const char* why;
};
const Open kOpen[] = {
    {nullptr, false, false, nullptr},  // none open: add {file, 7-bit peers, 8-bit peers, why} for a defect
};

const Open* openIssue(const std::string& file, bool eightBitPeer) {
  for (const Open& o : kOpen)
    if (o.file != nullptr && file == o.file && (eightBitPeer ? o.eightBitPeers : o.sevenBitPeers)) return &o;
  return nullptr;
}

// The longest line of a stored file (split at LF, a CR before it not counted).
std::size_t longestLine(const std::string& text) {
  std::size_t best = 0, start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::size_t len = end - start;
    if (len > 0 && text[end - 1] == '\r') --len;
    best = std::max(best, len);
    start = end + 1;
  }
  return best;
}

// What is wrong with one stored message ("" when nothing): every line within SMTP's limit (RFC 5321
// §4.5.3.1.6; none of these peers offers BINARYMIME), then check_mime.py: identical bytes when the peer could
// take the message as it was, else the MIME comparison (with the 7-bit rules for a 7-bit peer).
std::string judgeStored(const Peer& peer, const CorpusMessage& m, const fs::path& file, bool asIs) {
  if (const std::size_t longest = longestLine(interop::readFile(file)); longest > 998)
    return "a line of " + std::to_string(longest) + " octets reached the peer (" + file.string() + ")";
  std::vector<std::string> flags = {"--strip", peer.strip()};
  if (asIs) {
    flags.push_back("--expect-identical");
  } else if (!peer.spec().eightBitMime) {
    flags.push_back("--seven-bit");
  }
  std::string report;
  const int rc = runChecker(flags, corpusDir() / m.file, file, report);
  if (rc != 0) return "check_mime.py exit " + std::to_string(rc) + " on " + file.string() + ": " + report;
  return "";
}

// What is wrong with one corpus message's outcome ("" when nothing): its log line against EXPECTED, and when
// delivered, what the peer stored.
std::string judgeMessage(const Peer& peer, const CorpusMessage& m, const LogLine& l,
                         const std::multimap<std::string, fs::path>& stored) {
  const bool eightBitPeer = peer.spec().eightBitMime;
  const std::string& expect = eightBitPeer ? m.expect8 : m.expect7;
  if (expect != "deliver") {
    if (l.status != "bounced" || l.code / 100 != 5 || "refuse:" + l.enhanced != expect)
      return "expected a bounce with " + expect + ", log says: " + l.raw;
    return "";
  }
  if (l.status != "delivered" || l.code != 250) return "expected delivered, log says: " + l.raw;
  const bool eightBit = (m.flags & mime::kEightBit) != 0, binary = (m.flags & mime::kBinary) != 0;
  const bool asIs = eightBitPeer ? !binary : !eightBit && !binary;
  const std::string label = !asIs ? "converted" : eightBit ? "8bitmime" : "7bit";
  if (l.body != label) return "log body \"" + l.body + "\", expected \"" + label + "\": " + l.raw;
  if (stored.count(m.rcpt) != 1)
    return std::to_string(stored.count(m.rcpt)) + " stored messages for <" + m.rcpt + ">";
  const fs::path file = stored.find(m.rcpt)->second;
  // RFC 6152 §3: never BODY= to a peer without 8BITMIME.
  const std::string body = peer.bodyParam(file);
  if (!eightBitPeer && body != "none" && body != "7BIT") return "BODY=" + body + " sent to a 7-bit peer";
  return judgeStored(peer, m, file, asIs);
}

// Delivers `msgs` to a fresh peer and checks the log and every stored message.
void deliverCorpus(const PeerSpec& spec, const std::vector<CorpusMessage>& msgs) {
  const std::string peerName = spec.name;
  INFO("peer: " << peerName);
  Peer peer(spec);
  EngineHarness h(testConfig(loopback(peer.port())));
  const std::string sender = "sender@origin.test";
  for (const auto& m : msgs) h.add({sender, {m.rcpt}, interop::readFile(corpusDir() / m.file), {}});

  RunTweaks tweaks;
  tweaks.safetyLimit = std::chrono::seconds(120);
  const RunReport r = h.run(tweaks);
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.deferred == 0);
  CHECK(r.spool.liveMessages == 0);

  // One log line per message; the counters and the DSNs agree with the log.
  std::map<std::string, LogLine> lineOf;
  std::size_t delivered = 0, bounced = 0;
  for (const auto& m : msgs) {
    const auto lines = linesFor(r.log, m.rcpt);
    INFO(m.file);
    REQUIRE(lines.size() == 1);
    lineOf[m.rcpt] = lines[0];
    delivered += lines[0].status == "delivered" ? 1 : 0;
    bounced += lines[0].status == "bounced" ? 1 : 0;
  }
  CHECK(delivered + bounced == msgs.size());
  CHECK(r.progress.bounced == bounced);
  CHECK(r.progress.bouncesQueued == bounced);
  // The DSNs go to the sender's domain, routed to the same peer: each must be delivered too.
  const auto dsns = linesFor(r.log, sender);
  CHECK(dsns.size() == bounced);
  for (const LogLine& l : dsns) {
    INFO(l.raw);
    CHECK(l.status == "delivered");
  }
  CHECK(r.progress.delivered == delivered + dsns.size());

  const auto stored = peer.stored(delivered + dsns.size());
  CHECK(stored.size() == delivered + dsns.size());
  CHECK(stored.count(sender) == dsns.size());
  // A DSN returns the original's header (the 8-bit Subject too): to a 7-bit peer it must go 7-bit as well.
  if (!spec.eightBitMime) {
    const auto range = stored.equal_range(sender);  // not a structured binding: INFO captures in a lambda
    for (auto it = range.first; it != range.second; ++it) {
      const std::string text = interop::readFile(it->second);
      const std::string where = it->second.string();
      INFO("DSN stored as " << where);
      CHECK(std::none_of(text.begin(), text.end(),
                         [](char c) { return c == '\0' || static_cast<unsigned char>(c) >= 0x80; }));
    }
  }

  for (const auto& m : msgs) {
    INFO(m.file << " to " << peerName << ": expected " << (spec.eightBitMime ? m.expect8 : m.expect7));
    const std::string problem = judgeMessage(peer, m, lineOf.at(m.rcpt), stored);
    if (const Open* open = openIssue(m.file, spec.eightBitMime)) {
      const std::string why = open->why;
      CHECK_MESSAGE(!problem.empty(), "open issue now passes, remove it from kOpen: " << why);
      if (!problem.empty()) MESSAGE("open issue (" << why << "): " << problem);
    } else {
      CHECK_MESSAGE(problem.empty(), problem);
    }
  }
}

}  // namespace

TEST_CASE("MIME corpus through the engine to sluice sink --maildir with 8BITMIME (no BINARYMIME, no SMTPUTF8): "
          "delivered natively or made 8-bit safe as EXPECTED says") {
  deliverCorpus({"sluice sink 8BITMIME", Receiver::SluiceSink, true}, loadCorpus());
}

TEST_CASE("MIME corpus through the engine to sluice sink --maildir --no-8bitmime: converted to 7-bit MIME or "
          "refused as EXPECTED says") {
  deliverCorpus({"sluice sink --no-8bitmime", Receiver::SluiceSink, false}, loadCorpus());
}

TEST_CASE("MIME corpus through the engine to Postfix smtp-sink -8 (a real 7-bit peer, DATA): converted or "
          "refused as EXPECTED says") {
  deliverCorpus({"smtp-sink -8", Receiver::SmtpSink, false}, loadCorpus());
}

TEST_CASE("MIME corpus through the engine to Postfix smtp-sink with 8BITMIME (DATA): native or 8-bit safe") {
  deliverCorpus({"smtp-sink", Receiver::SmtpSink, true}, loadCorpus());
}

// RFC 6531 §3.2 / RFC 6532: the raw UTF-8 Subject that EXPECTED refuses with 5.6.7 (no SMTPUTF8) goes as it is
// to a peer that offers SMTPUTF8, declared on MAIL.
TEST_CASE("MIME corpus: the 8-bit Subject goes unchanged, with SMTPUTF8, to a sink that offers it") {
  std::vector<CorpusMessage> all = loadCorpus();
  std::vector<CorpusMessage> one;
  for (auto& m : all)
    if ((m.flags & mime::kEightBitHeaders) != 0) one.push_back(m);
  REQUIRE(one.size() == 1);
  REQUIRE(one[0].expect8 == "refuse:5.6.7");
  one[0].expect8 = "deliver";
  Peer peer({"sluice sink SMTPUTF8", Receiver::SluiceSink, true, true});
  EngineHarness h(testConfig(loopback(peer.port())));
  h.add({"sender@origin.test", {one[0].rcpt}, interop::readFile(corpusDir() / one[0].file), {}});
  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  const auto lines = linesFor(r.log, one[0].rcpt);
  REQUIRE(lines.size() == 1);
  INFO(lines[0].raw);
  CHECK(lines[0].status == "delivered");
  const auto stored = peer.stored(1);
  REQUIRE(stored.count(one[0].rcpt) == 1);
  const fs::path file = stored.find(one[0].rcpt)->second;
  const std::string text = interop::readFile(file);
  CHECK(text.find("smtputf8=yes") != std::string::npos);
  std::string report;
  CHECK_MESSAGE(runChecker({"--strip", "sluice", "--expect-identical"}, corpusDir() / one[0].file,
                           file, report) == 0,
                report);
}

}  // namespace sluice::enginetest
