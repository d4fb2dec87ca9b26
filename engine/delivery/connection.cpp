// connection.cpp: one pooled SMTP connection (see connection.hpp).
#include "engine/delivery/connection.hpp"

#include <utility>

#include "engine/delivery/body_choice.hpp"
#include "engine/delivery/idna.hpp"
#include "engine/delivery/pool_sizing.hpp"
#include "engine/delivery/shard.hpp"
#include "engine/delivery/site.hpp"

namespace sluice::delivery {
namespace {
// Ciphertext queued towards the socket above which the session's writes stay unacknowledged, so a slow peer
// holds the session back instead of growing the queue (the session bounds its own unacknowledged writes).
constexpr std::size_t kMaxQueuedCiphertext = 1 << 20;
}  // namespace

Connection::Connection(Shard& shard, Site& site, std::vector<Candidate> candidates)
    : shard_(shard),
      site_(site),
      candidates_(std::move(candidates)),
      timer_(shard.loop()),
      idleTimer_(shard.loop()) {
  window_ = shard.clientConfig().maxInFlightTransactions;
  if (window_ == 0) window_ = 1;
}

Connection::~Connection() {
  // Units still held (only when the engine is torn down abruptly) go back as "not attempted".
  for (auto& [h, unit] : units_) shard_.abandonUnit(std::move(unit));
}

void Connection::start() { connectNext(); }

void Connection::connectNext() {
  stream_.reset();
  session_.reset();
  tls_.reset();
  cipherQueue_.clear();
  cipherQueued_ = 0;
  acksOwed_ = 0;
  writesPending_ = 0;
  readyOnce_ = false;
  ending_ = false;
  sessionClosed_ = false;
  streamClosed_ = false;
  deadlineGen_ = 0;
  timer_.stop();
  if (next_ >= candidates_.size()) {
    gone_ = true;
    site_.connectionFailed(*this, lastError_.empty() ? std::string("no address to connect to") : lastError_);
    return;
  }
  current_ = &candidates_[next_++];
  stream_ = std::make_unique<net::TcpStream>(shard_.loop(), *this);
  session_ = std::make_unique<smtp::ClientSession>(shard_.clientConfig());
  int rc = stream_->connect(reinterpret_cast<const sockaddr*>(&current_->addr));
  if (rc != 0) {
    connectFailed(net::uvError(rc));
    return;
  }
  auto timeout = static_cast<std::uint64_t>(shard_.config().pool.connectTimeout.count());
  timer_.start(timeout, [this] { connectFailed("timed out"); });
}

void Connection::connectFailed(const std::string& why) {
  lastError_ = "connect to " + current_->host + "[" + current_->addrText + "]: " + why;
  shard_.countConnectFailure();
  // Through the loop, never from inside a callback of the stream being replaced: keeps the stack flat.
  timer_.start(0, [this] { connectNext(); });
}

void Connection::onConnect(int status) {
  timer_.stop();
  if (status != 0) {
    connectFailed(net::uvError(status));
    return;
  }
  stream_->startRead();
  session_->onConnected();
  drive();
}

void Connection::onRead(std::string_view bytes) {
  if (tls_) {
    if (!tls_->feedCiphertext(bytes)) {
      sendCiphertext();
      session_->onTlsFailed(tls_->error());
      drive();
      return;
    }
    if (!tlsUp_ && tls_->handshakeDone()) {
      tlsUp_ = true;
      sendCiphertext();
      session_->onTlsEstablished();  // its EHLO goes out with the drive() below
    }
    std::string plain = tls_->takePlaintext();
    sendCiphertext();
    if (!plain.empty()) session_->onBytes(plain);
    if (tls_->peerClosed()) session_->onPeerClosed();
  } else {
    session_->onBytes(bytes);
  }
  drive();
}

void Connection::onReadEnd(int status) {
  if (status != UV_EOF) lastError_ = "read from " + current_->addrText + ": " + net::uvError(status);
  session_->onPeerClosed();
  drive();
}

void Connection::onWriteDone(int status) {
  if (writesPending_ > 0) --writesPending_;
  if (tls_) {
    if (!cipherQueue_.empty()) {
      cipherQueued_ -= cipherQueue_.front().size();
      cipherQueue_.pop_front();
    }
    releaseAcks();
  } else {
    session_->onWritten();  // libuv reports every request exactly once, whatever its status
  }
  if (status != 0 && status != UV_ECANCELED && !sessionClosed_) {
    lastError_ = "write to " + current_->addrText + ": " + net::uvError(status);
    session_->onPeerClosed();
  }
  drive();
}

void Connection::writeSlices(const smtp::IoSlice* slices, std::size_t count) {
  if (tls_) {
    tls_->writePlain(std::span<const smtp::IoSlice>(slices, count));
    ++acksOwed_;
    sendCiphertext();
    releaseAcks();
    return;
  }
  static_assert(sizeof(smtp::IoSlice) == sizeof(net::TcpStream::Buf));
  int rc = stream_->write(reinterpret_cast<const net::TcpStream::Buf*>(slices), count);
  if (rc == 0) {
    ++writesPending_;
  } else {
    // The socket is gone: acknowledge the write so the session can release its buffers, then report the loss.
    lastError_ = "write to " + current_->addrText + ": " + net::uvError(rc);
    session_->onWritten();
    session_->onPeerClosed();
  }
}

void Connection::releaseAcks() {
  if (cipherQueued_ >= kMaxQueuedCiphertext) return;  // the peer is slow: keep the session waiting
  for (; acksOwed_ > 0; --acksOwed_) session_->onWritten();
}

void Connection::sendCiphertext() {
  if (!tls_ || !stream_ || streamClosed_ || tls_->pendingCiphertext() == 0) return;
  cipherQueue_.push_back(tls_->takeCiphertext());
  const std::string& bytes = cipherQueue_.back();
  cipherQueued_ += bytes.size();
  net::TcpStream::Buf buf{bytes.data(), bytes.size()};
  if (stream_->write(&buf, 1) == 0) {
    ++writesPending_;
  } else {
    cipherQueued_ -= bytes.size();
    cipherQueue_.pop_back();
  }
}

void Connection::startTls() {
  net::TlsContext* ctx = shard_.tlsContext();
  if (ctx == nullptr) {
    session_->onTlsFailed("TLS is not available");
    return;
  }
  tls_ = std::make_unique<net::TlsFilter>(*ctx, net::TlsRole::Client, current_->host);
  tlsUp_ = false;
  sendCiphertext();  // the ClientHello
}

void Connection::drive() {
  if (driving_) {
    again_ = true;
    return;
  }
  driving_ = true;
  do {
    again_ = false;
    if (!session_) break;
    while (auto w = session_->takeWrite()) writeSlices(w->slices.data(), w->slices.size());
    while (session_) {
      auto e = session_->nextEvent();
      if (!e) break;
      handleEvent(*e);
    }
    if (!session_) break;
    if (!readyOnce_ && session_->state() == smtp::ClientState::Ready) {
      readyOnce_ = true;
      establishedMs_ = shard_.nowMs();
      site_.connectionUp(*this);
      again_ = true;
    }
    if (readyOnce_ && !ending_ && !sessionClosed_) pullUnits();
    auto d = session_->deadline();
    if (d.generation != deadlineGen_) {
      deadlineGen_ = d.generation;
      if (d.armed) {
        timer_.start(static_cast<std::uint64_t>(d.after.count()), [this] {
          if (session_) {
            session_->onTimeout();
            drive();
          }
        });
      } else {
        timer_.stop();
      }
    }
    if (sessionClosed_ && !streamClosed_ && writesPending_ == 0) closeStream();
  } while (again_);
  driving_ = false;
  // After close, libuv still completes the pending writes (cancelled); their acknowledgements let the session
  // finish its messages (MessageDone) before the connection gives up on what is left.
  if (streamClosed_ && writesPending_ == 0 && !gone_) afterClose();
}

void Connection::handleEvent(smtp::ClientEvent& e) {
  if (auto* r = std::get_if<smtp::RecipientResult>(&e)) {
    onResult(*r);
  } else if (auto* d = std::get_if<smtp::MessageDone>(&e)) {
    onMessageDone(d->message);
  } else if (std::holds_alternative<smtp::StartTlsNow>(e)) {
    startTls();
  } else if (auto* u = std::get_if<smtp::ConnectionUnusable>(&e)) {
    std::string what = u->reply.code != 0 ? u->reply.firstLine() : u->reason;
    lastError_ = current_->host + "[" + current_->addrText + "] " + what;
  } else if (auto* c = std::get_if<smtp::Closed>(&e)) {
    sessionClosed_ = true;
    ending_ = true;
    idleTimer_.stop();
    if (!c->graceful) closeStream();
  }
}

void Connection::onResult(const smtp::RecipientResult& r) {
  auto it = units_.find(r.message);
  if (it == units_.end()) return;
  shard_.recordResult(*it->second, r, transport());
}

void Connection::onMessageDone(smtp::MessageHandle h) {
  auto it = units_.find(h);
  if (it == units_.end()) return;
  std::unique_ptr<Unit> unit = std::move(it->second);
  units_.erase(it);
  shard_.unitFinished(std::move(unit), site_);
  if (units_.empty() && readyOnce_ && !ending_) armIdle();
}

void Connection::feed() {
  if (!ready() || !session_) return;
  if (driving_) {
    again_ = true;  // drive() pulls units on its next round
    return;
  }
  drive();
}

void Connection::pullUnits() {
  const auto& pool = shard_.config().pool;
  bool fed = false;
  RetireLimits limits;
  limits.maxMessages = pool.maxMessagesPerConnection;
  limits.maxAgeMs = pool.maxConnectionAge.count();
  limits.idleTimeoutMs = 0;  // idleness is timed by idleTimer_
  while (units_.size() < window_ && cipherQueued_ < kMaxQueuedCiphertext) {
    if (shouldRetire(limits, submitted_, shard_.nowMs() - establishedMs_, 0)) {
      retire();  // used up or too old
      break;
    }
    std::unique_ptr<Unit> unit = site_.take();
    if (!unit) break;
    unit->startMs = shard_.nowMs();
    // What this peer gets: the stored bytes, a converted variant, or nothing (refused for this host).
    BodyChoice body = chooseBody(unit->msg, unit->addresses, session_->capabilities(), session_->chunkingInUse(),
                                 shard_.config().wrapNonMime8bit);
    if (body.refused) {
      refuseUnit(std::move(unit), body.refusal);
      fed = true;
      continue;
    }
    smtp::OutboundMessage m;
    m.handle = nextHandle_++;
    const auto& view = unit->msg->view;
    m.reversePath = asciiDomainAddress(view.reversePath());
    m.params = unit->msg->mailParams;
    m.params.body = body.body;
    m.params.smtpUtf8 = body.smtpUtf8;
    m.params.size = body.size;
    m.recipients.reserve(unit->rcpts.size());
    for (std::size_t i = 0; i < unit->rcpts.size(); ++i) {
      m.recipients.push_back({asciiDomainAddress(unit->addresses[i]), unit->params[i]});
    }
    if (body.source) {
      m.source = std::move(body.source);
    } else {
      m.body.push_back(view.body());
    }
    unit->body = body.transport;
    units_.emplace(m.handle, std::move(unit));
    session_->submit(std::move(m));
    ++submitted_;
    fed = true;
  }
  if (fed) {
    idleTimer_.stop();
    again_ = true;
  }
  if (!ending_ && shouldRetire(limits, submitted_, shard_.nowMs() - establishedMs_, 0)) retire();
  if (units_.empty() && !ending_) armIdle();
}

// Every recipient of the unit fails for this host without a byte sent (the peer cannot take the message).
void Connection::refuseUnit(std::unique_ptr<Unit> unit, const smtp::Reply& why) {
  const TransportInfo t = transport();
  for (std::uint32_t i = 0; i < unit->rcpts.size(); ++i) {
    smtp::RecipientResult r;
    r.recipient = i;
    r.outcome = smtp::Outcome::PermanentFailure;
    r.reply = why;
    r.synthesized = true;
    r.attempted = false;
    shard_.recordResult(*unit, r, t);
  }
  shard_.unitFinished(std::move(unit), site_);
}

void Connection::armIdle() {
  if (idleTimer_.active()) return;
  auto ms = static_cast<std::uint64_t>(shard_.config().pool.idleTimeout.count());
  idleTimer_.start(ms, [this] {
    if (idle()) {
      retire();
      drive();
    }
  });
}

void Connection::retire() {
  if (ending_ || !session_) return;
  ending_ = true;
  idleTimer_.stop();
  if (shard_.stopping()) {
    // Messages no transaction has started on go back untouched instead of waiting their turn on this connection.
    for (smtp::MessageHandle h : session_->withdrawUnstarted()) {
      auto it = units_.find(h);
      if (it == units_.end()) continue;
      std::unique_ptr<Unit> unit = std::move(it->second);
      units_.erase(it);
      shard_.abandonUnit(std::move(unit));
    }
  }
  session_->quit();
  again_ = true;
  if (!driving_) drive();
}

void Connection::closeStream() {
  if (streamClosed_) return;
  streamClosed_ = true;
  timer_.stop();
  idleTimer_.stop();
  if (stream_) stream_->close();
}

void Connection::afterClose() {
  if (!readyOnce_ && units_.empty() && !shard_.stopping()) {
    shard_.countConnectFailure();
    connectNext();
    return;
  }
  gone_ = true;
  // Units still here never got their results (should not happen: the session reports every recipient).
  for (auto& [h, unit] : units_) shard_.abandonUnit(std::move(unit));
  units_.clear();
  site_.connectionGone(*this, readyOnce_ ? std::string() : lastError_);
}

TransportInfo Connection::transport() const {
  TransportInfo t;
  t.where = current_;
  if (session_) {
    t.pipelined = session_->pipeliningInUse();
    t.chunking = session_->chunkingInUse();
    t.tls = session_->tlsActive();
    t.dsn = session_->capabilities().dsn;
  }
  return t;
}

}  // namespace sluice::delivery
