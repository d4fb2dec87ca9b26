// corpus_test.cpp: the MIME corpus (tests/mime/corpus/, written by make_corpus.py) through classify() and
// convert(), judged by an independent parser.
//
// For every corpus file: the bytes are normalised the way intake does it (CRLF line endings, a final CRLF added),
// classified (the flags are checked against a direct scan of the octets), then converted for Target::SevenBit and
// Target::EightBit. The outcome must match the file's line in corpus/EXPECTED (esmtp-rules.md §4, §11 edge cases
// 11-14). A delivered conversion is read through a Cursor in small chunks, written to a scratch directory and
// handed to check_mime.py (Python's email package): same MIME tree, same decoded payloads, kept headers, lines of
// at most 998 octets and, for the 7-bit target, no 8-bit octet or NUL. A failure shows the checker's output.
//
// EXPECTED describes the engine; one of its rules is the engine's, not the converter's:
//   refuse:5.6.7  the top-level header has 8-bit octets: SMTPUTF8 is needed (RFC 6531/6532), which the peers of
//                 EXPECTED lack. classify() must flag kEightBitHeaders; convert() for 7-bit must refuse with
//                 5.6.7; for Target::EightBit whether SMTPUTF8 is offered is the engine's decision, so the
//                 converter's answer is not judged here.
// The 8BITMIME column says `deliver` for 8-bit messages the engine sends as they are; convert() for
// Target::EightBit must deliver them too (leaving 8-bit text, encoding only NUL and long lines).
// Ownership: files in a scratch directory of its own, removed when every check passed (kept otherwise, or with
// SLUICE_CORPUS_KEEP=1; the path is shown).
// Threads: one. Errors: doctest assertions; a missing corpus or checker fails the test case.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/mime/mime.hpp"
#include "tests/mime/corpus_support.hpp"
#include "tests/mime/mime_support.hpp"

namespace {
namespace corpus {

namespace fs = std::filesystem;
using sluice::mime::Conversion;
using sluice::mime::ConvertOptions;
using sluice::mime::ConvertResult;
using sluice::mime::Refusal;
using sluice::mime::Target;

using sluice::mimetest::corpusDir;
using sluice::mimetest::runChecker;

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeFile(const fs::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  REQUIRE_MESSAGE(out.good(), "cannot write " << p.string());
}

// Intake's rule (engine/delivery's appendDurably): a bare CR or LF becomes CRLF; a non-empty message gets
// a final CRLF; header lines over 998 octets are folded. Replicated because test_mime does not link the delivery library.
std::string normalise(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 2);
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0)) out += "\r\n";
  sluice::mime::foldLongHeaderLines(out);  // intake folds header lines over 998 octets
  return out;
}

struct Expectation {
  std::string sevenBit;  // "deliver" or "refuse:X.Y.Z"
  std::string eightBit;
};

std::vector<std::pair<std::string, Expectation>> loadExpected() {
  std::vector<std::pair<std::string, Expectation>> out;
  std::istringstream in(readFile(corpusDir() / "EXPECTED"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name;
    Expectation e;
    fields >> name >> e.sevenBit >> e.eightBit;
    REQUIRE_MESSAGE(!e.eightBit.empty(), "bad EXPECTED line: " << line);
    out.emplace_back(name, e);
  }
  return out;
}

// What the flags must be, from a direct scan (mime.hpp: header = up to the first empty line).
std::uint8_t scanFlags(std::string_view m) {
  std::size_t bodyStart = m.size();
  std::size_t headerEnd = m.size();
  if (m.substr(0, 2) == "\r\n") {
    headerEnd = 0;
    bodyStart = 2;
  } else if (const std::size_t k = m.find("\r\n\r\n"); k != std::string_view::npos) {
    headerEnd = k + 2;
    bodyStart = k + 4;
  }
  const std::string_view header = m.substr(0, headerEnd);
  const std::string_view body = m.substr(bodyStart);
  std::uint8_t f = sluice::mime::kClassified;
  for (const char c : header)
    if (static_cast<unsigned char>(c) >= 0x80) f |= sluice::mime::kEightBitHeaders;
  std::size_t lineLen = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    if (c >= 0x80) f |= sluice::mime::kEightBit;
    if (c == 0) f |= sluice::mime::kBinary;
    if (c == '\r' && i + 1 < body.size() && body[i + 1] == '\n') {
      lineLen = 0;
      ++i;
      continue;
    }
    if (++lineLen > 998) f |= sluice::mime::kBinary;
  }
  std::size_t ls = 0;
  while (ls < header.size()) {
    std::size_t le = header.find("\r\n", ls);
    if (le == std::string_view::npos) le = header.size();
    std::string name(header.substr(ls, std::min<std::size_t>(13, le - ls)));
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (name == "mime-version:") f |= sluice::mime::kMime;
    ls = le + 2;
  }
  return f;
}

// The output, read through a fresh cursor in chunks of `chunk` octets.
std::string readThrough(const std::shared_ptr<const Conversion>& c, std::size_t chunk) {
  return sluice::test::readAll(c, chunk);
}

class Scratch {
 public:
  Scratch() {
    if (const char* k = std::getenv("SLUICE_CORPUS_KEEP"); k != nullptr && *k == '1') keep_ = true;
    std::string tmpl = (fs::temp_directory_path() / "sluice-corpus-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    if (keep_) {
      MESSAGE("scratch files kept in " << dir_.string());
    } else {
      fs::remove_all(dir_, ec);
    }
  }
  const fs::path& dir() const { return dir_; }
  void keep() { keep_ = true; }

 private:
  fs::path dir_;
  bool keep_ = false;
};

std::string targetName(Target t) { return t == Target::SevenBit ? "7bit" : "8bit"; }

// Converts one corpus message for one target and judges the outcome against `expect`. Returns "" when it is
// right, else what is wrong (with the checker's output).
std::string judge(const std::string& name, const std::string& msg, Target target, const std::string& expect,
                  const ConvertOptions& base, const fs::path& dir) {
  if (expect == "refuse:5.6.7") {
    if ((sluice::mime::classify(msg) & sluice::mime::kEightBitHeaders) == 0) return "kEightBitHeaders not set";
    if (target == Target::EightBit) return "";  // the engine's decision (SMTPUTF8), see the file comment
  }
  ConvertOptions o = base;
  o.target = target;
  const ConvertResult r = sluice::mime::convert(msg, o);
  if (const auto* ref = std::get_if<Refusal>(&r)) {
    const std::string got = "refuse:" + ref->enhanced;
    if (got != expect || ref->code / 100 != 5)
      return "converter refused: " + std::to_string(ref->code) + " " + ref->enhanced + " " + ref->text;
    return "";
  }
  const auto c = std::get<std::shared_ptr<const Conversion>>(r);
  if (expect != "deliver")
    return "converter delivered (" + std::to_string(c->size()) + " octets) what EXPECTED says is " + expect;
  const std::string out = readThrough(c, 7);
  if (out.size() != c->size())
    return "size() is " + std::to_string(c->size()) + " but the cursor produced " + std::to_string(out.size());
  if (readThrough(c, 4093) != out) return "reading in chunks of 7 and of 4093 octets gives different output";
  bool high = false;
  for (const char ch : out) high = high || static_cast<unsigned char>(ch) >= 0x80;
  if (target == Target::SevenBit && c->eightBit()) return "eightBit() is true for the 7-bit target";
  if (target == Target::EightBit && c->eightBit() != high) return "eightBit() disagrees with the output";
  const fs::path orig = dir / name;
  const bool wrap = base.nonMime != sluice::mime::NonMimePolicy::Bounce;
  const fs::path got = dir / (name + "." + targetName(target) + (wrap ? ".wrap" : ""));
  writeFile(orig, msg);
  writeFile(got, out);
  std::string report;
  const int rc = runChecker(target == Target::SevenBit ? std::vector<std::string>{"--seven-bit"} : std::vector<std::string>{},
                            orig, got, report);
  if (rc != 0) return "check_mime.py exit " + std::to_string(rc) + ": " + report;
  return "";
}

// Known converter defects, reported and not yet fixed: (file, target, why). Each must still fail; once one
// passes, this test fails and asks for its line to be removed (so the list never hides a fixed case).
struct Open {
  const char* file;
  Target target;
  const char* why;
};
const Open kOpen[] = {
    {nullptr, Target::SevenBit, nullptr},  // none open: add {file, target, why} for a known defect
};

const Open* openIssue(const std::string& name, Target target) {
  for (const Open& o : kOpen)
    if (o.file != nullptr && name == o.file && target == o.target) return &o;
  return nullptr;
}

// Runs the whole corpus for one target; open issues must still fail, everything else must pass.
void runCorpus(Target target) {
  Scratch scratch;
  int failed = 0;
  for (const auto& entry : loadExpected()) {
    const std::string& name = entry.first;  // not a structured binding: INFO captures it in a lambda
    const std::string expect = target == Target::SevenBit ? entry.second.sevenBit : entry.second.eightBit;
    const std::string msg = normalise(readFile(corpusDir() / name));
    const std::string problem = judge(name, msg, target, expect, ConvertOptions{}, scratch.dir());
    INFO(name << " for " << targetName(target) << " (expected " << expect << ")");
    if (const Open* open = openIssue(name, target)) {
      const std::string why = open->why;
      CHECK_MESSAGE(!problem.empty(), "open issue now passes, remove it from kOpen: " << why);
      if (!problem.empty()) MESSAGE("open issue (" << why << "): " << problem);
    } else {
      CHECK_MESSAGE(problem.empty(), problem);
      failed += problem.empty() ? 0 : 1;
    }
  }
  if (failed != 0) scratch.keep();
}

}  // namespace corpus
}  // namespace

TEST_CASE("corpus: every file is listed in EXPECTED, and classify() agrees with a direct scan of its octets") {
  using namespace corpus;
  const auto expected = loadExpected();
  CHECK(expected.size() >= 34);
  std::map<std::string, int> listed;
  for (const auto& [name, e] : expected) listed[name]++;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(corpusDir())) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".eml") continue;
    ++files;
    INFO(name);
    CHECK(listed[name] == 1);
    const std::string msg = normalise(readFile(entry.path()));
    CHECK(sluice::mime::classify(msg) == scanFlags(msg));
  }
  CHECK(files == static_cast<int>(expected.size()));
}

TEST_CASE("corpus: each message converted for a 7-bit peer is refused or delivered as EXPECTED says, and the "
          "delivered ones pass the independent checker (esmtp-rules.md §4, §11.11-14)") {
  corpus::runCorpus(corpus::Target::SevenBit);
}

TEST_CASE("corpus: each message converted for an 8BITMIME peer (no BINARYMIME) is refused or delivered as "
          "EXPECTED says; binary parts are encoded, 8-bit text may stay (RFC 6152, RFC 3030 §3)") {
  corpus::runCorpus(corpus::Target::EightBit);
}

TEST_CASE("corpus: the encoding chosen per leaf: quoted-printable for mostly-ASCII text, base64 for mostly "
          "non-ASCII text and for anything that is not text (esmtp-rules.md §4)") {
  using namespace corpus;
  struct Want {
    const char* file;
    unsigned qp, b64;
  };
  const Want wants[] = {
      // Only clear cases (one encoding at least 10% shorter); 16 has 3 accented letters in every 15.
      {"02-utf8-french.eml", 1, 0},     {"03-utf8-cyrillic.eml", 0, 1},    {"04-utf8-cjk.eml", 0, 1},
      {"05-html-newsletter.eml", 1, 0}, {"33-html-1mib.eml", 1, 0},        {"07-mixed-pdf-binary.eml", 1, 1},
      {"16-long-line-5000.eml", 0, 1},  {"36-octet-stream-8bit.eml", 0, 1}, {"08-mixed-base64-7bit.eml", 0, 0},
  };
  for (const Want& w : wants) {
    INFO(w.file);
    const std::string msg = normalise(readFile(corpusDir() / w.file));
    const ConvertResult r = sluice::mime::convert(msg, ConvertOptions{});
    REQUIRE(std::holds_alternative<std::shared_ptr<const Conversion>>(r));
    const auto& c = std::get<std::shared_ptr<const Conversion>>(r);
    CHECK(c->quotedPrintableLeaves() == w.qp);
    CHECK(c->base64Leaves() == w.b64);
  }
}

TEST_CASE("corpus: non-MIME 8-bit text under the wrap policy is delivered as quoted-printable text/plain") {
  using namespace corpus;
  Scratch scratch;
  ConvertOptions o;
  o.nonMime = sluice::mime::NonMimePolicy::WrapQuotedPrintable;
  const std::string msg = normalise(readFile(corpusDir() / "30-nonmime-8bit.eml"));
  const std::string problem = judge("30-nonmime-8bit.eml", msg, Target::SevenBit, "deliver", o, scratch.dir());
  CHECK_MESSAGE(problem.empty(), problem);
  const ConvertResult r = sluice::mime::convert(msg, o);
  REQUIRE(std::holds_alternative<std::shared_ptr<const Conversion>>(r));
  CHECK(std::get<std::shared_ptr<const Conversion>>(r)->wrapped());
  // A 7-bit non-MIME message needs no wrapping under either policy.
  const std::string plain = normalise(readFile(corpusDir() / "39-nonmime-7bit.eml"));
  const ConvertResult p = sluice::mime::convert(plain, o);
  REQUIRE(std::holds_alternative<std::shared_ptr<const Conversion>>(p));
  CHECK_FALSE(std::get<std::shared_ptr<const Conversion>>(p)->wrapped());
}
