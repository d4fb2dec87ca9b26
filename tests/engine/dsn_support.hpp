// dsn_support.hpp: what tests/engine/scenario_dsn_size_utf8.cpp uses beyond the shared scenario support: queueing
// messages with per-recipient DSN parameters (RFC 3461), sized and 8-bit test bodies, `sluice sink` run in-process
// with a Maildir, reading RFC 3464 reports back with Python's email package (an independent MIME parser), and
// lookups in the fake receiver's records.
//
// Ownership: a SluiceSink owns its sink and its temp directory (stopped and removed on destruction). Threads: the
// sink runs its own worker thread; everything else runs on the test thread. Errors: setup failures fail the
// running test (doctest REQUIRE); a sink that cannot start reports it through started() / error().
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/sink/sink.hpp"
#include "engine/delivery/inject.hpp"
#include "tests/engine/scenario_support.hpp"
#include "tests/interop/process.hpp"

namespace sluice::dsntest {

using enginetest::EngineHarness;
using scenario::FakeServer;
using Millis = std::chrono::milliseconds;
namespace fs = std::filesystem;

// One recipient with its DSN parameters (RFC 3461 §4.1, §4.2).
struct Rcpt {
  Rcpt(std::string a, int n = smtp::NotifyNone, std::string o = "")
      : address(std::move(a)), notify(static_cast<std::uint8_t>(n)), orcpt(std::move(o)) {}
  std::string address;
  std::uint8_t notify;
  std::string orcpt;  // decoded; "" = none
};

// Queues a message with per-recipient parameters, the way intake and `sluice inject` do.
inline queue::MessageId queueMessage(EngineHarness& h, const std::string& from, const std::vector<Rcpt>& to,
                                     std::string body, smtp::MailParams params = {}) {
  delivery::InjectMessage m;
  m.from = from;
  for (const auto& r : to) {
    smtp::RcptParams p;
    p.notify = r.notify;
    p.orcpt = r.orcpt;
    m.to.push_back({r.address, p});
  }
  m.params = std::move(params);
  m.body = std::move(body);
  auto id = delivery::appendDurably(h.spool(), m);
  REQUIRE_MESSAGE(id.isOk(), id.status().message());
  return id.value();
}

// A 7-bit message of exactly `size` octets (CRLF line endings), marked by its Subject; every fourth body line
// starts with ".".
inline std::string sizedBody(const std::string& subject, std::size_t size) {
  std::string b = "From: sender@src.test\r\nSubject: " + subject + "\r\n\r\n";
  REQUIRE(b.size() + 8 < size);
  for (std::size_t i = 0; b.size() + 2 < size; ++i) {
    std::string line = (i % 4 == 1 ? "." : "") + subject + "-" + std::to_string(i) + " ";  // some stuffed by DATA
    const std::size_t want = std::min<std::size_t>(size - b.size() - 2, 70);
    while (line.size() < want) line += static_cast<char>('a' + (b.size() + line.size()) % 26);
    line.resize(want);
    b += line + "\r\n";
  }
  while (b.size() < size) b.insert(b.size() - 2, "x");
  return b;
}

// An 8-bit MIME message (UTF-8 Cyrillic text/plain, Content-Transfer-Encoding 8bit) of about `approx` octets:
// every converted form (quoted-printable or base64) is larger.
inline std::string cyrillicMessage(std::size_t approx) {
  std::string b =
      "From: sender@src.test\r\nSubject: growth\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  // "Привет, мир! Съешь ещё этих мягких булок" in UTF-8.
  const std::string line =
      "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82, \xD0\xBC\xD0\xB8\xD1\x80! "
      "\xD0\xA1\xD1\x8A\xD0\xB5\xD1\x88\xD1\x8C \xD0\xB5\xD1\x89\xD1\x91 "
      "\xD1\x8D\xD1\x82\xD0\xB8\xD1\x85 \xD0\xBC\xD1\x8F\xD0\xB3\xD0\xBA\xD0\xB8\xD1\x85 "
      "\xD0\xB1\xD1\x83\xD0\xBB\xD0\xBE\xD0\xBA\r\n";
  while (b.size() < approx) b += line;
  return b;
}

inline bool hasEightBitOctet(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0x80) != 0; });
}

// ---- `sluice sink` in-process, keeping a Maildir

// One Maildir file of the sink: its X-Sluice-Envelope value and the bytes it received.
struct Stored {
  std::string envelope;
  std::string body;
};

class SluiceSink {
 public:
  explicit SluiceSink(sink::SinkOptions o) : dir_("sluice-dsn-sink.") {
    o.listen = "127.0.0.1:0";
    o.startTls = false;
    o.quiet = true;
    o.maildir = (dir_ / "maildir").string();
    sink_ = std::make_unique<sink::Sink>(o);
    started_ = sink_->start(&error_);
  }
  ~SluiceSink() { sink_->stop(); }

  bool started() const { return started_; }
  const std::string& error() const { return error_; }
  std::string endpoint() const { return enginetest::loopback(sink_->port()); }
  sink::SinkCounters counters() const { return sink_->counters(); }
  std::vector<Stored> messages() const {
    std::vector<Stored> out;
    const std::string prefix = "X-Sluice-Envelope: ";
    for (const auto& f : interop::listFiles(dir_ / "maildir" / "new")) {
      const std::string text = interop::readFile(f);
      const std::size_t eol = text.find("\r\n");
      Stored s;
      if (text.compare(0, prefix.size(), prefix) == 0 && eol != std::string::npos) {
        s.envelope = text.substr(prefix.size(), eol - prefix.size());
        s.body = text.substr(eol + 2);
      } else {
        s.body = text;
      }
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  interop::TempDir dir_;
  std::unique_ptr<sink::Sink> sink_;
  bool started_ = false;
  std::string error_;
};

// The stored messages whose envelope contains `needle`.
inline std::vector<Stored> withEnvelope(const std::vector<Stored>& v, const std::string& needle) {
  std::vector<Stored> out;
  for (const auto& s : v)
    if (s.envelope.find(needle) != std::string::npos) out.push_back(s);
  return out;
}

// ---- reading reports with Python's email package

// Prints what a report holds, one "key=value" per line; argv[2] is a marker looked for in the returned part.
inline constexpr char kReportReader[] = R"PY(
import email, email.policy, email.utils, sys
msg = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
def clean(v):
    return 'none' if v is None else ' '.join(str(v).split()).replace('; ', ';')
print('type=' + msg.get_content_type())
print('report_type=' + str(msg.get_param('report-type')))
parts = list(msg.iter_parts()) if msg.is_multipart() else []
print('parts=' + ','.join(p.get_content_type() for p in parts))
for p in parts:
    ct = p.get_content_type()
    if ct == 'message/delivery-status':
        blocks = p.get_payload()
        print('envid=' + clean(blocks[0].get('Original-Envelope-Id')))
        for b in blocks[1:]:
            retry = b.get('Will-Retry-Until')
            when = 'none'
            if retry is not None:
                when = str(int(email.utils.parsedate_to_datetime(str(retry)).timestamp()))
            print('rcpt final=%s|orig=%s|action=%s|status=%s|retry=%s' % (
                clean(b.get('Final-Recipient')), clean(b.get('Original-Recipient')), clean(b.get('Action')),
                clean(b.get('Status')), when))
    elif ct in ('text/rfc822-headers', 'message/rfc822'):
        data = p.as_bytes()
        print('returned=' + ct)
        print('marker=' + ('yes' if sys.argv[2].encode() in data else 'no'))
)PY";

// Runs the reader over `report` (LF or CRLF line endings); returns its output.
inline std::string readReport(EngineHarness& h, const std::string& report, const std::string& marker) {
  static int serial = 0;
  const fs::path file = h.dir() / ("report" + std::to_string(++serial) + ".eml");
  interop::writeFile(file, report);
  interop::writeFile(h.dir() / "read_report.py", kReportReader);
  const auto py = interop::runCommand(
      {"/usr/bin/python3", (h.dir() / "read_report.py").string(), file.string(), marker}, Millis(30000));
  INFO(py.output);
  REQUIRE(py.status == 0);
  return py.output;
}

// The "rcpt ..." lines of a reader's output, in report order.
inline std::vector<std::string> reportBlocks(const std::string& out) {
  std::vector<std::string> v;
  std::size_t pos = 0;
  while ((pos = out.find("rcpt final=", pos)) != std::string::npos) {
    const std::size_t end = out.find('\n', pos);
    v.push_back(out.substr(pos, end - pos));
    pos = end;
  }
  return v;
}

// Asks a receiver (argv[1] = port) whether it offers DSN, then what it answers to RET= on MAIL and NOTIFY= on RCPT.
inline constexpr char kDsnProbe[] = R"PY(
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
s.ehlo('probe.test')
print('dsn=' + ('yes' if s.has_extn('dsn') else 'no'))
print('mail=%dxx' % (s.docmd('MAIL FROM:<probe@origin.test> RET=HDRS')[0] // 100))
s.rset()
s.docmd('MAIL FROM:<probe@origin.test>')
print('rcpt=%dxx' % (s.docmd('RCPT TO:<probe@dest.test> NOTIFY=SUCCESS')[0] // 100))
s.quit()
)PY";

// True when a report's Final-Recipient names a UTF-8 mailbox the way RFC 6533 §3 says: "utf-8; " with the
// utf-8-addr-xtext form ("\\x{F6}", hex in either case) in message/delivery-status, or with the raw UTF-8 form in
// message/global-delivery-status.
inline bool namesUtf8Recipient(const std::string& report, const std::string& xtextForm, const std::string& raw) {
  auto lower = [](std::string s) {
    for (char& c : s)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
  };
  if (lower(report).find(lower("Final-Recipient: utf-8; " + xtextForm)) != std::string::npos) return true;
  return report.find("message/global-delivery-status") != std::string::npos &&
         report.find("Final-Recipient: utf-8; " + raw) != std::string::npos;
}

// Every transaction the fake server saw, over all connections.
inline std::vector<test::TransactionRecord> allTransactions(const FakeServer& s) {
  std::vector<test::TransactionRecord> v;
  for (const auto& c : s.connections())
    for (const auto& t : c.transactions) v.push_back(t);
  return v;
}

// The accepted transactions from the null reverse-path to `sender` (the reports we sent it).
inline std::vector<test::TransactionRecord> reportsTo(const FakeServer& s, const std::string& sender) {
  std::vector<test::TransactionRecord> v;
  for (const auto& t : s.acceptedMessages())
    if (t.mailLine.rfind("MAIL FROM:<>", 0) == 0 && t.accepted == std::vector<std::string>{sender}) v.push_back(t);
  return v;
}

inline bool anyRcptLineHas(const FakeServer& s, const std::string& needle) {
  for (const auto& t : allTransactions(s))
    for (const auto& l : t.rcptLines)
      if (l.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace sluice::dsntest
