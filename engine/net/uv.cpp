// uv.cpp: the libuv wrappers of uv.hpp. Every handle lives in a heap Impl whose first member is the libuv handle;
// the wrapper's destructor detaches the callbacks and closes the handle, and the close callback frees the Impl.
#include "engine/net/uv.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>
#include <deque>
#include <memory>
#include <vector>

namespace sluice::net {

static_assert(sizeof(TcpStream::Buf) == sizeof(uv_buf_t));
static_assert(offsetof(uv_buf_t, base) == offsetof(TcpStream::Buf, data));
static_assert(offsetof(uv_buf_t, len) == offsetof(TcpStream::Buf, size));

std::string uvError(int err) {
  std::string s = uv_err_name(err);
  s += ": ";
  s += uv_strerror(err);
  return s;
}

namespace {
template <class Impl>
void closeAndFree(Impl* impl) {
  auto* h = reinterpret_cast<uv_handle_t*>(&impl->handle);
  if (uv_is_closing(h)) return;
  uv_close(h, [](uv_handle_t* handle) { delete static_cast<Impl*>(handle->data); });
}

std::string formatAddress(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(a, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return {};
}
}  // namespace

// ---- Loop

Loop::Loop() { uv_loop_init(&loop_); }

Loop::~Loop() {
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Loop::run() { uv_run(&loop_, UV_RUN_DEFAULT); }

// ---- Timer

struct Timer::Impl {
  uv_timer_t handle;
  std::function<void()> cb;
};

Timer::Timer(uv_loop_t* loop) : impl_(new Impl) {
  uv_timer_init(loop, &impl_->handle);
  impl_->handle.data = impl_;
}

Timer::~Timer() {
  impl_->cb = nullptr;
  closeAndFree(impl_);
}

void Timer::start(std::uint64_t ms, std::function<void()> cb, std::uint64_t repeatMs) {
  impl_->cb = std::move(cb);
  uv_timer_start(
      &impl_->handle,
      [](uv_timer_t* t) {
        auto* impl = static_cast<Impl*>(t->data);
        if (!impl->cb) return;
        if (uv_timer_get_repeat(t) == 0) {
          // A one-shot timer may be restarted (or its owner destroyed) from inside the callback.
          auto cb = std::move(impl->cb);
          impl->cb = nullptr;
          cb();
        } else {
          auto cb = impl->cb;  // a copy: the owner may destroy the timer from inside the callback
          cb();
        }
      },
      ms, repeatMs);
}

void Timer::stop() { uv_timer_stop(&impl_->handle); }

bool Timer::active() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&impl_->handle)) != 0; }

// ---- Async

struct Async::Impl {
  uv_async_t handle;
  std::function<void()> cb;
};

Async::Async(uv_loop_t* loop, std::function<void()> cb) : impl_(new Impl) {
  impl_->cb = std::move(cb);
  uv_async_init(loop, &impl_->handle, [](uv_async_t* a) {
    auto* impl = static_cast<Impl*>(a->data);
    if (!impl->cb) return;
    auto cb = impl->cb;  // a copy: the owner may destroy the handle from inside the callback
    cb();
  });
  impl_->handle.data = impl_;
}

Async::~Async() {
  impl_->cb = nullptr;
  closeAndFree(impl_);
}

void Async::send() { uv_async_send(&impl_->handle); }

// ---- Signal

struct Signal::Impl {
  uv_signal_t handle;
  std::function<void()> cb;
};

Signal::Signal(uv_loop_t* loop, int signum, std::function<void()> cb) : impl_(new Impl) {
  impl_->cb = std::move(cb);
  uv_signal_init(loop, &impl_->handle);
  impl_->handle.data = impl_;
  uv_signal_start(
      &impl_->handle,
      [](uv_signal_t* s, int) {
        auto* impl = static_cast<Impl*>(s->data);
        if (!impl->cb) return;
        auto cb = impl->cb;  // a copy: the owner may destroy the handle from inside the callback
        cb();
      },
      signum);
}

Signal::~Signal() {
  impl_->cb = nullptr;
  uv_signal_stop(&impl_->handle);
  closeAndFree(impl_);
}

// ---- TcpStream

namespace {
constexpr std::size_t kReadBufferSize = 256 << 10;
}

struct TcpStream::Impl {
  uv_tcp_t handle;
  StreamHandler* handler = nullptr;  // nullptr once detached (closed or destroyed)
  uv_connect_t connectReq;
  std::unique_ptr<char[]> readBuf;
  std::vector<uv_write_t*> freeWrites;  // recycled write requests
  std::size_t writesInFlight = 0;
  bool closing = false;
  bool owned = true;  // false once the wrapper is destroyed: the last callback frees

  ~Impl() {
    for (auto* w : freeWrites) delete w;
  }
};

TcpStream::TcpStream(uv_loop_t* loop, StreamHandler& handler) : impl_(new Impl) {
  uv_tcp_init(loop, &impl_->handle);
  impl_->handle.data = impl_;
  impl_->handler = &handler;
  impl_->connectReq.data = impl_;
  uv_tcp_nodelay(&impl_->handle, 1);
}

TcpStream::~TcpStream() {
  impl_->handler = nullptr;
  impl_->owned = false;
  if (!impl_->closing) {
    impl_->closing = true;
    closeAndFree(impl_);
  } else if (impl_->handle.data == nullptr) {
    delete impl_;  // close() already completed
  }  // else: the pending close callback frees it (owned is false now)
}

int TcpStream::connect(const sockaddr* addr) {
  return uv_tcp_connect(&impl_->connectReq, &impl_->handle, addr, [](uv_connect_t* req, int status) {
    auto* impl = static_cast<Impl*>(req->data);
    if (impl->handler && !impl->closing) impl->handler->onConnect(status);
  });
}

int TcpStream::startRead() {
  if (impl_->closing) return UV_EBADF;
  return uv_read_start(
      reinterpret_cast<uv_stream_t*>(&impl_->handle),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* impl = static_cast<Impl*>(h->data);
        if (!impl->readBuf) impl->readBuf.reset(new char[kReadBufferSize]);
        buf->base = impl->readBuf.get();
        buf->len = kReadBufferSize;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* impl = static_cast<Impl*>(s->data);
        if (n == 0 || !impl->handler || impl->closing) return;
        if (n < 0) {
          uv_read_stop(s);
          impl->handler->onReadEnd(static_cast<int>(n));
          return;
        }
        impl->handler->onRead(std::string_view(buf->base, static_cast<std::size_t>(n)));
      });
}

void TcpStream::stopRead() {
  if (!impl_->closing) uv_read_stop(reinterpret_cast<uv_stream_t*>(&impl_->handle));
}

int TcpStream::write(const Buf* bufs, std::size_t count) {
  if (impl_->closing) return UV_EBADF;
  uv_write_t* req;
  if (!impl_->freeWrites.empty()) {
    req = impl_->freeWrites.back();
    impl_->freeWrites.pop_back();
  } else {
    req = new uv_write_t;
  }
  req->data = impl_;
  int rc = uv_write(req, reinterpret_cast<uv_stream_t*>(&impl_->handle),
                    reinterpret_cast<const uv_buf_t*>(bufs), static_cast<unsigned>(count),
                    [](uv_write_t* r, int status) {
                      auto* impl = static_cast<Impl*>(r->data);
                      impl->freeWrites.push_back(r);
                      --impl->writesInFlight;
                      if (impl->handler) impl->handler->onWriteDone(status);
                    });
  if (rc != 0) {
    impl_->freeWrites.push_back(req);
    return rc;
  }
  ++impl_->writesInFlight;
  return 0;
}

std::size_t TcpStream::writeQueueSize() const { return impl_->handle.write_queue_size; }

void TcpStream::setNoDelay(bool on) { uv_tcp_nodelay(&impl_->handle, on ? 1 : 0); }

void TcpStream::close() {
  if (impl_->closing) return;
  impl_->closing = true;
  // The Impl stays allocated while the wrapper lives (its destructor frees it); the handle closes now.
  uv_close(reinterpret_cast<uv_handle_t*>(&impl_->handle), [](uv_handle_t* h) {
    auto* impl = static_cast<Impl*>(h->data);
    if (!impl->owned) delete impl;
    else impl->handle.data = nullptr;  // marks the close as complete
  });
}

int TcpStream::shutdown() {
  if (impl_->closing) return UV_EBADF;
  auto* req = new uv_shutdown_t;
  int rc = uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&impl_->handle),
                       [](uv_shutdown_t* r, int) { delete r; });
  if (rc != 0) delete req;
  return rc;
}

bool TcpStream::closed() const { return impl_->closing; }

std::string TcpStream::localAddress() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (impl_->closing || uv_tcp_getsockname(&impl_->handle, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return formatAddress(ss);
}

std::string TcpStream::peerAddress() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (impl_->closing || uv_tcp_getpeername(&impl_->handle, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return formatAddress(ss);
}

int TcpStream::acceptFrom(uv_stream_t* server) {
  return uv_accept(server, reinterpret_cast<uv_stream_t*>(&impl_->handle));
}

// ---- TcpListener

struct TcpListener::Impl {
  uv_tcp_t handle;
  std::function<void(uv_stream_t*)> onConnection;
  bool closing = false;  // close() was called
  bool closed = false;   // and its close callback ran
  bool owned = true;     // false once the wrapper is destroyed: the close callback frees
};

TcpListener::TcpListener(uv_loop_t* loop) : impl_(new Impl) {
  uv_tcp_init(loop, &impl_->handle);
  impl_->handle.data = impl_;
}

TcpListener::~TcpListener() {
  impl_->onConnection = nullptr;
  impl_->owned = false;
  if (!impl_->closing) {
    impl_->closing = true;
    closeAndFree(impl_);
  } else if (impl_->closed) {
    delete impl_;
  }  // else: close() is still completing; its callback frees (owned is false now)
}

int TcpListener::listen(std::string_view hostPort, int backlog, std::function<void(uv_stream_t*)> onConnection,
                        std::string* error) {
  sockaddr_storage ss{};
  if (!parseHostPort(hostPort, ss)) {
    if (error) *error = "bad listen address '" + std::string(hostPort) + "' (want ip:port or [ipv6]:port)";
    return UV_EINVAL;
  }
  impl_->onConnection = std::move(onConnection);
  int rc = uv_tcp_bind(&impl_->handle, reinterpret_cast<const sockaddr*>(&ss), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&impl_->handle), backlog, [](uv_stream_t* s, int status) {
      auto* impl = static_cast<Impl*>(s->data);
      if (status == 0 && impl->onConnection) impl->onConnection(s);
    });
  }
  if (rc != 0 && error) *error = "listen on " + std::string(hostPort) + ": " + uvError(rc);
  return rc;
}

std::uint16_t TcpListener::port() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(&impl_->handle, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

void TcpListener::close() {
  impl_->onConnection = nullptr;
  if (impl_->closing) return;
  impl_->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&impl_->handle), [](uv_handle_t* h) {
    auto* impl = static_cast<Impl*>(h->data);
    if (!impl->owned) delete impl;
    else impl->closed = true;
  });
}

// ---- addresses

bool parseHostPort(std::string_view text, sockaddr_storage& out) {
  std::string host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5) return false;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p > 65535) return false;
  std::memset(&out, 0, sizeof out);
  if (uv_ip4_addr(host.c_str(), static_cast<int>(p), reinterpret_cast<sockaddr_in*>(&out)) == 0) return true;
  if (uv_ip6_addr(host.c_str(), static_cast<int>(p), reinterpret_cast<sockaddr_in6*>(&out)) == 0) return true;
  return false;
}

}  // namespace sluice::net
