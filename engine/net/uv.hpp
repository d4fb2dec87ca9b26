// uv.hpp: small RAII wrappers over the libuv handles the engine and the sink use: the loop, timers, a
// cross-thread wake-up (async), signals, TCP streams (client and accepted) and a TCP listener.
//
// Ownership: each wrapper owns its libuv handle. Destroying the wrapper closes the handle; the memory is released
// in the close callback, so a wrapper may be destroyed from inside its own callback. After destruction (or close())
// no callback of that wrapper runs again. Handles close asynchronously: run the loop once more before ~Loop.
// Threads: a wrapper belongs to the thread running its loop; only Async::send() may be called from other threads.
// Errors: libuv error numbers (negative) are returned as int; uvError() turns one into text.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

struct sockaddr;

namespace sluice::net {

// "ECONNREFUSED: connection refused" for a libuv error number.
std::string uvError(int err);

// A libuv loop owned by this object. The destructor closes every handle still open and runs the loop to let
// their close callbacks finish.
class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  uv_loop_t* get() { return &loop_; }
  // Runs until stop() or until nothing is left to do.
  void run();
  // Makes run() return after the current turn.
  void stop() { uv_stop(&loop_); }
  // The loop's cached clock in milliseconds (uv_now).
  std::uint64_t now() const { return uv_now(&loop_); }

 private:
  uv_loop_t loop_;
};

// A one-shot or repeating timer.
class Timer {
 public:
  explicit Timer(uv_loop_t* loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // (Re)starts the timer: cb runs after `ms`, then every `repeatMs` if non-zero.
  void start(std::uint64_t ms, std::function<void()> cb, std::uint64_t repeatMs = 0);
  void stop();
  bool active() const;

 private:
  struct Impl;
  Impl* impl_;
};

// Wakes a loop from any thread; cb runs on the loop's thread (several send() calls may coalesce into one cb).
class Async {
 public:
  Async(uv_loop_t* loop, std::function<void()> cb);
  ~Async();
  Async(const Async&) = delete;
  Async& operator=(const Async&) = delete;
  void send();  // thread-safe

 private:
  struct Impl;
  Impl* impl_;
};

// A signal watcher (SIGTERM, SIGINT, ...); cb runs on the loop's thread.
class Signal {
 public:
  Signal(uv_loop_t* loop, int signum, std::function<void()> cb);
  ~Signal();
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;

 private:
  struct Impl;
  Impl* impl_;
};

// Callbacks of a TcpStream. They run on the loop's thread. The stream may be destroyed from inside any of them.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // connect() finished: status 0 or a libuv error.
  virtual void onConnect(int status) {}
  // Bytes arrived; the view is valid only during the call.
  virtual void onRead(std::string_view bytes) = 0;
  // The peer closed (status UV_EOF) or reading failed (another libuv error). No more reads follow.
  virtual void onReadEnd(int status) = 0;
  // One write() request finished, in the order they were issued: status 0 or a libuv error.
  virtual void onWriteDone(int status) {}
};

// One TCP connection, outgoing (connect) or accepted (TcpListener).
class TcpStream {
 public:
  struct Buf {  // the layout of struct iovec / uv_buf_t on Linux (static_asserted in uv.cpp)
    const char* data;
    std::size_t size;
  };

  TcpStream(uv_loop_t* loop, StreamHandler& handler);
  ~TcpStream();
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  // Starts connecting to addr (sockaddr_in or sockaddr_in6); onConnect follows. Returns 0 or a libuv error.
  int connect(const sockaddr* addr);
  // Starts reading; onRead/onReadEnd follow. Returns 0 or a libuv error.
  int startRead();
  // Stops reading (back-pressure); startRead() resumes.
  void stopRead();
  // Queues the buffers as one write (the bytes must stay valid until its onWriteDone; the array need not).
  // Returns 0 or a libuv error (then no onWriteDone follows for this request).
  int write(const Buf* bufs, std::size_t count);
  // Bytes queued in the kernel-side write queue that libuv could not write at once.
  std::size_t writeQueueSize() const;
  // Disables Nagle (on by default in the constructor) / sets keep-alive.
  void setNoDelay(bool on);
  // Closes the socket now; pending writes fail (their onWriteDone may still run with UV_ECANCELED before close
  // completes unless the stream is destroyed). Idempotent.
  void close();
  // Half-close after the queued writes (shutdown(SHUT_WR)).
  int shutdown();
  bool closed() const;
  // The local and remote addresses as "ip:port" text ("" when unknown).
  std::string localAddress() const;
  std::string peerAddress() const;
  // For TcpListener: accept a pending connection of `server` into this stream.
  int acceptFrom(uv_stream_t* server);

 private:
  struct Impl;
  Impl* impl_;
};

// A listening TCP socket. onConnection runs once per pending connection; it should accept it with
// TcpStream::acceptFrom(server) (or the connection is refused by closing a throw-away stream).
class TcpListener {
 public:
  explicit TcpListener(uv_loop_t* loop);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  // Binds "ip:port" (port 0 = ephemeral) and listens. Returns 0 or a libuv error; `error` gets the text.
  int listen(std::string_view hostPort, int backlog, std::function<void(uv_stream_t* server)> onConnection,
             std::string* error = nullptr);
  // The bound port (after listen()).
  std::uint16_t port() const;
  void close();

 private:
  struct Impl;
  Impl* impl_;
};

// Parses "ip:port" / "[ipv6]:port" into storage; false when malformed.
bool parseHostPort(std::string_view text, sockaddr_storage& out);

}  // namespace sluice::net
