// peers.cpp: starting, reading and stopping the interop peers (private Postfix, smtp-sink, aiosmtpd, swaks).
// Configuration files are generated here at run time inside each peer's own temp dir.
#include "tests/interop/peers.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace sluice::interop {

namespace fs = std::filesystem;

namespace {

// Changes the owner of `path` to the named user (and group, if given); throws if they do not exist.
void chownTo(const fs::path& path, const char* user, const char* group = nullptr) {
  const passwd* pw = getpwnam(user);
  if (pw == nullptr) throw std::runtime_error(std::string("no user ") + user);
  gid_t gid = pw->pw_gid;
  if (group != nullptr) {
    const struct group* gr = getgrnam(group);
    if (gr == nullptr) throw std::runtime_error(std::string("no group ") + group);
    gid = gr->gr_gid;
  }
  if (chown(path.c_str(), pw->pw_uid, gid) != 0) throw std::runtime_error("chown failed: " + path.string());
}

// Sets a file's mtime ten seconds into the past (Postfix re-reads a main.cf younger than about a second, slowly).
void backdate(const fs::path& file) {
  timeval tv[2];
  gettimeofday(&tv[0], nullptr);
  tv[0].tv_sec -= 10;
  tv[1] = tv[0];
  utimes(file.c_str(), tv);
}

// Splits text into lines at LF (the LF dropped).
std::vector<std::string> splitLines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t eol = s.find('\n', pos);
    if (eol == std::string::npos) eol = s.size();
    out.push_back(s.substr(pos, eol - pos));
    pos = eol + 1;
  }
  return out;
}

// Reads one header "Name: value" (with continuation lines) starting at `pos` in LF text; advances `pos`.
// Returns false when the line at `pos` is not the header `name`.
bool takeHeader(const std::string& text, std::size_t& pos, const std::string& name, std::string& value) {
  if (text.compare(pos, name.size() + 1, name + ":") != 0) return false;
  std::size_t end = pos;
  do {
    end = text.find('\n', end);
    end = end == std::string::npos ? text.size() : end + 1;
  } while (end < text.size() && (text[end] == ' ' || text[end] == '\t'));
  value = text.substr(pos + name.size() + 1, end - pos - name.size() - 1);
  while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
  while (!value.empty() && value.back() == '\n') value.pop_back();
  pos = end;
  return true;
}

// Counts occurrences of `needle` in `hay`.
std::size_t occurrences(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

// The recording handler aiosmtpd loads (our own): envelope lines in N.env, original_content in N.eml.
const char kAioHandler[] = R"PY(# Test-only aiosmtpd handler: records each message as N.env (envelope) and N.eml (content).
import os


class Recorder:
    """Writes the envelope and the byte-exact original content of every message."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        """Builds the handler from the command line: the first argument is the output directory."""
        return cls(args[0] if args else '.')

    async def handle_DATA(self, server, session, envelope):
        """Saves one message; the .eml appears atomically, after the .env."""
        self.count += 1
        stem = os.path.join(self.outdir, '%06d' % self.count)
        lines = ['from ' + (envelope.mail_from or '')]
        lines += ['option ' + o for o in envelope.mail_options]
        lines += ['rcpt ' + r for r in envelope.rcpt_tos]
        with open(stem + '.env', 'w', encoding='utf-8') as f:
            f.write('\n'.join(lines) + '\n')
        with open(stem + '.part', 'wb') as f:
            f.write(envelope.original_content)
        os.rename(stem + '.part', stem + '.eml')
        return '250 2.0.0 recorded'
)PY";

}  // namespace

// Writes main.cf and master.cf, then `postfix start`.
PostfixPeer::PostfixPeer(const std::string& extraMainCf) : dir_("sluice-postfix.") {
  const fs::path& t = dir_.path();
  for (const char* d : {"etc", "spool", "data", "mail"}) fs::create_directory(t / d);
  chownTo(t / "data", "postfix");
  chownTo(t / "mail", "nobody", "nogroup");
  port_ = freePort();
  noChunkingPort_ = freePort();
  plainPort_ = freePort();
  const std::string T = t.string();
  std::string mainCf =
      "compatibility_level = 3.6\n"
      "queue_directory = " + T + "/spool\n"
      "data_directory = " + T + "/data\n"
      "maillog_file = " + T + "/maillog\n"
      "maillog_file_prefixes = " + T + "\n"
      "myhostname = peer.test\n"
      "mydestination =\n"
      "alias_maps =\n"
      "local_recipient_maps =\n"
      "inet_interfaces = 127.0.0.1\n"
      "inet_protocols = ipv4\n"
      "smtpd_peername_lookup = no\n"
      "local_header_rewrite_clients =\n"
      "enable_original_recipient = no\n"
      "virtual_mailbox_domains = static:all\n"
      "virtual_mailbox_base = " + T + "/mail\n"
      "virtual_mailbox_maps = static:inbox/\n"
      "virtual_uid_maps = static:65534\n"
      "virtual_gid_maps = static:65534\n"
      // Nothing leaves loopback: a domain that is neither a mailbox domain nor transport-mapped (bounces to the
      // sender's domain, say) fails at once instead of being looked up in DNS.
      "default_transport = error:no outbound mail in tests\n"
      "relay_transport = error:no outbound mail in tests\n" +
      extraMainCf + "\n";
  const std::string p1 = std::to_string(port_);
  const std::string p2 = std::to_string(noChunkingPort_);
  const std::string p3 = std::to_string(plainPort_);
  std::string masterCf =
      "127.0.0.1:" + p1 + " inet n - n - - smtpd\n"
      "127.0.0.1:" + p2 + " inet n - n - - smtpd -o smtpd_discard_ehlo_keywords=chunking\n"
      "127.0.0.1:" + p3 + " inet n - n - - smtpd -o smtpd_discard_ehlo_keywords=chunking,8bitmime,pipelining\n"
      "cleanup unix n - n - 0 cleanup\n"
      "qmgr unix n - n 300 1 qmgr\n"
      "rewrite unix - - n - - trivial-rewrite\n"
      "bounce unix - - n - 0 bounce\n"
      "defer unix - - n - 0 bounce\n"
      "trace unix - - n - 0 bounce\n"
      "error unix - - n - - error\n"
      "retry unix - - n - - error\n"
      "virtual unix - n n - - virtual\n"
      "smtp unix - - n - - smtp\n"
      "proxymap unix - - n - - proxymap\n"
      "anvil unix - - n - 1 anvil\n"
      "tlsmgr unix - - n 1000? 1 tlsmgr\n"  // STARTTLS, when extraMainCf gives smtpd a certificate
      "postlog unix-dgram n - n - 1 postlogd\n";
  writeFile(t / "etc" / "main.cf", mainCf);
  writeFile(t / "etc" / "master.cf", masterCf);
  backdate(t / "etc" / "main.cf");
  backdate(t / "etc" / "master.cf");
  const RunResult r = runCommand({"postfix", "-c", (t / "etc").string(), "start"}, Millis(30000));
  startOutput_ = r.output;
  running_ = r.status == 0 && waitForPort(port_, Millis(5000));
  if (r.status == 0 && !running_) startOutput_ += "\n(listener did not come up)";
  if (r.status == 0) running_ = running_ && waitForPort(noChunkingPort_, Millis(2000)) &&
                                waitForPort(plainPort_, Millis(2000));
  if (r.status == 0 && !running_) {
    // Started but unusable: stop it so the directory can go.
    runCommand({"postfix", "-c", (t / "etc").string(), "stop"}, Millis(30000));
  }
}

// `postfix stop`; the TempDir then waits for the daemons to leave before removing the directory.
PostfixPeer::~PostfixPeer() {
  if (running_) runCommand({"postfix", "-c", (dir_ / "etc").string(), "stop"}, Millis(30000));
}

// Polls the Maildir's new/ folder and splits each file into Postfix's trace lines and the message.
std::vector<PostfixDelivery> PostfixPeer::waitDeliveries(std::size_t n, Millis limit) const {
  const fs::path inbox = dir_.path() / "mail" / "inbox" / "new";
  pollUntil(limit, [&] { return listFiles(inbox).size() >= n; });
  std::vector<PostfixDelivery> out;
  for (const auto& f : listFiles(inbox)) {
    const std::string text = readFile(f);
    PostfixDelivery d;
    std::size_t pos = 0;
    takeHeader(text, pos, "Return-Path", d.returnPath);
    takeHeader(text, pos, "Delivered-To", d.deliveredTo);
    takeHeader(text, pos, "Received", d.received);
    d.message = text.substr(pos);
    out.push_back(std::move(d));
  }
  return out;
}

// Reads the instance's log file.
std::string PostfixPeer::maillog() const { return readFile(dir_.path() / "maillog"); }

// Polls the log for a string.
bool PostfixPeer::waitLog(const std::string& needle, std::size_t times, Millis limit) const {
  return pollUntil(limit, [&] { return occurrences(maillog(), needle) >= times; });
}

// Starts smtp-sink as user postfix, dumping into a directory that user owns.
SmtpSink::SmtpSink(const std::vector<std::string>& flags) : dir_("sluice-sink.") {
  fs::create_directory(dir_ / "dump");
  chownTo(dir_ / "dump", "postfix");
  port_ = freePort();
  std::vector<std::string> argv = {"smtp-sink", "-u", "postfix", "-4", "-h", "sink.test"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {"-d", (dir_ / "dump").string() + "/%Y%m%d%H%M%S.", "127.0.0.1:" + std::to_string(port_),
                           "64"});
  child_ = Child(argv, dir_ / "sink.log");
  running_ = waitForPort(port_, Millis(5000));
}

// Stops the sink (the TempDir removes the dumps).
SmtpSink::~SmtpSink() { child_.stop(); }

// Parses each dump: the sink's X- headers, its Received header, then the message plus one extra LF.
std::vector<SinkDump> SmtpSink::waitDumps(std::size_t n, Millis limit) const {
  const fs::path dump = dir_.path() / "dump";
  pollUntil(limit, [&] { return listFiles(dump).size() >= n; });
  std::vector<SinkDump> out;
  for (const auto& f : listFiles(dump)) {
    // The file is written while the message arrives: wait until its size settles.
    std::string text = readFile(f);
    pollUntil(Millis(2000), [&] {
      struct timespec ts {0, 30 * 1000 * 1000};
      nanosleep(&ts, nullptr);
      std::string again = readFile(f);
      const bool same = again == text;
      text = std::move(again);
      return same;
    });
    SinkDump d;
    std::size_t pos = 0;
    std::string v;
    for (;;) {
      if (takeHeader(text, pos, "X-Client-Addr", v)) continue;
      if (takeHeader(text, pos, "X-Client-Proto", d.clientProto)) continue;
      if (takeHeader(text, pos, "X-Helo-Args", d.heloArgs)) continue;
      if (takeHeader(text, pos, "X-Mail-Args", d.mailArgs)) continue;
      if (takeHeader(text, pos, "X-Rcpt-Args", v)) {
        d.rcptArgs.push_back(v);
        continue;
      }
      break;
    }
    takeHeader(text, pos, "Received", v);
    d.message = text.substr(pos);
    if (!d.message.empty() && d.message.back() == '\n') d.message.pop_back();  // the sink's extra empty line
    out.push_back(std::move(d));
  }
  return out;
}

// Writes the handler module and starts aiosmtpd with the system Python (which has the Debian package).
AiosmtpdPeer::AiosmtpdPeer() : dir_("sluice-aiosmtpd.") {
  fs::create_directory(dir_ / "out");
  writeFile(dir_ / "interop_recorder.py", kAioHandler);
  port_ = freePort();
  child_ = Child({"/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:" + std::to_string(port_), "-c",
                  "interop_recorder.Recorder", (dir_ / "out").string()},
                 dir_ / "aiosmtpd.log", {"PYTHONPATH=" + dir_.path().string(), "PYTHONDONTWRITEBYTECODE=1"});
  running_ = waitForPort(port_, Millis(10000));
}

// Stops aiosmtpd.
AiosmtpdPeer::~AiosmtpdPeer() { child_.stop(); }

// Reads N.env / N.eml pairs.
std::vector<AioMessage> AiosmtpdPeer::waitMessages(std::size_t n, Millis limit) const {
  const fs::path out = dir_.path() / "out";
  // Only the complete messages (.eml files) count.
  auto emls = [&] {
    std::vector<fs::path> v;
    for (const auto& f : listFiles(out)) {
      if (f.extension() == ".eml") v.push_back(f);
    }
    return v;
  };
  pollUntil(limit, [&] { return emls().size() >= n; });
  std::vector<AioMessage> msgs;
  for (const auto& f : emls()) {
    AioMessage m;
    m.content = readFile(f);
    fs::path env = f;
    env.replace_extension(".env");
    for (const auto& line : splitLines(readFile(env))) {
      if (line.rfind("from ", 0) == 0) m.mailFrom = line.substr(5);
      if (line.rfind("option ", 0) == 0) m.mailOptions.push_back(line.substr(7));
      if (line.rfind("rcpt ", 0) == 0) m.recipients.push_back(line.substr(5));
    }
    msgs.push_back(std::move(m));
  }
  return msgs;
}

// The aiosmtpd log.
std::string AiosmtpdPeer::log() const { return readFile(dir_.path() / "aiosmtpd.log"); }

// swaks with our server address prepended.
RunResult runSwaks(std::uint16_t port, const std::vector<std::string>& args, Millis limit) {
  std::vector<std::string> argv = {"swaks", "--server", "127.0.0.1:" + std::to_string(port), "--timeout", "15"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, limit);
}

}  // namespace sluice::interop
