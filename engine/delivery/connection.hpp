// connection.hpp: one pooled SMTP connection of a site: a TCP stream driving a ClientSession (internal to
// engine/delivery).
//
// Life: start() walks the site's candidates (MX hosts in order, each host's addresses in order) until one
// connects, greets and answers EHLO/HELO; a connect failure, a connect timeout, a 421 or 554 greeting or a session
// that dies before it is Ready moves on to the next candidate. Once Ready it pulls units from its site, up to the
// pipelining window, and hands each message's body to the socket as slices of the spool mapping. It retires itself
// (QUIT) when used up, too old or idle too long, and tells its site when it is gone.
// Ownership: owned by its Site; the stream and session are owned here; units are owned here between submit and
// MessageDone. Threads: the shard's loop thread only.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/delivery/work.hpp"
#include "engine/net/tls.hpp"
#include "engine/net/uv.hpp"
#include "engine/smtp/client_session.hpp"

namespace sluice::delivery {

class Shard;
class Site;

// One address to try: an MX host name and one of its addresses.
struct Candidate {
  std::string host;      // MX host name (or the route's host)
  std::string addrText;  // "192.0.2.1:25" / "[2001:db8::1]:25"
  sockaddr_storage addr{};
};

// What the delivery log and the counters need to know about the transport of one attempt.
struct TransportInfo {
  const Candidate* where = nullptr;
  bool chunking = false;
  bool pipelined = false;
  bool tls = false;
  bool dsn = false;  // the peer offers DSN (RFC 3461): it takes over NOTIFY / ORCPT / RET / ENVID
};

class Connection final : public net::StreamHandler {
 public:
  Connection(Shard& shard, Site& site, std::vector<Candidate> candidates);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts with the first candidate.
  void start();
  // Submits ready units of the site while this connection has room in its window.
  void feed();
  // No more units: QUIT once the submitted ones are finished.
  void retire();

  // Established and taking units.
  bool ready() const { return readyOnce_ && !ending_ && !gone_; }
  // Still walking candidates (connect, greeting, EHLO, TLS).
  bool connecting() const { return !readyOnce_ && !gone_; }
  // Ready with nothing submitted.
  bool idle() const { return ready() && units_.empty(); }
  // Units submitted and not finished.
  std::size_t outstanding() const { return units_.size(); }
  // Finished: the site may destroy it (outside its callbacks).
  bool gone() const { return gone_; }

 private:
  // net::StreamHandler
  void onConnect(int status) override;
  void onRead(std::string_view bytes) override;
  void onReadEnd(int status) override;
  void onWriteDone(int status) override;

  void connectNext();
  void connectFailed(const std::string& why);
  void releaseAcks();
  void drive();
  void pullUnits();
  void refuseUnit(std::unique_ptr<Unit> unit, const smtp::Reply& why);
  void handleEvent(smtp::ClientEvent& e);
  void onResult(const smtp::RecipientResult& r);
  void onMessageDone(smtp::MessageHandle h);
  void closeStream();
  void afterClose();
  void startTls();
  void sendCiphertext();
  void writeSlices(const smtp::IoSlice* slices, std::size_t count);
  TransportInfo transport() const;
  void armIdle();

  Shard& shard_;
  Site& site_;
  std::vector<Candidate> candidates_;
  std::size_t next_ = 0;
  const Candidate* current_ = nullptr;
  std::unique_ptr<net::TcpStream> stream_;
  std::unique_ptr<smtp::ClientSession> session_;
  std::unique_ptr<net::TlsFilter> tls_;  // set from STARTTLS on
  net::Timer timer_;      // connect timeout, then the session's deadlines
  net::Timer idleTimer_;  // idle retirement
  std::uint64_t deadlineGen_ = 0;
  std::unordered_map<smtp::MessageHandle, std::unique_ptr<Unit>> units_;
  smtp::MessageHandle nextHandle_ = 1;
  std::size_t window_ = 32;
  std::size_t writesPending_ = 0;  // stream writes not yet completed
  std::deque<std::string> cipherQueue_;  // TLS records handed to the stream, oldest first
  std::size_t cipherQueued_ = 0;         // their bytes
  std::size_t acksOwed_ = 0;             // session writes encrypted but not yet acknowledged (back-pressure)
  bool tlsUp_ = false;                   // the handshake finished
  std::uint64_t submitted_ = 0;
  std::int64_t establishedMs_ = 0;
  bool readyOnce_ = false;     // the current session reached Ready
  bool ending_ = false;        // takes no more units
  bool sessionClosed_ = false; // the session emitted Closed
  bool streamClosed_ = false;
  bool gone_ = false;
  bool driving_ = false;
  bool again_ = false;
  std::string lastError_;
};

}  // namespace sluice::delivery
