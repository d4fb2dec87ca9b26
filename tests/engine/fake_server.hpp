// fake_server.hpp: a scripted SMTP receiver for the delivery engine's scenario tests (fault injection).
//
// What it is: a small SMTP server on its own thread, listening on 127.0.0.1 (or another loopback address) on an
// ephemeral port. Every command it reads (and the greeting it is about to send) becomes an Event; the test's
// Script answers each event with an Action: a canned reply (optionally late), silence (the connection goes mute
// for good, as a hung peer does), closing the connection without a reply, or a reply followed by a close.
// Without a script (or when the script returns nullopt) it behaves like a well-mannered ESMTP server whose EHLO
// advertises what FakeServerOptions says (and, like a real server, refuses DATA or the end of data with 554 when
// no RCPT of the transaction was accepted). Bodies are read the way RFC 5321 §4.1.1.4 (DATA, dot-stuffing removed)
// and RFC 3030 §2 (BDAT, exactly n octets, also when the chunk is refused) say, so a test can check the bytes.
// Everything received is recorded per connection: command lines, transactions, bodies, who closed.
//
// Ownership: the server owns its listening socket, its accepted sockets and its thread; the destructor stops the
// thread and closes everything. Threads: the Script runs on the server thread (it must be thread-safe with
// respect to the test, e.g. only read captured values or use atomics); every public method may be called from
// any thread (the records are guarded by a mutex and copied out). Errors: start() returns a message when it
// cannot bind; socket errors on an accepted connection end that connection and are recorded, never thrown.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sluice::test {

// Where in the SMTP dialogue an event happens.
enum class Stage : std::uint8_t {
  Greeting,  // a connection was accepted; the greeting is due
  Ehlo,
  Helo,
  Mail,
  Rcpt,
  Data,      // the DATA command (a 354 reply switches to reading content)
  DataEnd,   // the content up to CRLF.CRLF has been read
  Bdat,      // a BDAT chunk without LAST has been read in full
  BdatLast,  // the BDAT LAST chunk has been read in full
  Rset,
  Quit,
  Other,     // NOOP and anything else
};

// "greeting", "ehlo", ... (for messages).
const char* stageName(Stage s);

struct Event {
  Stage stage = Stage::Other;
  std::size_t connection = 0;   // 0-based, in accept order over the server's life
  std::size_t transaction = 0;  // 0-based MAIL count on this connection (the current transaction)
  std::size_t rcptIndex = 0;    // Rcpt: 0-based index of this RCPT in the current transaction
  std::string line;             // the command line without CRLF ("" for Greeting and DataEnd)
};

struct Action {
  enum class Kind : std::uint8_t { Reply, Silent, Close, ReplyThenClose };
  Kind kind = Kind::Reply;
  std::string text;  // reply lines; a missing final CRLF is added
  std::chrono::milliseconds delay{0};  // send the reply this long after the command was read (replies stay in order)

  static Action reply(std::string text, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  // From now on this connection sends nothing (it keeps reading and recording until the client closes).
  static Action silent();
  // Close the connection now, without replying to this command (earlier replies still go out first).
  static Action close();
  // Send this reply (after earlier ones), then close.
  static Action replyThenClose(std::string text);
};

// nullopt: the default reply for the event.
using Script = std::function<std::optional<Action>(const Event&)>;

struct FakeServerOptions {
  std::string bindAddress = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = ephemeral; set it to share another server's port on a second loopback address
  std::string hostname = "fake.test";
  bool esmtp = true;  // false: EHLO gets 502 (HELO fallback)
  bool pipelining = true;
  bool chunking = true;
  bool eightBitMime = true;
  std::vector<std::string> extraKeywords;  // more EHLO keywords
};

// One MAIL transaction as the server saw it.
struct TransactionRecord {
  std::string mailLine;                // "MAIL FROM:<a@b> ..."
  std::vector<std::string> rcptLines;  // every RCPT line received, in order
  std::vector<std::string> accepted;   // forward-paths of the RCPTs the server answered 2xx
  std::string body;                    // content as received (dot-stuffing removed for DATA)
  bool usedBdat = false;
  bool ended = false;                  // the whole content (CRLF.CRLF or BDAT LAST) was read
  int endReply = 0;                    // the code the server answered the end of data with (0 = none sent)
};

struct ConnectionRecord {
  std::vector<std::string> lines;  // every command line received (BDAT chunk bytes not included)
  std::vector<TransactionRecord> transactions;
  bool closedByServer = false;  // the script closed it (Close / ReplyThenClose / after QUIT)
  bool closedByClient = false;  // EOF or a read error while the server still wanted to talk
  bool quit = false;            // a QUIT was received
};

class FakeServer {
 public:
  explicit FakeServer(FakeServerOptions options = {}, Script script = {});
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // Binds an ephemeral port and starts the thread. "" on success, else the problem.
  std::string start();
  // Stops the thread and closes every socket (idempotent).
  void stop();

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:port"
  std::string endpoint() const;

  // Copies of what was received so far.
  std::vector<ConnectionRecord> connections() const;
  std::size_t connectionCount() const;
  // Transactions whose end of data the server answered 2xx (the server "has" these messages).
  std::vector<TransactionRecord> acceptedMessages() const;
  // Every RCPT forward-path that belongs to an accepted message (its RCPT got 2xx), over all connections.
  std::vector<std::string> deliveredRecipients() const;

 private:
  struct Conn;
  void loop();
  void onReadable(Conn& c);
  bool processInput(Conn& c);
  bool handleLine(Conn& c, const std::string& line);
  void finishBody(Conn& c, Stage stage, const std::string& line);
  void react(Conn& c, Event e, const std::string& defaultReply);
  void queueReply(Conn& c, const std::string& text, std::chrono::milliseconds delay, bool closeAfter,
                  std::function<void()> onSent = {});
  void flushDue(Conn& c);
  void closeConn(Conn& c, bool byServer);
  std::string ehloReply() const;

  FakeServerOptions options_;
  Script script_;
  int listenFd_ = -1;
  int wakeFd_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool started_ = false;

  mutable std::mutex mu_;  // guards records_
  std::vector<ConnectionRecord> records_;
  std::vector<std::unique_ptr<Conn>> conns_;  // server thread only
};

// Reserves a loopback port nobody listens on (bound, then closed): a connect to it is refused.
std::uint16_t closedPort(const std::string& address = "127.0.0.1");

}  // namespace sluice::test
