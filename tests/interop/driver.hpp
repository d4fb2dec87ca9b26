// driver.hpp: the blocking loopback I/O used only by the interop tests. runClient() drives a ClientSession over a
// TCP socket with poll()/writev() (partial writes, deadlines, peer close); LoopbackServer accepts connections on an
// ephemeral 127.0.0.1 port in its own thread and drives a ServerSession per connection, recording envelopes and
// bodies. Both record the wire transcript, which WireLog analyses independently of the code under test (command
// lines, reply codes, how many commands were outstanding), so the tests can assert facts about the conversation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/smtp/client_session.hpp"
#include "engine/smtp/server_session.hpp"
#include "tests/interop/process.hpp"

namespace sluice::interop {

// One chunk of the conversation as it crossed the socket.
struct WireChunk {
  bool fromClient = false;
  std::string bytes;
};

// A transcript read back as SMTP, with a deliberately simple parser of its own: client bytes are command lines,
// DATA content (after a 354, up to the lone ".") or BDAT chunk octets; server bytes are replies.
struct WireLog {
  std::vector<std::string> commands;  // client command lines without CRLF, in order ("." ends a DATA body)
  std::vector<int> replies;           // reply codes in order, the greeting first
  std::vector<std::string> replyText; // first line of each reply, for messages
  std::vector<std::string> bodies;    // DATA content as written (still dot-stuffed, terminator excluded)
  std::vector<std::string> chunks;    // BDAT chunk octets
  std::size_t maxOutstanding = 0;     // most commands written and not yet answered at any point
  bool malformed = false;             // a reply line that is not "ddd", "ddd-..." or "ddd ..."
  std::string dump;                   // the whole transcript as text, for failure messages

  // Number of commands starting with `verb` (case-sensitive, e.g. "BDAT", "MAIL FROM:").
  std::size_t count(const std::string& verb) const;
  // The command lines starting with `verb`.
  std::vector<std::string> lines(const std::string& verb) const;
};

// Reads a transcript.
WireLog analyse(const std::vector<WireChunk>& wire);

// What one client connection produced.
struct ClientRun {
  std::vector<smtp::RecipientResult> results;
  std::vector<smtp::MessageHandle> done;            // MessageDone events in order
  std::vector<smtp::ConnectionUnusable> unusable;   // ConnectionUnusable events
  bool closed = false;                              // a Closed event came
  bool graceful = false;                            // ... and it was graceful
  smtp::Capabilities caps;                          // the peer's capabilities once the session was Ready
  smtp::ClientStats stats;
  std::vector<WireChunk> wire;
  std::string error;  // driver failure (connect, overall time limit), empty when none
  double seconds = 0;
  std::size_t partialWrites = 0;  // writev calls that wrote less than offered

  // The result for recipient `index` of message `handle` (throws if absent).
  const smtp::RecipientResult& result(smtp::MessageHandle handle, std::uint32_t index) const;
};

// Connects to 127.0.0.1:port, submits `messages`, asks for QUIT, drives the session until Closed (or `limit`).
// The messages' body spans must stay valid for the call.
ClientRun runClient(std::uint16_t port, const smtp::ClientConfig& config, std::vector<smtp::OutboundMessage> messages,
                    Millis limit = Millis(20000), std::size_t sendBuffer = 0);

// A message as the server's owner recorded it.
struct ReceivedMessage {
  std::string helo;
  bool extended = false;  // EHLO rather than HELO
  std::string reversePath;
  smtp::MailParams mail;
  std::vector<std::string> recipients;
  std::string body;  // content as handed to onBody (DATA unstuffed, BDAT raw)
  smtp::MessageInfo info;
};

// A loopback listener driving one ServerSession per accepted connection (one at a time) in its own thread.
class LoopbackServer {
 public:
  explicit LoopbackServer(smtp::ServerConfig config);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  // The port it listens on.
  std::uint16_t port() const { return port_; }
  // Messages accepted so far (a copy).
  std::vector<ReceivedMessage> messages() const;
  // Transcript of each finished connection (a copy).
  std::vector<std::vector<WireChunk>> connections() const;
  // Waits until `n` connections have finished; false after `limit`.
  bool waitConnections(std::size_t n, Millis limit) const;
  // Stops accepting and joins the thread (also done by the destructor).
  void stop();

 private:
  // The accept loop.
  void run();
  // Serves one accepted connection to its end.
  void serve(int fd);

  smtp::ServerConfig config_;
  int listenFd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<ReceivedMessage> messages_;
  std::vector<std::vector<WireChunk>> connections_;
  std::thread thread_;
};

}  // namespace sluice::interop
