// engine.cpp: the Engine: its shards (one loop per thread) and the dispatcher that takes due messages from the
// spool and hands their recipients to the shard owning each destination domain (see engine.hpp, README.md).
#include "engine/delivery/engine.hpp"

#include <signal.h>

#include <functional>
#include <thread>
#include <unordered_map>

#include "engine/delivery/body_choice.hpp"
#include "engine/delivery/engine_core.hpp"
#include "engine/delivery/envelope.hpp"
#include "engine/delivery/idna.hpp"
#include "engine/delivery/inject.hpp"
#include "engine/delivery/shard.hpp"

namespace sluice::delivery {
namespace {

constexpr std::uint64_t kDispatchIdleMs = 50;   // look for due messages this often when nothing wakes us
constexpr std::uint64_t kMaintainMs = 2000;     // spool housekeeping (reclaim, compaction, checkpoints)

class EngineImpl final : public Engine, public EngineCore {
 public:
  EngineImpl(EngineOptions options, queue::Spool& spool)
      : EngineCore(spool, options.config), options_(std::move(options)) {}

  ~EngineImpl() override {
    dispatchTimer_.reset();
    maintainTimer_.reset();
    progressTimer_.reset();
    signals_.clear();
    wake_.reset();
    shards_.clear();
  }

  bool init(std::string* error) {
    if (config_.tls != smtp::TlsPolicy::Never) {
      net::TlsClientOptions opts;
      std::string err;
      tls_ = net::TlsContext::makeClient(opts, &err);
      if (!tls_) {
        if (error) *error = "TLS client context: " + err;
        return false;
      }
    }
    unsigned n = config_.effectiveThreads();
    for (unsigned i = 0; i < n; ++i) {
      shards_.push_back(std::make_unique<Shard>(*this, i));
      if (!shards_.back()->init(options_.zoneText, error)) return false;
    }
    return true;
  }

  int run(bool handleSignals) override {
    Shard& first = *shards_[0];
    uv_loop_t* loop = first.loop();
    ::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write is an error value, never a signal
    wake_ = std::make_unique<net::Async>(loop, [this] { onWake(); });
    dispatchTimer_ = std::make_unique<net::Timer>(loop);
    maintainTimer_ = std::make_unique<net::Timer>(loop);
    maintainTimer_->start(kMaintainMs, [this] { spool_.maintain(); }, kMaintainMs);
    if (options_.onProgress && options_.progressEveryMs > 0) {
      progressTimer_ = std::make_unique<net::Timer>(loop);
      progressTimer_->start(
          options_.progressEveryMs, [this] { options_.onProgress(progress()); }, options_.progressEveryMs);
    }
    if (handleSignals) {
      for (int sig : {SIGTERM, SIGINT}) {
        signals_.push_back(std::make_unique<net::Signal>(loop, sig, [this] { stop(); }));
      }
    }
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < shards_.size(); ++i) threads.emplace_back([this, i] { shards_[i]->run(); });
    dispatchTimer_->start(0, [this] { dispatch(); });
    first.run();
    // Shard 0 has stopped; the others finish their in-flight transactions and stop too.
    for (auto& s : shards_) s->requestStop();
    for (auto& t : threads) t.join();
    if (options_.onProgress) options_.onProgress(progress());
    spool_.flush();
    return spool_.health().state == queue::Health::Failed ? 1 : 0;
  }

  void stop() override {
    if (stopping_.exchange(true)) return;
    for (auto& s : shards_) s->requestStop();
  }

  EngineProgress progress() const override { return counters_.snapshot(); }

 protected:
  void messageFinished() override {
    if (starved_.load(std::memory_order_relaxed) || options_.drain) {
      if (wake_) wake_->send();
    }
  }

 private:
  void onWake() {
    if (!stopping_) dispatch();
  }

  // Takes what is due, within the in-flight budget, and hands it to the shards.
  void dispatch() {
    if (stopping_) return;
    const auto& sched = config_.scheduler;
    std::uint64_t inFlight = counters_.messagesInFlight.load();
    std::size_t budget = inFlight >= sched.maxInFlightMessages ? 0 : sched.maxInFlightMessages - inFlight;
    std::size_t want = std::min(budget, sched.batch);
    starved_.store(budget < sched.batch / 4 + 1, std::memory_order_relaxed);
    std::size_t got = 0;
    if (want > 0) {
      ids_.clear();
      got = spool_.takeDue(wallMs(), want, ids_);
      if (got > 0) handOut();
    }
    if (got == 0 && options_.drain && counters_.messagesInFlight.load() == 0 && bouncesPending_.load() == 0) {
      stop();
      return;
    }
    // A full batch: there is probably more right away. Otherwise poll lazily (finishing messages wake us).
    dispatchTimer_->start(got == want && want > 0 ? 0 : kDispatchIdleMs, [this] { dispatch(); });
  }

  void handOut() {
    const std::int64_t now = wallMs();
    std::vector<std::vector<std::unique_ptr<Unit>>> perShard(shards_.size());
    for (queue::MessageId id : ids_) {
      auto looked = spool_.lookup(id);
      if (!looked.isOk()) continue;  // finished meanwhile, or unreadable (the spool logged it)
      auto msg = std::make_shared<MessageTracker>();
      msg->view = std::move(looked.value());
      msg->takenMs = now;
      parseMailParams(msg->view.mailParams(), msg->mailParams);  // written by our own intake: a bad one is ignored
      msg->mimeFlags = mimeFlagsOf(msg->view);
      // One unit per destination domain (recipients of one domain travel in one transaction).
      std::vector<std::unique_ptr<Unit>> units;
      domainIndex_.clear();
      const std::size_t count = msg->view.recipientCount();
      for (std::size_t i = 0; i < count; ++i) {
        if (!msg->view.recipientPending(i)) continue;
        auto rv = msg->view.recipient(i);
        std::string domain = domainOf(rv.address);
        std::string error;
        if (!domain.empty() && hasEightBit(domain)) {  // an IDN travels and is looked up as A-labels
          std::string ascii;
          if (toAsciiDomain(domain, ascii, &error)) {
            domain = std::move(ascii);
          } else {
            domain = "\x01" + domain;  // a unit of its own, failed by the shard with `error`
          }
        }
        auto [it, fresh] = domainIndex_.try_emplace(domain, units.size());
        if (fresh) {
          units.push_back(std::make_unique<Unit>());
          units.back()->msg = msg;
          if (error.empty()) {
            units.back()->domain = domain;
          } else {
            units.back()->domainError = error;
          }
        }
        Unit& u = *units[it->second];
        u.rcpts.push_back(static_cast<std::uint16_t>(i));
        u.addresses.push_back(rv.address);
        smtp::RcptParams p;
        parseRcptParams(rv.params, p);
        u.params.push_back(std::move(p));
      }
      if (units.empty()) {
        spool_.release(id, now + 60'000);
        continue;
      }
      counters_.messagesInFlight.fetch_add(1, std::memory_order_relaxed);
      msg->partsOpen.store(static_cast<int>(units.size()));
      for (auto& u : units) perShard[shardOf(u->domain)].push_back(std::move(u));
    }
    for (std::size_t i = 0; i < shards_.size(); ++i) shards_[i]->post(std::move(perShard[i]));
  }

  std::size_t shardOf(const std::string& domain) const {
    return shards_.size() == 1 ? 0 : std::hash<std::string>{}(domain) % shards_.size();
  }

 public:
  std::size_t shardOfSite(const std::string& siteKey) const override { return shardOf(siteKey); }
  void postToShard(std::size_t shard, std::vector<std::unique_ptr<Unit>> units) override {
    shards_[shard]->post(std::move(units));
  }

 private:

  EngineOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<net::Async> wake_;
  std::unique_ptr<net::Timer> dispatchTimer_, maintainTimer_, progressTimer_;
  std::vector<std::unique_ptr<net::Signal>> signals_;
  std::vector<queue::MessageId> ids_;
  std::unordered_map<std::string, std::size_t> domainIndex_;
  std::atomic<bool> starved_{false};
};

}  // namespace

std::unique_ptr<Engine> Engine::create(EngineOptions options, queue::Spool& spool, std::string* error) {
  if (options.config.hostname.empty()) {
    if (error) *error = "hostname is empty";
    return nullptr;
  }
  auto engine = std::make_unique<EngineImpl>(std::move(options), spool);
  if (!engine->init(error)) return nullptr;
  return engine;
}

}  // namespace sluice::delivery
