// worker.hpp (internal to bench/sink): one sink worker (a libuv loop with its listener, connections, counters) and
// one connection (a ServerSession driven over a TcpStream, with the reply-delay queue and the fault draws).
//
// Ownership: a Worker owns its connections (an intrusive list; a connection deletes itself when it ends and unlinks
// first). Threads: everything here runs on the worker's loop thread, except the counters, which other threads read.
// Errors: socket errors end the connection; nothing throws on the data path.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/sink/sink.hpp"
#include "engine/net/tls.hpp"
#include "engine/net/uv.hpp"
#include "engine/smtp/server_session.hpp"

namespace sluice::sink {

class Connection;
class Maildir;

// Counters written by one worker thread only (plain load + store), read by any thread.
struct alignas(64) WorkerCounters {
  std::atomic<std::uint64_t> connectionsAccepted{0}, connectionsRefused{0}, connectionsActive{0};
  std::atomic<std::uint64_t> ehlo{0}, helo{0}, tls{0};
  std::atomic<std::uint64_t> transactions{0}, recipients{0}, messages{0}, messagesBdat{0}, messagesData{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> replies2xx{0}, replies4xx{0}, replies5xx{0}, disconnects{0}, maildirErrors{0};

  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void addTo(SinkCounters& out) const;
};

// A listening socket with SO_REUSEPORT (for --threads > 1), on raw libuv since net::TcpListener has no such option.
class ReusePortListener;

struct Sink::Worker {
  Worker(Sink& sink, unsigned index, Maildir* maildir);
  ~Worker();

  // Binds `hostPort` and listens. False with *error.
  bool listen(const std::string& hostPort, std::string* error);
  std::uint16_t port() const;
  // Thread body: runs the loop until shutdown finished, then releases every handle.
  void run();
  // From any thread: begin the shutdown on the loop thread.
  void requestStop() { wake_->send(); }

  // Loop-thread only.
  void onConnection(uv_stream_t* server);
  void unlink(Connection* c);  // a connection ended
  bool shuttingDown() const { return shuttingDown_; }
  void beginShutdown();

  Sink& sink;
  const unsigned index;
  Maildir* const maildir;
  net::Loop loop;
  smtp::ServerConfig config;
  WorkerCounters counters;
  std::uint64_t connectionSeq = 0;
  std::uint64_t messageSeq = 0;
  std::unique_ptr<char[]> readBuffer;  // shared by the worker's connections: input is consumed inside the callback
  static constexpr std::size_t kReadBufferSize = 256 * 1024;
  std::thread thread;

 private:
  void sweep();  // idle timeouts and lingering closes, once a second

  std::unique_ptr<net::TcpListener> listener_;
  std::unique_ptr<ReusePortListener> reuseListener_;
  std::unique_ptr<net::Async> wake_;
  std::unique_ptr<net::Timer> sweepTimer_;
  std::unique_ptr<net::Timer> deadline_;  // caps a shutdown waiting for delayed replies
  Connection* head_ = nullptr;
  bool shuttingDown_ = false;
  bool loopEnded_ = false;  // run()'s first loop.run() returned
};

// One accepted connection. It drives its uv_tcp_t directly rather than through net::TcpStream: replies go out
// with uv_try_write (a reply written whole costs one syscall and no write request, callback or epoll change), and
// reads land in the worker's one read buffer instead of a buffer per connection.
class Connection final : public smtp::ServerHandler {
 public:
  enum class Mode : std::uint8_t { Serve, Refuse };  // Refuse: over --max-connections, 421 and close
  Connection(Sink::Worker& worker, Mode mode);
  ~Connection() override;

  // Accepts from `server` and starts the session. The worker linked it first: it may end (finish()) at once.
  void accept(uv_stream_t* server);
  // Idle timeout and linger checks (sweep).
  void tick(std::uint64_t now);
  // The worker is shutting down: finish queued replies, then end.
  void shutdown();
  // Unlinks it and closes the socket now; the close callback deletes it. Idempotent.
  void finish();

  Connection* prev = nullptr;
  Connection* next = nullptr;

  // smtp::ServerHandler
  smtp::Verdict onHelo(std::string_view domain, bool extended) override;
  smtp::Verdict onMail(std::string_view reversePath, const smtp::MailParams& params,
                       std::string_view authParam) override;
  smtp::Verdict onRcpt(std::string_view forwardPath, const smtp::RcptParams& params) override;
  void onBody(std::string_view bytes) override;
  smtp::Verdict onMessageEnd(const smtp::MessageInfo& info) override;
  void onTransactionAbort() override;
  bool onStartTls() override;

 private:
  // What follows a batch of replies once written: Close the socket, or Linger (FIN, then wait for the peer's: used
  // when the client may already be talking, so an RST cannot destroy the reply before it is read).
  enum class After : std::uint8_t { None, Close, Linger, StartTls };  // StartTls: encrypt from the next byte on
  enum class Fault : std::uint8_t { None, Temp, Perm, Drop };
  struct Delayed {
    std::uint64_t due;
    std::size_t end;  // end offset in delayed_
    After after;
  };

  void start();
  Fault draw(Stage stage);
  void countVerdict(const smtp::Verdict& v);
  void flushSession();
  void emit(std::string_view bytes, After after);
  void send(std::string_view bytes);     // plaintext: encrypted first once TLS is on
  void sendRaw(std::string_view bytes);  // to the socket as is
  void sendCiphertext();                 // what the TLS filter has for the peer
  void startTls();                       // engage the TLS filter (server side)
  void onCiphertext(std::string_view bytes);
  void onDelayTimer();
  void armDelayTimer();
  void afterWrites(After after);
  void onRead(std::string_view bytes);
  void onReadEnd();
  void onWriteDone(int status);
  void startReading();
  void stopReading();
  bool writeNow(std::string_view bytes);  // try_write, the rest by uv_write from sending_; false on error

  Sink::Worker& w_;
  Mode mode_;
  uv_tcp_t tcp_;
  uv_write_t writeReq_;
  bool dead_ = false;  // finish() ran: the handle is closing
  std::unique_ptr<net::TlsFilter> tls_;  // after the 220 to STARTTLS
  bool tlsRequested_ = false;            // the 220 to STARTTLS is written or queued
  bool tlsStarted_ = false;              // handshake done, session told
  bool closeNotifySent_ = false;
  smtp::ServerSession session_;
  std::unique_ptr<net::Timer> delayTimer_;
  bool counted_ = false;  // counted in the sink's active connections
  bool reading_ = false;
  bool closing_ = false;   // no more input is processed
  bool lingering_ = false;  // shutdown(SHUT_WR) sent, waiting for the peer's EOF
  bool dropRequested_ = false;
  bool writing_ = false;
  After afterWrites_ = After::None;
  std::uint64_t lastActivity_ = 0;
  std::uint64_t rng_ = 0;
  std::string sending_;  // bytes of the write in flight
  std::string pending_;  // replies produced while a write was in flight
  std::string delayed_;  // replies held back (--reply-delay), from delayedHead_
  std::size_t delayedHead_ = 0;
  std::vector<Delayed> queue_;
  std::size_t queueHead_ = 0;
  // The transaction, kept only with --maildir.
  std::string from_;
  std::string rcpts_;
  std::string body_;
  smtp::BodyType bodyType_ = smtp::BodyType::Unspecified;
  bool utf8_ = false;
};

// One file per message: written to DIR/tmp, then renamed into DIR/new. Thread-safe (names are unique per worker).
class Maildir {
 public:
  explicit Maildir(std::string dir) : dir_(std::move(dir)) {}
  // Creates DIR, DIR/tmp, DIR/new and DIR/cur as needed. False with *error.
  bool prepare(std::string* error) const;
  // Writes header then body as one file. False on any I/O error (nothing is left in new/).
  bool store(unsigned worker, std::uint64_t seq, std::string_view header, std::string_view body) const;

 private:
  std::string dir_;
};

}  // namespace sluice::sink
