// ares_source.hpp: a DnsSource backed by c-ares, driven by a libuv loop: every c-ares socket is watched with a
// uv_poll, and c-ares' retransmission timeouts run on one uv_timer. No call here ever blocks.
//
// The channel uses only the nameservers it is given: it never reads /etc/resolv.conf (its path is set to
// /dev/null), has no search domains, and ARES_FLAG_NOSEARCH is set, so a test can never leak a query to a real
// resolver. Loop thread only. Destroying the source cancels its queries without calling their callbacks; the
// poll and timer handles are freed from their close callbacks (run the loop once more afterwards).
#pragma once

#include "resolver/address.hpp"
#include "resolver/defer_queue.hpp"
#include "resolver/dns_source.hpp"

#include <ares.h>
#include <uv.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice::resolver {

class AresSource final : public DnsSource {
 public:
  // Creates the source; returns nullptr and sets `error` when c-ares refuses the settings.
  static std::unique_ptr<AresSource> create(uv_loop_t* loop, const std::vector<Endpoint>& nameservers,
                                            int timeoutMs, int tries, std::string& error);
  ~AresSource() override;
  AresSource(const AresSource&) = delete;
  AresSource& operator=(const AresSource&) = delete;

  // Sends the query through c-ares; the answer is parsed from the raw reply (TTLs, SOA, CNAME chain).
  void query(const std::string& name, QType type, Callback cb) override;

  // Queries handed to c-ares so far for one type.
  std::uint64_t queriesSent(QType type) const override;

  // The servers the c-ares channel will actually use, as "ip:port" / "[ip]:port" (to prove nothing else is).
  std::vector<std::string> channelServers() const;

  struct Poll;   // one uv_poll per c-ares socket
  struct Timer;  // the timeout timer
  struct Query;  // one query in flight

 private:
  explicit AresSource(uv_loop_t* loop);

  // c-ares and libuv callbacks, and the timer update (see ares_source.cpp).
  static void onSockState(void* data, ares_socket_t fd, int readable, int writable);
  static void onAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  static void onPoll(uv_poll_t* handle, int status, int events);
  static void onTimer(uv_timer_t* handle);
  void rearmTimer();

  uv_loop_t* loop_;
  ares_channel channel_ = nullptr;
  Timer* timer_ = nullptr;
  std::unordered_map<ares_socket_t, Poll*> polls_;
  DeferQueue defer_;           // for answers c-ares produces from inside ares_query()
  bool submitting_ = false;    // inside ares_query(): answers must be deferred
  bool destroying_ = false;    // inside ares_destroy(): callbacks are dropped
  std::uint64_t mx_ = 0, a_ = 0, aaaa_ = 0;
};

}  // namespace sluice::resolver
