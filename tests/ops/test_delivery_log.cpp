// test_delivery_log.cpp: the delivery log's JSON lines: exact text, escaping (quotes, backslash, control bytes,
// invalid UTF-8), ISO-8601 times, a read-back by Python's json module, buffering and auto-flush, and two writers
// on one O_APPEND file from two threads never interleaving inside a line.
#include "engine/ops/delivery_log.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <thread>

#include "ops_test_support.hpp"

using namespace sluice::ops;

namespace {

DeliveryRecord sample() {
  DeliveryRecord r;
  r.timeMs = 1'795'931'525'123;  // 2026-11-29T05:52:05.123Z
  r.messageId = 42;
  r.recipient = "user@example.org";
  r.status = DeliveryStatus::Delivered;
  r.smtpCode = 250;
  r.enhancedCode = "2.0.0";
  r.reply = "Ok: queued as 4F2";
  r.mxHost = "mx1.example.org";
  r.address = "192.0.2.1:25";
  r.attempt = 1;
  r.durationMs = 37;
  r.transport = {true, BodyTransport::EightBitMime, true, false};
  return r;
}

std::string line(const DeliveryRecord& r) {
  std::string s;
  appendDeliveryJson(s, r);
  return s;
}

std::string escaped(std::string_view s) {
  std::string out;
  appendJsonEscaped(out, s);
  return out;
}

std::string isoTime(std::int64_t ms) {
  std::string out;
  appendIsoTime(out, ms);
  return out;
}

// Runs python3 on a script with the file as argv[1]; returns its exit status and captures stdout.
int runPython(const std::string& script, const std::string& file, std::string& out) {
  const std::string cmd = "/usr/bin/python3 -c '" + script + "' '" + file + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST_CASE("one record is one JSON line with the documented key names, in order") {
  CHECK(line(sample()) ==
        "{\"time\":\"2026-11-29T05:52:05.123Z\",\"id\":42,\"rcpt\":\"user@example.org\",\"status\":\"delivered\","
        "\"code\":250,\"enhanced\":\"2.0.0\",\"reply\":\"Ok: queued as 4F2\",\"mx\":\"mx1.example.org\","
        "\"addr\":\"192.0.2.1:25\",\"attempt\":1,\"duration_ms\":37,\"transport\":{\"chunking\":true,"
        "\"body\":\"8bitmime\",\"pipelined\":true,\"tls\":false},\"possible_duplicate\":false,"
        "\"synthesized\":false}\n");
  DeliveryRecord r = sample();
  r.status = DeliveryStatus::Expired;
  r.transport.body = BodyTransport::Converted;
  r.possibleDuplicate = true;
  r.synthesized = true;
  r.messageId = UINT64_MAX;
  const std::string s = line(r);
  CHECK(s.find("\"status\":\"expired\"") != std::string::npos);
  CHECK(s.find("\"body\":\"converted\"") != std::string::npos);
  CHECK(s.find("\"id\":18446744073709551615,") != std::string::npos);
  CHECK(s.find("\"possible_duplicate\":true,\"synthesized\":true}\n") != std::string::npos);
  CHECK(statusLabel(DeliveryStatus::Bounced) == "bounced");
  CHECK(statusLabel(DeliveryStatus::Deferred) == "deferred");
  CHECK(bodyLabel(BodyTransport::SevenBit) == "7bit");
}

TEST_CASE("escaping: quotes, backslash, control bytes as \\u00XX, invalid UTF-8 as \\ufffd") {
  CHECK(escaped("plain text") == "plain text");
  CHECK(escaped("say \"hi\" \\o/") == "say \\\"hi\\\" \\\\o/");
  CHECK(escaped("a\r\nb\tc") == "a\\u000d\\u000ab\\u0009c");
  CHECK(escaped(std::string_view("\0\x1f\x7f", 3)) == "\\u0000\\u001f\\u007f");
  CHECK(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7");
  CHECK(escaped("\xff") == "\\ufffd");
  CHECK(escaped("a\xc3") == "a\\ufffd");                    // truncated sequence
  CHECK(escaped("\xc0\xaf") == "\\ufffd\\ufffd");            // overlong '/'
  CHECK(escaped("\xed\xa0\x80") == "\\ufffd\\ufffd\\ufffd");  // a UTF-16 surrogate
  CHECK(escaped("\xf4\x90\x80\x80") == "\\ufffd\\ufffd\\ufffd\\ufffd");  // past U+10FFFF
  CHECK(escaped("\x80x") == "\\ufffdx");                    // lone continuation byte
}

TEST_CASE("times are ISO-8601 UTC with milliseconds") {
  CHECK(isoTime(0) == "1970-01-01T00:00:00.000Z");
  CHECK(isoTime(1'795'931'525'123) == "2026-11-29T05:52:05.123Z");
  CHECK(isoTime(951'782'400'000) == "2000-02-29T00:00:00.000Z");  // leap day
  CHECK(isoTime(4'102'444'799'999) == "2099-12-31T23:59:59.999Z");
  CHECK(isoTime(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("tricky records read back with Python's json module") {
  ops_test::TempDir dir;
  const std::string path = dir.file("deliveries.jsonl");
  {
    DeliveryLog log;
    REQUIRE(log.open(path) == "");
    DeliveryRecord r = sample();
    const std::string reply = std::string("5.7.1 \"quoted\" back\\slash\r\n\ttab \x01\x7f ") + "\xff\xfe caf\xc3\xa9";
    r.reply = reply;
    r.status = DeliveryStatus::Bounced;
    r.smtpCode = 550;
    r.enhancedCode = "5.7.1";
    log.append(r);
    DeliveryRecord empty;  // every string empty, code 0
    log.append(empty);
    const std::string rcpt = "\"odd\\\"@example.org";
    r.recipient = rcpt;
    r.address = "[2001:db8::1]:25";
    log.append(r);
    CHECK(log.bufferedBytes() > 0);
    CHECK(ops_test::readFile(path).empty());  // nothing written before flush
    REQUIRE(log.flush());
    CHECK(log.bufferedBytes() == 0);
  }
  const std::string script =
      "import json,sys\n"
      "rows=[json.loads(l) for l in open(sys.argv[1],encoding=\"utf-8\")]\n"
      "assert len(rows)==3, len(rows)\n"
      "a,b,c=rows\n"
      "assert a[\"reply\"]==\"5.7.1 \\\"quoted\\\" back\\\\slash\\r\\n\\ttab \\x01\\x7f \\ufffd\\ufffd caf\\u00e9\", "
      "repr(a[\"reply\"])\n"
      "assert a[\"status\"]==\"bounced\" and a[\"code\"]==550 and a[\"enhanced\"]==\"5.7.1\"\n"
      "assert a[\"transport\"]=={\"chunking\":True,\"body\":\"8bitmime\",\"pipelined\":True,\"tls\":False}\n"
      "assert b[\"time\"]==\"1970-01-01T00:00:00.000Z\" and b[\"rcpt\"]==\"\" and b[\"code\"]==0\n"
      "assert b[\"status\"]==\"deferred\" and b[\"transport\"][\"body\"]==\"7bit\"\n"
      "assert c[\"rcpt\"]==\"\\\"odd\\\\\\\"@example.org\", repr(c[\"rcpt\"])\n"
      "assert c[\"addr\"]==\"[2001:db8::1]:25\"\n"
      "keys=[\"time\",\"id\",\"rcpt\",\"status\",\"code\",\"enhanced\",\"reply\",\"mx\",\"addr\",\"attempt\","
      "\"duration_ms\",\"transport\",\"possible_duplicate\",\"synthesized\"]\n"
      "assert all(list(r.keys())==keys for r in rows)\n"
      "print(\"ok\")\n";
  std::string out;
  CHECK(runPython(script, path, out) == 0);
  CHECK(out == "ok\n");
}

TEST_CASE("a disabled log writes nothing; a log that cannot be opened says why") {
  DeliveryLog off;
  CHECK(off.open("") == "");
  CHECK_FALSE(off.enabled());
  off.append(sample());
  CHECK(off.bufferedBytes() == 0);
  CHECK(off.flush());

  ops_test::TempDir dir;
  DeliveryLog bad;
  const std::string err = bad.open(dir.file("no/such/dir/log"));
  CHECK(err.find("cannot open delivery log") == 0);
  CHECK_FALSE(bad.enabled());
}

TEST_CASE("the buffer flushes itself once past its threshold, and on destruction; appends keep old lines") {
  ops_test::TempDir dir;
  const std::string path = dir.file("log");
  ops_test::writeFile(path, "existing line\n");
  const std::size_t one = line(sample()).size();
  {
    DeliveryLog log(one * 3 + 1);
    REQUIRE(log.open(path) == "");
    for (int i = 0; i < 3; ++i) log.append(sample());
    CHECK(ops_test::readFile(path) == "existing line\n");
    log.append(sample());  // passes the threshold: all four go out in one write
    CHECK(log.bufferedBytes() == 0);
    CHECK(ops_test::readFile(path).size() == 14 + 4 * one);
    log.append(sample());
    DeliveryLog moved = std::move(log);  // the buffered line moves along
    CHECK(moved.bufferedBytes() == one);
  }
  CHECK(ops_test::readFile(path).size() == 14 + 5 * one);
}

TEST_CASE("two logs on one file from two threads never interleave inside a line") {
  ops_test::TempDir dir;
  const std::string path = dir.file("shared.jsonl");
  constexpr int kLines = 20000;
  auto writer = [&](std::uint64_t id, char fill) {
    DeliveryLog log(4096);  // small buffer: many concurrent writes
    REQUIRE(log.open(path) == "");
    // Lines of different lengths so a torn write would show up as a broken line.
    std::string reply(static_cast<std::size_t>(200 + id * 37), fill);
    DeliveryRecord r = sample();
    r.messageId = id;
    for (int i = 0; i < kLines; ++i) {
      r.attempt = static_cast<unsigned>(i);
      r.reply = std::string_view(reply).substr(0, 100 + static_cast<std::size_t>(i) % 100);
      log.append(r);
    }
    CHECK(log.flush());
  };
  std::thread a(writer, 1, 'a');
  std::thread b(writer, 2, 'b');
  a.join();
  b.join();
  const std::string script =
      "import json,sys\n"
      "n={1:0,2:0}\n"
      "for l in open(sys.argv[1]):\n"
      "  r=json.loads(l)\n"
      "  assert set(r[\"reply\"])=={\"a\" if r[\"id\"]==1 else \"b\"}\n"
      "  assert r[\"attempt\"]==n[r[\"id\"]], (r[\"attempt\"], n)\n"
      "  n[r[\"id\"]]+=1\n"
      "print(n[1], n[2])\n";
  std::string out;
  CHECK(runPython(script, path, out) == 0);
  CHECK(out == std::to_string(kLines) + " " + std::to_string(kLines) + "\n");
}
