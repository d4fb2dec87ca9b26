// connection.cpp: one sink connection. Reads go straight into ServerSession::feed(); the replies a read produced
// leave in one write (or, with --reply-delay, join a FIFO of batches each due `delay` after its read arrived, all
// due batches leaving in one write). Buffers keep their capacity, so the steady state allocates nothing.
//
// Ownership: created and owned by its Worker (intrusive list); finish() unlinks it and closes the socket, the close
// callback deletes it. Threads: the worker's loop.
// Errors: a failed write or read ends the connection.
#include <cstring>

#include "bench/sink/worker.hpp"

namespace sluice::sink {

namespace {

constexpr std::size_t kMaxPendingReplies = 4u << 20;  // stop reading while this much is unwritten
constexpr std::uint64_t kLingerMs = 3000;              // after our FIN, wait this long for the peer's

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

const char* bodyName(smtp::BodyType b) {
  switch (b) {
    case smtp::BodyType::SevenBit: return "7BIT";
    case smtp::BodyType::EightBitMime: return "8BITMIME";
    case smtp::BodyType::BinaryMime: return "BINARYMIME";
    case smtp::BodyType::Unspecified: break;
  }
  return "none";
}

}  // namespace

Connection::Connection(Sink::Worker& worker, Mode mode)
    : w_(worker), mode_(mode), session_(worker.config, *this) {
  std::uint64_t s = worker.sink.options().seed ^ (std::uint64_t{worker.index} << 48) ^ ++worker.connectionSeq;
  rng_ = splitmix(s);
  uv_tcp_init(worker.loop.get(), &tcp_);
  tcp_.data = this;
  writeReq_.data = this;
}

Connection::~Connection() {
  if (counted_) {
    w_.sink.active_.fetch_sub(1, std::memory_order_relaxed);
    WorkerCounters::bump(w_.counters.connectionsActive, static_cast<std::uint64_t>(-1));
  }
}

void Connection::accept(uv_stream_t* server) {
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&tcp_)) != 0) {
    finish();
    return;
  }
  uv_tcp_nodelay(&tcp_, 1);  // each write is a complete batch of replies
  lastActivity_ = w_.loop.now();
  start();
}

void Connection::start() {
  if (mode_ == Mode::Refuse) {
    WorkerCounters::bump(w_.counters.connectionsRefused);
    closing_ = true;
    emit("421 4.7.0 too many connections\r\n", After::Linger);
    return;
  }
  counted_ = true;
  w_.sink.active_.fetch_add(1, std::memory_order_relaxed);
  WorkerCounters::bump(w_.counters.connectionsActive);
  WorkerCounters::bump(w_.counters.connectionsAccepted);
  startReading();
  switch (draw(Stage::Greeting)) {
    case Fault::Drop:
      WorkerCounters::bump(w_.counters.disconnects);
      closing_ = true;
      emit({}, After::Close);
      return;
    case Fault::Temp: {
      WorkerCounters::bump(w_.counters.replies4xx);
      closing_ = true;
      std::string line = "421 4.3.2 " + w_.config.hostname + " Service not available (injected)\r\n";
      emit(line, After::Linger);
      return;
    }
    case Fault::Perm:
      WorkerCounters::bump(w_.counters.replies5xx);
      session_.refuse(w_.config.hostname + " Service refused (injected)");
      break;
    case Fault::None:
      WorkerCounters::bump(w_.counters.replies2xx);
      session_.greet();
      break;
  }
  flushSession();
}

// One draw per stage event (none when the stage has no rates): disconnect, else permfail, else tempfail.
Connection::Fault Connection::draw(Stage stage) {
  const auto& f = w_.sink.options().faults;
  const auto i = static_cast<std::size_t>(stage);
  const std::uint64_t d = f.disconnect[i], p = f.permfail[i], t = f.tempfail[i];
  if (d + p + t == 0) return Fault::None;
  const std::uint64_t r = splitmix(rng_) % 1000000u;
  if (r < d) return Fault::Drop;
  if (r < d + p) return Fault::Perm;
  if (r < d + p + t) return Fault::Temp;
  return Fault::None;
}

void Connection::countVerdict(const smtp::Verdict& v) {
  if (v.kind == smtp::Verdict::Kind::Pending) return;
  WorkerCounters::bump(v.kind == smtp::Verdict::Kind::Accept ? w_.counters.replies2xx
                       : v.code >= 500                        ? w_.counters.replies5xx
                                                              : w_.counters.replies4xx);
}

// ---- session output

void Connection::flushSession() {
  After after = After::None;
  if (dropRequested_ || session_.closeRequested()) {
    after = After::Close;
    closing_ = true;
  } else if (session_.awaitingTls() && !tlsRequested_) {
    after = After::StartTls;  // the 220 leaves in plaintext, everything after it encrypted
    tlsRequested_ = true;
  }
  const std::string& out = session_.output();
  if (!out.empty() || after != After::None) emit(out, after);
  session_.clearOutput();
}

void Connection::emit(std::string_view bytes, After after) {
  const std::uint32_t delay = w_.sink.options().replyDelayMs;
  if (delay == 0) {
    if (!bytes.empty()) send(bytes);
    if (after == After::StartTls) startTls();
    else if (after != After::None) afterWrites(after);
    return;
  }
  delayed_.append(bytes);
  queue_.push_back(Delayed{w_.loop.now() + delay, delayed_.size(), after});
  if (queue_.size() - queueHead_ == 1) armDelayTimer();
}

void Connection::armDelayTimer() {
  if (!delayTimer_) delayTimer_ = std::make_unique<net::Timer>(w_.loop.get());
  const std::uint64_t now = w_.loop.now();
  const std::uint64_t due = queue_[queueHead_].due;
  delayTimer_->start(due > now ? due - now : 0, [this] { onDelayTimer(); });
}

void Connection::onDelayTimer() {
  const std::uint64_t now = w_.loop.now();
  After after = After::None;
  std::size_t end = delayedHead_;
  // Every due batch in one write; a STARTTLS 220 splits it (plaintext before, encrypted after).
  while (queueHead_ < queue_.size() && queue_[queueHead_].due <= now) {
    end = queue_[queueHead_].end;
    after = queue_[queueHead_].after;
    ++queueHead_;
    if (after == After::None) continue;
    if (end > delayedHead_) send(std::string_view(delayed_).substr(delayedHead_, end - delayedHead_));
    delayedHead_ = end;
    if (after != After::StartTls) break;
    startTls();
    after = After::None;
  }
  if (end > delayedHead_) send(std::string_view(delayed_).substr(delayedHead_, end - delayedHead_));
  delayedHead_ = end;
  if (queueHead_ == queue_.size()) {
    queue_.clear();
    queueHead_ = 0;
    delayed_.clear();
    delayedHead_ = 0;
  } else if (after == After::None) {
    armDelayTimer();
  }
  if (after != After::None) afterWrites(after);  // may finish()
}

void Connection::send(std::string_view bytes) {
  if (!tls_) {
    sendRaw(bytes);
    return;
  }
  tls_->writePlain(bytes);
  sendCiphertext();
}

void Connection::sendCiphertext() {
  const std::string out = tls_->takeCiphertext();
  if (!out.empty()) sendRaw(out);
}

// The 220 to STARTTLS was written: from now on the socket carries TLS (RFC 3207 §4).
void Connection::startTls() {
  if (dead_ || tls_) return;
  tls_ = std::make_unique<net::TlsFilter>(*w_.sink.tlsContext(), net::TlsRole::Server);
  startReading();
}

bool Connection::onStartTls() { return w_.sink.tlsContext() != nullptr; }

// At most one uv_write in flight; what is produced meanwhile leaves with the next one.
void Connection::sendRaw(std::string_view bytes) {
  if (dead_) return;
  if (writing_) {
    pending_.append(bytes);
    if (pending_.size() > kMaxPendingReplies) stopReading();  // the client does not read its replies
    return;
  }
  if (!writeNow(bytes)) {
    closing_ = true;
    afterWrites_ = After::Close;  // the sweep ends it
  }
}

bool Connection::writeNow(std::string_view bytes) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) return false;
  if (static_cast<std::size_t>(n) == bytes.size()) return true;
  sending_.assign(bytes.substr(static_cast<std::size_t>(n)));
  buf = uv_buf_init(sending_.data(), static_cast<unsigned>(sending_.size()));
  if (uv_write(&writeReq_, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, [](uv_write_t* req, int status) {
        static_cast<Connection*>(req->data)->onWriteDone(status);
      }) != 0) {
    return false;
  }
  writing_ = true;
  return true;
}

void Connection::onWriteDone(int status) {
  writing_ = false;
  if (dead_) return;  // cancelled by the close
  if (status != 0) {
    finish();
    return;
  }
  if (!pending_.empty()) {
    std::string batch;
    batch.swap(pending_);  // keeps no capacity in pending_; rare (only after a partial write)
    if (!writeNow(batch)) {
      finish();
      return;
    }
    if (writing_) return;
  }
  if (!closing_) startReading();
  if (afterWrites_ != After::None) afterWrites(afterWrites_);
}

// Runs `after` once every queued write finished.
void Connection::afterWrites(After after) {
  if (dead_) return;
  if (tlsStarted_ && !closeNotifySent_) {  // a polite TLS close: close_notify after the last reply
    closeNotifySent_ = true;
    tls_->shutdown();
    sendCiphertext();
  }
  if (writing_) {
    if (afterWrites_ == After::None || after == After::Close) afterWrites_ = after;
    return;
  }
  if (after == After::Close || w_.shuttingDown()) {
    finish();
    return;
  }
  if (lingering_) return;
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&tcp_), [](uv_shutdown_t* r, int) { delete r; }) != 0) {
    delete req;
    finish();
    return;
  }
  lingering_ = true;
  lastActivity_ = w_.loop.now();
  startReading();  // to see the peer's EOF
}

void Connection::finish() {
  if (dead_) return;
  dead_ = true;
  delayTimer_.reset();
  w_.unlink(this);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_),
           [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
}

// ---- input

void Connection::startReading() {
  if (reading_ || dead_) return;
  const int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp_),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* c = static_cast<Connection*>(h->data);
        *buf = uv_buf_init(c->w_.readBuffer.get(), Sink::Worker::kReadBufferSize);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* c = static_cast<Connection*>(s->data);
        if (n > 0) c->onRead(std::string_view(buf->base, static_cast<std::size_t>(n)));
        else if (n < 0) c->onReadEnd();
      });
  reading_ = rc == 0;
}

void Connection::stopReading() {
  if (!reading_ || dead_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
}

void Connection::onRead(std::string_view bytes) {
  if (closing_ || dead_) return;  // after QUIT, a refusal or an injected drop: input is discarded
  lastActivity_ = w_.loop.now();
  if (tls_) {
    onCiphertext(bytes);
    return;
  }
  session_.feed(bytes);
  flushSession();
  if (!closing_ && !session_.wantsInput() && !session_.awaitingTls()) stopReading();
}

void Connection::onCiphertext(std::string_view bytes) {
  const bool ok = tls_->feedCiphertext(bytes);
  sendCiphertext();  // handshake messages, or the alert of a failure
  if (!ok || tls_->failed()) {
    closing_ = true;
    afterWrites(After::Close);
    return;
  }
  if (!tlsStarted_ && tls_->handshakeDone()) {
    tlsStarted_ = true;
    WorkerCounters::bump(w_.counters.tls);
    session_.tlsStarted();
  }
  const std::string plain = tls_->takePlaintext();
  if (plain.empty()) return;
  session_.feed(plain);
  flushSession();
  if (!closing_ && !session_.wantsInput()) stopReading();
}

void Connection::onReadEnd() {
  stopReading();
  finish();
}

void Connection::tick(std::uint64_t now) {
  if (afterWrites_ == After::Close && !writing_) {  // a write failed to start
    finish();
    return;
  }
  if (lingering_) {
    if (now - lastActivity_ >= kLingerMs) finish();
    return;
  }
  if (closing_) return;
  const std::uint32_t t = session_.timeoutMs();
  if (t != 0 && now - lastActivity_ >= t) {
    session_.onTimeout();
    flushSession();
  }
}

void Connection::shutdown() {
  closing_ = true;
  if (queueHead_ < queue_.size()) {
    queue_.back().after = After::Close;  // the last delayed batch closes the connection
  } else {
    afterWrites(After::Close);  // may finish()
  }
}

// ---- session hooks

smtp::Verdict Connection::onHelo(std::string_view, bool extended) {
  WorkerCounters::bump(extended ? w_.counters.ehlo : w_.counters.helo);
  return smtp::Verdict::accept();
}

smtp::Verdict Connection::onMail(std::string_view reversePath, const smtp::MailParams& params, std::string_view) {
  smtp::Verdict v = smtp::Verdict::accept();
  switch (draw(Stage::Mail)) {
    case Fault::Drop:
      dropRequested_ = true;
      WorkerCounters::bump(w_.counters.disconnects);
      return smtp::Verdict::pending();
    case Fault::Temp: v = smtp::Verdict::reject(451, "4.3.0", "Sender temporarily refused (injected)"); break;
    case Fault::Perm: v = smtp::Verdict::reject(550, "5.7.1", "Sender refused (injected)"); break;
    case Fault::None:
      WorkerCounters::bump(w_.counters.transactions);
      if (w_.maildir) {
        from_.assign(reversePath);
        rcpts_.clear();
        body_.clear();
        bodyType_ = params.body;
        utf8_ = params.smtpUtf8;
      }
      break;
  }
  countVerdict(v);
  return v;
}

smtp::Verdict Connection::onRcpt(std::string_view forwardPath, const smtp::RcptParams&) {
  smtp::Verdict v = smtp::Verdict::accept();
  switch (draw(Stage::Rcpt)) {
    case Fault::Drop:
      dropRequested_ = true;
      WorkerCounters::bump(w_.counters.disconnects);
      return smtp::Verdict::pending();
    case Fault::Temp: v = smtp::Verdict::reject(451, "4.3.0", "Recipient temporarily refused (injected)"); break;
    case Fault::Perm: v = smtp::Verdict::reject(550, "5.1.1", "Recipient refused (injected)"); break;
    case Fault::None:
      WorkerCounters::bump(w_.counters.recipients);
      if (w_.maildir) {
        if (!rcpts_.empty()) rcpts_ += ',';
        rcpts_ += '<';
        rcpts_.append(forwardPath);
        rcpts_ += '>';
      }
      break;
  }
  countVerdict(v);
  return v;
}

void Connection::onBody(std::string_view bytes) {
  if (w_.maildir) body_.append(bytes);
}

smtp::Verdict Connection::onMessageEnd(const smtp::MessageInfo& info) {
  smtp::Verdict v = smtp::Verdict::accept();
  switch (draw(Stage::Data)) {
    case Fault::Drop:
      dropRequested_ = true;
      WorkerCounters::bump(w_.counters.disconnects);
      return smtp::Verdict::pending();
    case Fault::Temp: v = smtp::Verdict::reject(451, "4.3.0", "Message temporarily refused (injected)"); break;
    case Fault::Perm: v = smtp::Verdict::reject(554, "5.6.0", "Message refused (injected)"); break;
    case Fault::None:
      if (w_.maildir) {
        std::string header = "X-Sluice-Envelope: from=<" + from_ + ">; to=" + rcpts_ + "; body=" +
                             bodyName(bodyType_) + "; smtputf8=" + (utf8_ ? "yes" : "no") +
                             "; transport=" + (info.chunked ? "BDAT" : "DATA") +
                             "; tls=" + (session_.tlsActive() ? "yes" : "no") + "\r\n";
        const bool ok = w_.maildir->store(w_.index, ++w_.messageSeq, header, body_);
        body_.clear();
        if (!ok) {
          WorkerCounters::bump(w_.counters.maildirErrors);
          v = smtp::Verdict::reject(451, "4.3.0", "Could not store the message");
          break;
        }
      }
      WorkerCounters::bump(w_.counters.messages);
      WorkerCounters::bump(info.chunked ? w_.counters.messagesBdat : w_.counters.messagesData);
      WorkerCounters::bump(w_.counters.bytes, info.octets);
      if (const std::uint64_t limit = w_.sink.options().exitAfterMessages; limit != 0) {
        if (w_.sink.accepted_.fetch_add(1, std::memory_order_relaxed) + 1 == limit) w_.sink.stopGracefully();
      }
      break;
  }
  countVerdict(v);
  return v;
}

void Connection::onTransactionAbort() { body_.clear(); }

}  // namespace sluice::sink
