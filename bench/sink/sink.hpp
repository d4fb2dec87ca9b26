// sink.hpp: `sluice sink`, a receiving MTA for benchmarks and tests. It drives smtp::ServerSession over libuv
// (net/uv.hpp), advertises a configurable set of extensions, can hold replies back (--reply-delay), inject
// failures (--tempfail/--permfail/--disconnect per stage, deterministic with --seed), cap connections, and either
// only count what it receives or keep each message in a maildir with its envelope in an added header.
//
// Ownership: a Sink owns its loops, listeners and connections. start() binds on the caller's thread, then every
// worker loop runs on a thread of its own; stop(), counters(), port() and wait() may be called from any thread.
// Threads: one loop per worker (--threads N: N loops, each with an SO_REUSEPORT listener on the same port).
// Errors: start() returns false with a message; the data path never throws and never allocates per command.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::net {
class TlsContext;
}

namespace sluice::sink {

class Maildir;
class Connection;

// Where an injected failure may happen.
enum class Stage : std::uint8_t { Greeting, Mail, Rcpt, Data };
inline constexpr std::size_t kStages = 4;

// Probability of each injected failure per stage, in millionths (10000 = 1%). At each stage event one draw
// decides: disconnect, else permfail, else tempfail, else the normal answer.
struct FaultRates {
  std::uint32_t tempfail[kStages] = {0, 0, 0, 0};
  std::uint32_t permfail[kStages] = {0, 0, 0, 0};
  std::uint32_t disconnect[kStages] = {0, 0, 0, 0};
};

struct SinkOptions {
  std::string listen = "127.0.0.1:2525";  // "ip:port" or "[ipv6]:port"; port 0 = ephemeral
  std::string hostname = "sink.sluice.test";
  // Advertised extensions (each has a --no-X flag).
  bool pipelining = true;
  bool chunking = true;
  bool eightBitMime = true;
  bool smtpUtf8 = true;
  bool binaryMime = false;  // --binarymime: offer BINARYMIME (RFC 3030; only with CHUNKING), off by default as at
                            // most MTAs
  bool size = true;
  bool dsn = true;
  bool enhancedStatusCodes = true;
  bool startTls = true;   // with a self-signed certificate made at start() for `hostname`
  bool ehlo = true;       // false: EHLO answered 500, clients must use HELO
  std::uint64_t maxMessageSize = 100ull << 20;  // SIZE n and the enforced limit (0 = none)
  std::size_t maxRecipients = 1000;             // per transaction; more get 452 4.5.3
  std::uint32_t replyDelayMs = 0;               // each reply held back this long from its command's arrival
  FaultRates faults;
  std::uint64_t seed = 1;
  std::uint32_t maxConnections = 0;  // 0 = no limit; more get "421 4.7.0 too many connections"
  std::string maildir;               // "" = only count
  std::uint32_t statsEverySec = 0;   // sinkCommand: one counters line every S seconds (0 = only at exit)
  std::uint64_t exitAfterMessages = 0;  // stop once this many messages were accepted (0 = never)
  bool quiet = false;                   // sinkCommand: print only the listening line and errors
  unsigned threads = 1;
  std::uint32_t idleTimeoutMs = 300000;  // server timeout (RFC 5321 §4.5.3.2.7)
};

// A consistent-enough snapshot of the counters (each value is read atomically; the set is not).
struct SinkCounters {
  std::uint64_t connectionsAccepted = 0;  // served (greeted or failed at greeting)
  std::uint64_t connectionsRefused = 0;   // over --max-connections (421)
  std::uint64_t connectionsActive = 0;
  std::uint64_t ehlo = 0;  // accepted EHLO / HELO commands
  std::uint64_t helo = 0;
  std::uint64_t tls = 0;           // TLS handshakes completed
  std::uint64_t transactions = 0;  // MAIL accepted
  std::uint64_t recipients = 0;    // RCPT accepted
  std::uint64_t messages = 0;      // messages accepted (250 at end of data)
  std::uint64_t messagesBdat = 0;  // ... of which by BDAT
  std::uint64_t messagesData = 0;  // ... of which by DATA
  std::uint64_t bytes = 0;         // content octets of accepted messages (unstuffed DATA, raw BDAT)
  // Answers given by the sink's own decisions (greeting, MAIL, RCPT, end of data), by outcome.
  std::uint64_t replies2xx = 0;
  std::uint64_t replies4xx = 0;
  std::uint64_t replies5xx = 0;
  std::uint64_t disconnects = 0;  // injected drops
  std::uint64_t maildirErrors = 0;  // a message could not be written (answered 451 4.3.0)

  // "conns 20 (refused 0, active 0) ehlo 20 helo 0 tls 0 txns ... msgs ... bytes ..." on one line.
  std::string line() const;
};

// True when this build can offer STARTTLS (engine/net/tls.hpp, OpenSSL).
bool tlsAvailable();

class Sink {
 public:
  explicit Sink(SinkOptions options);
  ~Sink();  // stop() and wait()
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  // Binds the listener(s) and starts the worker threads. False (with *error) when binding or the maildir fails.
  bool start(std::string* error);
  // The bound port (valid after start()).
  std::uint16_t port() const { return port_; }
  // Asks every worker to close its listener and connections (after writing replies already due) and end.
  // Thread-safe, idempotent. --exit-after-messages stops gracefully instead: open connections are served until
  // their clients close them (QUIT), for at most 2 s.
  void stop();
  // Blocks until every worker ended (after stop() or --exit-after-messages).
  void wait();
  // Called once from a worker thread when the sink ends by itself (exit-after-messages) or after stop().
  void setOnFinished(std::function<void()> cb) { onFinished_ = std::move(cb); }
  SinkCounters counters() const;
  const SinkOptions& options() const { return options_; }
  // The server TLS context (nullptr with --no-starttls).
  net::TlsContext* tlsContext() const { return tls_.get(); }

  struct Worker;  // one loop, its listener and connections (sink.cpp)

 private:
  friend struct Worker;
  friend class Connection;
  void workerEnded();
  void stopGracefully();

  SinkOptions options_;
  std::unique_ptr<Maildir> maildir_;  // before workers_: outlives them
  std::unique_ptr<net::TlsContext> tls_;  // shared by every worker's connections
  std::vector<std::unique_ptr<Worker>> workers_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> active_{0};    // open connections over all workers (for --max-connections)
  std::atomic<std::uint64_t> accepted_{0};  // messages accepted over all workers (for --exit-after-messages)
  std::atomic<unsigned> running_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> graceful_{false};
  std::function<void()> onFinished_;
  bool started_ = false;
  bool joined_ = false;
};

// Parses the sink's command-line flags (argv[0] is "sink"). False with *error on a bad flag; *help set for --help.
bool parseSinkArgs(int argc, char** argv, SinkOptions& options, std::string* error, bool* help);
// The usage text.
std::string sinkUsage();

}  // namespace sluice::sink

// `sluice sink [options]`: runs until SIGINT/SIGTERM or --exit-after-messages; prints "listening on ip:port" first.
int sinkCommand(int argc, char** argv);
