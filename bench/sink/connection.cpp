// connection.cpp: one sink connection. Reads go straight into ServerSession::feed(); the replies a read produced
// leave in one write (or, with --reply-delay, join a FIFO of batches each due `delay` after its read arrived, all
// due batches leaving in one write). Buffers keep their capacity, so the steady state allocates nothing.
//
// Ownership: created and owned by its Worker (intrusive list); deletes itself in finish(). Threads: the worker's loop.
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
    : w_(worker), mode_(mode), stream_(worker.loop.get(), *this), session_(worker.config, *this) {
  std::uint64_t s = worker.sink.options().seed ^ (std::uint64_t{worker.index} << 48) ^ ++worker.connectionSeq;
  rng_ = splitmix(s);
}

Connection::~Connection() {
  if (counted_) {
    w_.sink.active_.fetch_sub(1, std::memory_order_relaxed);
    WorkerCounters::bump(w_.counters.connectionsActive, static_cast<std::uint64_t>(-1));
  }
}

// The worker linked this connection first: start() may already end (and delete) it.
bool Connection::accept(uv_stream_t* server) {
  if (stream_.acceptFrom(server) != 0) return false;
  lastActivity_ = w_.loop.now();
  start();
  return true;
}

void Connection::start() {
  if (mode_ == Mode::Refuse) {
    WorkerCounters::bump(w_.counters.connectionsRefused);
    closing_ = true;
    emit("421 4.7.0 too many connections\r\n", After::Close);
    return;
  }
  counted_ = true;
  w_.sink.active_.fetch_add(1, std::memory_order_relaxed);
  WorkerCounters::bump(w_.counters.connectionsActive);
  WorkerCounters::bump(w_.counters.connectionsAccepted);
  if (stream_.startRead() == 0) reading_ = true;
  switch (draw(Stage::Greeting)) {
    case Fault::Drop:
      WorkerCounters::bump(w_.counters.disconnects);
      closing_ = true;
      emit({}, After::Drop);
      return;
    case Fault::Temp: {
      WorkerCounters::bump(w_.counters.replies4xx);
      closing_ = true;
      std::string line = "421 4.3.2 " + w_.config.hostname + " Service not available (injected)\r\n";
      emit(line, After::Close);
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
  if (dropRequested_) after = After::Drop;
  else if (session_.closeRequested()) after = After::Close;
  if (after != After::None) closing_ = true;
  const std::string& out = session_.output();
  if (!out.empty() || after != After::None) emit(out, after);
  session_.clearOutput();
}

void Connection::emit(std::string_view bytes, After after) {
  const std::uint32_t delay = w_.sink.options().replyDelayMs;
  if (delay == 0) {
    if (!bytes.empty()) send(bytes);
    if (after != After::None) afterWrites(after);
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
  std::size_t end = delayedHead_;
  After after = After::None;
  while (queueHead_ < queue_.size() && queue_[queueHead_].due <= now && after == After::None) {
    end = queue_[queueHead_].end;
    after = queue_[queueHead_].after;
    ++queueHead_;
  }
  if (end > delayedHead_) send(std::string_view(delayed_).substr(delayedHead_, end - delayedHead_));
  delayedHead_ = end;
  if (queueHead_ == queue_.size()) {
    queue_.clear();
    queueHead_ = 0;
    delayed_.clear();
    delayedHead_ = 0;
  } else {
    armDelayTimer();
  }
  if (after != After::None) afterWrites(after);  // may delete this
}

// Queues bytes for writing: at most one write in flight; what arrives meanwhile leaves in the next one.
void Connection::send(std::string_view bytes) {
  if (writing_) {
    pending_.append(bytes);
    if (pending_.size() > kMaxPendingReplies && reading_) {
      stream_.stopRead();
      reading_ = false;
    }
    return;
  }
  sending_.assign(bytes);
  net::TcpStream::Buf buf{sending_.data(), sending_.size()};
  if (stream_.write(&buf, 1) != 0) {
    closing_ = true;
    afterWrites_ = After::Drop;
    return;
  }
  writing_ = true;
}

void Connection::onWriteDone(int status) {
  writing_ = false;
  if (status != 0) {
    finish();
    return;
  }
  if (!pending_.empty()) {
    sending_.swap(pending_);
    pending_.clear();
    net::TcpStream::Buf buf{sending_.data(), sending_.size()};
    if (stream_.write(&buf, 1) != 0) {
      finish();
      return;
    }
    writing_ = true;
    if (!reading_ && !closing_ && stream_.startRead() == 0) reading_ = true;
    return;
  }
  if (!reading_ && !closing_ && stream_.startRead() == 0) reading_ = true;
  if (afterWrites_ != After::None) afterWrites(afterWrites_);
}

// Runs `after` once every queued write finished: Drop closes at once, Close sends FIN and waits for the peer's.
void Connection::afterWrites(After after) {
  if (writing_) {
    if (after == After::Drop || afterWrites_ == After::None) afterWrites_ = after;
    return;
  }
  if (after == After::Drop || w_.shuttingDown()) {
    finish();
    return;
  }
  if (lingering_) return;
  if (stream_.shutdown() != 0) {
    finish();
    return;
  }
  lingering_ = true;
  lastActivity_ = w_.loop.now();
  if (!reading_ && stream_.startRead() == 0) reading_ = true;  // to see the peer's EOF
}

void Connection::finish() {
  w_.unlink(this);
  delete this;
}

// ---- input

void Connection::onRead(std::string_view bytes) {
  if (closing_) return;  // after QUIT, a refusal or an injected drop: input is discarded
  lastActivity_ = w_.loop.now();
  session_.feed(bytes);
  flushSession();
  if (!closing_ && reading_ && !session_.wantsInput()) {
    stream_.stopRead();
    reading_ = false;
  }
}

void Connection::onReadEnd(int status) {
  reading_ = false;
  finish();
}

void Connection::tick(std::uint64_t now) {
  if (afterWrites_ == After::Drop && !writing_) {  // a write could not even be queued
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
    queue_.back().after = After::Drop;  // the last delayed batch closes the connection
  } else {
    afterWrites(After::Drop);  // may delete this
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
