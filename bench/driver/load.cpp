// load.cpp: the load generator's sessions on one libuv loop (see load.hpp).
#include "bench/driver/load.hpp"

#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/net/uv.hpp"
#include "engine/smtp/client_session.hpp"

namespace sluice::bench {
namespace {

using Clock = std::chrono::steady_clock;

// What the sessions share: the message counter, the corpus and the totals.
struct Shared {
  const LoadOptions& opts;
  const Corpus& corpus;
  LoadResult& result;
  std::uint64_t nextMessage = 0;   // messages handed to sessions so far
  std::uint64_t finished = 0;      // messages with every recipient's result
  unsigned sessionsLeft = 0;
  Clock::time_point lastEnd{};
};

// One connection: a ClientSession driven over a TcpStream, with a timer for its deadlines.
class Session final : public net::StreamHandler {
 public:
  Session(uv_loop_t* loop, Shared& shared, const smtp::ClientConfig& config)
      : shared_(shared), stream_(loop, *this), timer_(loop), client_(config) {}

  void start(const sockaddr* addr) {
    int rc = stream_.connect(addr);
    if (rc != 0) failConnect(rc);
  }

  void onConnect(int status) override {
    if (status != 0) {
      failConnect(status);
      return;
    }
    ++shared_.result.sessionsOpened;
    stream_.setNoDelay(true);
    if (int rc = stream_.startRead(); rc != 0) {
      noteError("read: " + net::uvError(rc));
    }
    client_.onConnected();
    refill();
    pump();
  }

  void onRead(std::string_view bytes) override {
    client_.onBytes(bytes);
    pump();
  }

  void onReadEnd(int status) override {
    if (status != UV_EOF) noteError("read: " + net::uvError(status));
    readEnded_ = true;
    client_.onPeerClosed();
    pump();
    if (closed_) finish();
  }

  void onWriteDone(int status) override {
    if (status != 0) noteError("write: " + net::uvError(status));
    client_.onWritten();
    pump();
  }

 private:
  // Submits messages until the window is full or the shared supply runs out; asks for QUIT at the end.
  void refill() {
    const std::size_t window = shared_.opts.window;
    while (!quitting_ && bodies_.size() < window * 2 && shared_.nextMessage < shared_.opts.messages) {
      const std::uint64_t i = shared_.nextMessage++;
      smtp::OutboundMessage m;
      m.handle = i + 1;
      m.reversePath = shared_.corpus.options().sender;
      if (shared_.corpus.eightBit()) m.params.body = smtp::BodyType::EightBitMime;
      for (unsigned j = 0; j < shared_.corpus.options().rcpts; ++j)
        m.recipients.push_back({shared_.corpus.recipient(i, j), {}});
      std::string& body = bodies_[m.handle];
      shared_.corpus.body(i, body);
      m.params.size = body.size();
      m.body.push_back(body);
      okRcpts_[m.handle] = 0;
      client_.submit(std::move(m));
    }
    if (!quitting_ && shared_.nextMessage >= shared_.opts.messages) {
      quitting_ = true;
      client_.quit();
    }
  }

  // Drains the session's writes and events until it has nothing more to say, then re-arms the timer.
  void pump() {
    if (pumping_) return;
    pumping_ = true;
    bool again = true;
    while (again) {
      again = false;
      while (auto w = client_.takeWrite()) {
        again = true;
        bufs_.clear();
        for (const smtp::IoSlice& s : w->slices) bufs_.push_back({s.data, s.size});
        if (int rc = stream_.write(bufs_.data(), bufs_.size()); rc != 0) {
          noteError("write: " + net::uvError(rc));
          client_.onWritten();  // nothing will complete it
        }
      }
      while (auto e = client_.nextEvent()) {
        again = true;
        handle(*e);
      }
    }
    const smtp::Deadline d = client_.deadline();
    if (d.generation != deadlineGen_) {
      deadlineGen_ = d.generation;
      if (d.armed) {
        timer_.start(static_cast<std::uint64_t>(d.after.count()), [this] {
          client_.onTimeout();
          pump();
        });
      } else {
        timer_.stop();
      }
    }
    pumping_ = false;
  }

  void handle(smtp::ClientEvent& e) {
    LoadResult& r = shared_.result;
    if (auto* rr = std::get_if<smtp::RecipientResult>(&e)) {
      if (rr->outcome == smtp::Outcome::Delivered) {
        ++r.recipientsAccepted;
        ++okRcpts_[rr->message];
      } else if (rr->outcome == smtp::Outcome::PermanentFailure) {
        ++r.recipientsPermFailed;
        noteError("refused: " + rr->reply.firstLine());
      } else {
        ++r.recipientsTempFailed;
        noteError("deferred: " + rr->reply.firstLine());
      }
    } else if (auto* md = std::get_if<smtp::MessageDone>(&e)) {
      if (okRcpts_[md->message] == shared_.corpus.options().rcpts) {
        ++r.messagesAccepted;
        r.bodyBytes += bodies_[md->message].size();
      } else {
        ++r.messagesFailed;
      }
      okRcpts_.erase(md->message);
      bodies_.erase(md->message);
      ++shared_.finished;
      refill();
    } else if (std::holds_alternative<smtp::StartTlsNow>(e)) {
      client_.onTlsFailed("the load generator does not use TLS");
    } else if (auto* cu = std::get_if<smtp::ConnectionUnusable>(&e)) {
      if (!failed_) ++r.sessionsFailed;
      failed_ = true;
      noteError(cu->reason + (cu->reply.code ? " (" + std::to_string(cu->reply.code) + ")" : ""));
    } else if (auto* c = std::get_if<smtp::Closed>(&e)) {
      closed_ = true;
      if (client_.capabilities().pipelining && !failed_) ++r.sessionsPipelined;
      if (client_.capabilities().chunking && !failed_) ++r.sessionsChunking;
      if (!c->graceful) {
        stream_.close();
        finish();
      } else if (readEnded_) {
        finish();
      } else {
        stream_.shutdown();  // QUIT is out; the peer closes after its 221
      }
    }
  }

  void failConnect(int status) {
    ++shared_.result.sessionsFailed;
    noteError("connect: " + net::uvError(status));
    closed_ = true;
    stream_.close();
    finish();
  }

  void noteError(const std::string& why) {
    if (shared_.result.firstError.empty()) shared_.result.firstError = why;
  }

  // The session is over: count it once; the last one records the end time.
  void finish() {
    if (done_) return;
    done_ = true;
    timer_.stop();
    stream_.close();
    shared_.lastEnd = Clock::now();
    --shared_.sessionsLeft;
  }

  Shared& shared_;
  net::TcpStream stream_;
  net::Timer timer_;
  smtp::ClientSession client_;
  std::unordered_map<smtp::MessageHandle, std::string> bodies_;     // in flight, freed at MessageDone
  std::unordered_map<smtp::MessageHandle, unsigned> okRcpts_;       // recipients accepted so far
  std::vector<net::TcpStream::Buf> bufs_;
  std::uint64_t deadlineGen_ = 0;
  bool pumping_ = false, quitting_ = false, closed_ = false, readEnded_ = false, failed_ = false, done_ = false;
};

}  // namespace

bool runLoad(const LoadOptions& options, const Corpus& corpus, LoadResult& result,
             const std::function<void(std::uint64_t)>& progress, std::string* error) {
  sockaddr_storage addr{};
  if (!net::parseHostPort(options.target, addr)) {
    *error = "bad target '" + options.target + "' (want ip:port or [ipv6]:port)";
    return false;
  }
  if (options.sessions < 1 || options.sessions > 10000) {
    *error = "sessions must be 1..10000";
    return false;
  }
  if (options.window < 1 || options.window > 1024) {
    *error = "window must be 1..1024";
    return false;
  }
  smtp::ClientConfig cfg;
  cfg.heloName = options.heloName;
  cfg.tls = smtp::TlsPolicy::Never;
  cfg.maxInFlightTransactions = options.window;
  cfg.maxRecipientsPerTransaction = kMaxCorpusRcpts;
  const smtp::Millis t{std::chrono::seconds(options.timeoutSeconds)};
  cfg.timeouts = {t, t, t, t, t, t, t, t, t, t, t};

  result = LoadResult{};
  Shared shared{options, corpus, result};
  // Never more sessions than messages: an idle session would only measure connection set-up.
  const unsigned sessions =
      static_cast<unsigned>(std::min<std::uint64_t>(options.sessions, std::max<std::uint64_t>(options.messages, 1)));
  shared.sessionsLeft = sessions;
  {
    net::Loop loop;
    std::vector<std::unique_ptr<Session>> all;
    const auto start = Clock::now();
    for (unsigned i = 0; i < sessions; ++i) {
      all.push_back(std::make_unique<Session>(loop.get(), shared, cfg));
      all.back()->start(reinterpret_cast<const sockaddr*>(&addr));
    }
    net::Timer ticker(loop.get());
    ticker.start(200, [&] {
      if (progress) progress(shared.finished);
      if (shared.sessionsLeft == 0) ticker.stop();
    }, 200);
    if (shared.sessionsLeft == 0) ticker.stop();
    loop.run();
    result.seconds = std::chrono::duration<double>((shared.sessionsLeft == 0 ? shared.lastEnd : Clock::now()) - start)
                         .count();
    all.clear();
    if (progress) progress(shared.finished);
  }
  // Messages never handed to a session (every session failed first) count as failed.
  result.messagesFailed += options.messages - shared.nextMessage;
  return true;
}

}  // namespace sluice::bench
