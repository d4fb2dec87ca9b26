// sink.cpp: the Sink (workers on their threads) and a Worker (one libuv loop: listener, connections, a one-second
// sweep for idle timeouts and lingering closes, and a wake-up for stop()). Also the maildir writer.
//
// Ownership: Sink owns the workers; a worker owns its handles and connections and releases them on its own thread
// after its loop ended. Threads: see sink.hpp. Errors: start() reports bind and maildir failures as text.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

#include "bench/sink/worker.hpp"
#include "engine/net/tls.hpp"

namespace sluice::sink {

namespace {
constexpr int kBacklog = 4096;
constexpr std::uint64_t kShutdownCapMs = 2000;  // longest a stop waits for delayed replies
}  // namespace

// ---- SO_REUSEPORT listener

class ReusePortListener {
 public:
  ReusePortListener(uv_loop_t* loop, Sink::Worker& worker) : worker_(worker) {
    handle_ = new uv_tcp_t;
    handle_->data = this;
    loop_ = loop;
  }
  ~ReusePortListener() {
    auto* h = reinterpret_cast<uv_handle_t*>(handle_);
    if (!initialised_) {
      delete handle_;
    } else {
      handle_->data = nullptr;
      uv_close(h, [](uv_handle_t* x) { delete reinterpret_cast<uv_tcp_t*>(x); });
    }
  }
  int listen(const sockaddr_storage& addr) {
    int rc = uv_tcp_init_ex(loop_, handle_, addr.ss_family);
    if (rc != 0) return rc;
    initialised_ = true;
    uv_os_fd_t fd;
    if ((rc = uv_fileno(reinterpret_cast<uv_handle_t*>(handle_), &fd)) != 0) return rc;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return -errno;
    if ((rc = uv_tcp_bind(handle_, reinterpret_cast<const sockaddr*>(&addr), 0)) != 0) return rc;
    return uv_listen(reinterpret_cast<uv_stream_t*>(handle_), kBacklog, [](uv_stream_t* s, int status) {
      auto* self = static_cast<ReusePortListener*>(s->data);
      if (status == 0 && self) self->worker_.onConnection(s);
    });
  }
  std::uint16_t port() const {
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (uv_tcp_getsockname(handle_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }

 private:
  Sink::Worker& worker_;
  uv_loop_t* loop_;
  uv_tcp_t* handle_;
  bool initialised_ = false;
};

// ---- Worker

Sink::Worker::Worker(Sink& s, unsigned i, Maildir* md)
    : sink(s), index(i), maildir(md), readBuffer(new char[kReadBufferSize]) {
  const SinkOptions& o = s.options();
  config.hostname = o.hostname;
  config.pipelining = o.pipelining;
  config.chunking = o.chunking;
  config.eightBitMime = o.eightBitMime;
  config.binaryMime = o.binaryMime;
  config.smtpUtf8 = o.smtpUtf8;
  config.size = o.size;
  config.dsn = o.dsn;
  config.startTls = s.tlsContext() != nullptr;
  config.enhancedStatusCodes = o.enhancedStatusCodes;
  config.refuseEhlo = !o.ehlo;
  config.longLines = smtp::LongLinePolicy::Accept;
  config.limits.maxMessageSize = o.maxMessageSize;
  config.limits.maxRecipients = o.maxRecipients;
  config.limits.idleTimeoutMs = o.idleTimeoutMs;
  wake_ = std::make_unique<net::Async>(loop.get(), [this] { beginShutdown(); });
  sweepTimer_ = std::make_unique<net::Timer>(loop.get());
  sweepTimer_->start(1000, [this] { sweep(); }, 1000);
}

Sink::Worker::~Worker() = default;

bool Sink::Worker::listen(const std::string& hostPort, std::string* error) {
  if (sink.options().threads <= 1) {
    listener_ = std::make_unique<net::TcpListener>(loop.get());
    return listener_->listen(hostPort, kBacklog, [this](uv_stream_t* s) { onConnection(s); }, error) == 0;
  }
  sockaddr_storage addr{};
  if (!net::parseHostPort(hostPort, addr)) {
    if (error) *error = "bad listen address '" + hostPort + "' (want ip:port or [ipv6]:port)";
    return false;
  }
  reuseListener_ = std::make_unique<ReusePortListener>(loop.get(), *this);
  if (int rc = reuseListener_->listen(addr); rc != 0) {
    if (error) *error = "listen on " + hostPort + ": " + net::uvError(rc);
    return false;
  }
  return true;
}

std::uint16_t Sink::Worker::port() const {
  if (listener_) return listener_->port();
  if (reuseListener_) return reuseListener_->port();
  return 0;
}

void Sink::Worker::run() {
  loop.run();
  // Release every handle on this thread, then let their close callbacks run (no uv_stop() may be pending then).
  loopEnded_ = true;
  while (head_) head_->finish();  // closes; deleted by the close callbacks of the next run
  listener_.reset();
  reuseListener_.reset();
  sweepTimer_.reset();
  deadline_.reset();
  wake_.reset();
  loop.run();
  sink.workerEnded();
}

void Sink::Worker::onConnection(uv_stream_t* server) {
  const std::uint32_t max = sink.options().maxConnections;
  const bool refuse = shuttingDown_ || (max != 0 && sink.active_.load(std::memory_order_relaxed) >= max);
  auto* c = new Connection(*this, refuse ? Connection::Mode::Refuse : Connection::Mode::Serve);
  c->next = head_;
  if (head_) head_->prev = c;
  head_ = c;
  c->accept(server);  // may end it at once
}

void Sink::Worker::unlink(Connection* c) {
  if (c->prev) c->prev->next = c->next;
  else head_ = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  if (shuttingDown_ && !head_ && !loopEnded_) loop.stop();
}

void Sink::Worker::sweep() {
  const std::uint64_t now = loop.now();
  for (Connection* c = head_; c;) {
    Connection* next = c->next;  // tick() may delete c
    c->tick(now);
    c = next;
  }
}

void Sink::Worker::beginShutdown() {
  if (shuttingDown_) return;
  shuttingDown_ = true;
  listener_.reset();
  reuseListener_.reset();
  if (!head_) {
    loop.stop();
    return;
  }
  deadline_ = std::make_unique<net::Timer>(loop.get());
  deadline_->start(kShutdownCapMs, [this] { loop.stop(); });
  if (sink.graceful_.load()) return;  // served until their clients close them, or the deadline
  for (Connection* c = head_; c;) {
    Connection* next = c->next;
    c->shutdown();  // may delete c (and stop the loop when it was the last)
    c = next;
  }
}

// ---- Sink

Sink::Sink(SinkOptions options) : options_(std::move(options)) {}

Sink::~Sink() {
  stop();
  wait();
}

bool Sink::start(std::string* error) {
  if (started_) return true;
  std::signal(SIGPIPE, SIG_IGN);
  if (!options_.maildir.empty()) {
    maildir_ = std::make_unique<Maildir>(options_.maildir);
    if (!maildir_->prepare(error)) return false;
  }
  if (options_.startTls && tlsAvailable()) {
    std::string tlsError;
    tls_ = net::TlsContext::makeSelfSignedServer(options_.hostname, &tlsError);
    if (!tls_) {
      if (error) *error = "STARTTLS: " + tlsError + " (use --no-starttls)";
      return false;
    }
  }
  const unsigned n = options_.threads == 0 ? 1 : options_.threads;
  std::string hostPort = options_.listen;
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(*this, i, maildir_.get());
    if (!w->listen(hostPort, error)) {
      workers_.clear();  // loops closed unrun: the destructors run them to finish the closes
      return false;
    }
    if (i == 0) {
      port_ = w->port();
      if (n > 1) {  // the other listeners share the first one's (possibly ephemeral) port
        auto colon = hostPort.rfind(':');
        hostPort = hostPort.substr(0, colon + 1) + std::to_string(port_);
      }
    }
    workers_.push_back(std::move(w));
  }
  started_ = true;
  running_ = n;
  for (auto& w : workers_) {
    Worker* wp = w.get();
    wp->thread = std::thread([wp] { wp->run(); });
  }
  return true;
}

void Sink::stop() {
  if (!started_ || stopping_.exchange(true)) return;
  for (auto& w : workers_) w->requestStop();
}

void Sink::stopGracefully() {
  graceful_.store(true);
  stop();
}

void Sink::wait() {
  if (!started_ || joined_) return;
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  joined_ = true;
}

void Sink::workerEnded() {
  stopping_.store(true);
  if (running_.fetch_sub(1) == 1 && onFinished_) onFinished_();
}

SinkCounters Sink::counters() const {
  SinkCounters out;
  for (const auto& w : workers_) w->counters.addTo(out);
  return out;
}

void WorkerCounters::addTo(SinkCounters& o) const {
  auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  o.connectionsAccepted += get(connectionsAccepted);
  o.connectionsRefused += get(connectionsRefused);
  o.connectionsActive += get(connectionsActive);
  o.ehlo += get(ehlo);
  o.helo += get(helo);
  o.tls += get(tls);
  o.transactions += get(transactions);
  o.recipients += get(recipients);
  o.messages += get(messages);
  o.messagesBdat += get(messagesBdat);
  o.messagesData += get(messagesData);
  o.bytes += get(bytes);
  o.replies2xx += get(replies2xx);
  o.replies4xx += get(replies4xx);
  o.replies5xx += get(replies5xx);
  o.disconnects += get(disconnects);
  o.maildirErrors += get(maildirErrors);
}

// ---- Maildir

bool Maildir::prepare(std::string* error) const {
  for (const char* sub : {"", "/tmp", "/new", "/cur"}) {
    std::string p = dir_ + sub;
    if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) {
      if (error) *error = "maildir " + p + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

bool Maildir::store(unsigned worker, std::uint64_t seq, std::string_view header, std::string_view body) const {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  char name[96];
  std::snprintf(name, sizeof name, "%lld.P%dW%uN%010llu.sink", static_cast<long long>(ts.tv_sec),
                static_cast<int>(::getpid()), worker, static_cast<unsigned long long>(seq));
  const std::string tmp = dir_ + "/tmp/" + name;
  const std::string dst = dir_ + "/new/" + name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  iovec iov[2] = {{const_cast<char*>(header.data()), header.size()}, {const_cast<char*>(body.data()), body.size()}};
  std::size_t total = header.size() + body.size();
  std::size_t done = 0;
  bool ok = true;
  while (done < total) {  // writev, resumed after a short write
    iovec cur[2];
    int n = 0;
    std::size_t skip = done;
    for (auto& v : iov) {
      if (skip >= v.iov_len) {
        skip -= v.iov_len;
        continue;
      }
      cur[n++] = {static_cast<char*>(v.iov_base) + skip, v.iov_len - skip};
      skip = 0;
    }
    ssize_t w = ::writev(fd, cur, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ok = false;
      break;
    }
    done += static_cast<std::size_t>(w);
  }
  if (::close(fd) != 0) ok = false;
  if (ok && ::rename(tmp.c_str(), dst.c_str()) != 0) ok = false;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

}  // namespace sluice::sink
