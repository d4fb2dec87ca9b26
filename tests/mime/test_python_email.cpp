// test_python_email.cpp: converted output read back by a MIME parser that is not ours: the system Python's email
// package (email.message_from_bytes, get_payload(decode=True)). For each representative message, every leaf of
// the converted output must decode to the same octets as the original's leaf (text/* compared with CRLF taken as
// LF, since decoders differ in how they return hard line breaks), with the same content types in the same order.
// Fails when /usr/bin/python3 is missing (deploy/setup.sh installs it).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "mime_support.hpp"

using namespace sluice;
using namespace sluice::test;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

constexpr const char* kScript = R"PY(
import email, sys
from email import policy

def leaves(data):
    msg = email.message_from_bytes(data, policy=policy.compat32)
    out = []
    for part in msg.walk():
        if part.is_multipart():
            out.append((part.get_content_type(), None))
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            payload = b""
        if part.get_content_maintype() == "text":
            payload = payload.replace(b"\r\n", b"\n")
        out.append((part.get_content_type(), payload))
    return out

orig = leaves(open(sys.argv[1], "rb").read())
conv = leaves(open(sys.argv[2], "rb").read())
if len(orig) != len(conv):
    print("part count differs: %d vs %d" % (len(orig), len(conv)))
    sys.exit(1)
bad = 0
for i, ((t1, p1), (t2, p2)) in enumerate(zip(orig, conv)):
    if t1 != t2 or p1 != p2:
        print("part %d differs: %s %r vs %s %r" % (i, t1, (p1 or b"")[:60], t2, (p2 or b"")[:60]))
        bad += 1
print("parts compared: %d" % len(orig))
sys.exit(1 if bad else 0)
)PY";

void writeFile(const std::string& path, std::string_view data) {
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  REQUIRE(f.good());
}

// Runs the comparison script on original and converted; returns its exit status and output.
int compareWithPython(std::string_view original, std::string_view converted, std::string& report) {
  char dir[] = "/tmp/sluice-mime-py.XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string d = dir;
  writeFile(d + "/check.py", kScript);
  writeFile(d + "/orig.eml", original);
  writeFile(d + "/conv.eml", converted);
  const std::string cmd = std::string(kPython) + " " + d + "/check.py " + d + "/orig.eml " + d + "/conv.eml 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) report += buf;
  const int status = pclose(p);
  std::remove((d + "/check.py").c_str());
  std::remove((d + "/orig.eml").c_str());
  std::remove((d + "/conv.eml").c_str());
  rmdir(dir);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string r;
  for (std::size_t i = 0; i < n; ++i) r += s;
  return r;
}

void check(const std::string& msg, ConvertOptions o, unsigned minEncoded) {
  // deploy/setup.sh installs python3: a missing interpreter is a broken setup, not a reason to pass.
  REQUIRE_MESSAGE(access(kPython, X_OK) == 0, "no " << kPython);
  auto c = planOk(msg, o);
  const std::string out = checkedOutput(c, msg, o.target);
  CHECK(c->quotedPrintableLeaves() + c->base64Leaves() >= minEncoded);
  std::string report;
  const int rc = compareWithPython(msg, out, report);
  INFO(report);
  CHECK(rc == 0);
  CHECK(report.find("parts compared") != std::string::npos);
}

}  // namespace

TEST_CASE("Python's email package decodes our multipart output to the original leaves (RFC 2045, RFC 2046)") {
  std::string png;
  for (int i = 0; i < 3000; ++i) png.push_back(static_cast<char>((i * 131) ^ (i >> 3)));
  const std::string msg =
      "From: a@example.com\r\nTo: b@example.org\r\nSubject: newsletter\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"outer-b\"\r\n\r\nThis is a MIME message.\r\n"
      "--outer-b\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
      "--inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
      repeat("La r\xC3\xA9union aura lieu \xC3\xA0 l'h\xC3\xB4tel de ville, tr\xC3\xA8s t\xC3\xB4t. \r\n", 20) +
      ".\r\n" + std::string(1100, 'L') + "\r\n"
      "--inner\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
      repeat("<p>\xD0\x9D\xD0\xBE\xD0\xB2\xD0\xBE\xD1\x81\xD1\x82\xD0\xB8 \xD0\xBD\xD0\xB5\xD0\xB4\xD0\xB5\xD0\xBB\xD0\xB8</p>\r\n", 30) +
      "--inner--\r\n"
      "--outer-b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n\r\n" + png + "\r\n"
      "--outer-b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
      "From: c@example.net\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
      "Gr\xC3\xBC\xC3\x9F" "e aus K\xC3\xB6ln \r\n"
      "--outer-b--\r\n";
  check(msg, ConvertOptions{}, 4);
  ConvertOptions e;
  e.target = mime::Target::EightBit;
  check(msg, e, 2);  // the long line and the NUL-bearing image
}

TEST_CASE("Python's email package decodes a base64-chosen Cyrillic single part and a wrapped non-MIME message") {
  const std::string cyr =
      "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\n" +
      repeat("\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82, \xD0\xBC\xD0\xB8\xD1\x80!\r\n", 50);
  check(cyr, ConvertOptions{}, 1);
  ConvertOptions wrap;
  wrap.nonMime = mime::NonMimePolicy::WrapQuotedPrintable;
  const std::string plain = "From: a@example.com\r\nSubject: x\r\n\r\nNa\xC3\xAFve caf\xC3\xA9 \r\n.\r\nend\r\n";
  // The original has no MIME structure: Python reads its body as text/plain 7bit, i.e. as the raw octets.
  check(plain, wrap, 1);
}
