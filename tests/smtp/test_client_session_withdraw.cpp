// ClientSession::withdrawUnstarted(): a stopping pool takes back the messages no transaction has started on.
#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "engine/smtp/client_session.hpp"

using namespace sluice::smtp;

namespace {
struct Wire {
  ClientSession& s;
  std::string sent;
  std::vector<ClientEvent> events;
  // Takes every pending write (acknowledging it) and every event.
  void drain() {
    while (auto w = s.takeWrite()) {
      for (const auto& sl : w->slices) sent.append(sl.data, sl.size);
      s.onWritten();
    }
    while (auto e = s.nextEvent()) events.push_back(*e);
  }
  void peer(std::string_view bytes) {
    s.onBytes(bytes);
    drain();
  }
};

OutboundMessage message(MessageHandle h) {
  OutboundMessage m;
  m.handle = h;
  m.reversePath = "a@x.test";
  m.recipients.push_back({"b" + std::to_string(h) + "@y.test", {}});
  static const std::string body = "Subject: t\r\n\r\nhi\r\n";
  m.body.push_back(body);
  return m;
}
}  // namespace

TEST_CASE("withdrawUnstarted takes back queued messages without a transaction; the started one finishes") {
  ClientConfig cfg;
  ClientSession s(cfg);
  Wire w{s, {}, {}};
  for (MessageHandle h = 1; h <= 3; ++h) s.submit(message(h));
  s.onConnected();
  w.drain();
  w.peer("220 peer ESMTP\r\n");
  w.peer("250 peer\r\n");  // no PIPELINING, no CHUNKING: one command at a time, DATA
  REQUIRE(w.sent.find("MAIL FROM:<a@x.test>") != std::string::npos);
  CHECK(s.queuedMessages() == 2);

  std::vector<MessageHandle> back = s.withdrawUnstarted();
  CHECK(back == std::vector<MessageHandle>{2, 3});
  CHECK(s.queuedMessages() == 0);
  CHECK(s.withdrawUnstarted().empty());

  w.peer("250 ok\r\n");   // MAIL
  w.peer("250 ok\r\n");   // RCPT
  w.peer("354 go\r\n");   // DATA
  w.peer("250 2.0.0 queued\r\n");
  s.quit();
  w.drain();
  w.peer("221 bye\r\n");
  CHECK(w.sent.find("b2@y.test") == std::string::npos);
  CHECK(w.sent.find("b3@y.test") == std::string::npos);
  CHECK(w.sent.find("QUIT\r\n") != std::string::npos);
  // Events only for message 1: its result and MessageDone.
  int results = 0, done = 0;
  for (const auto& e : w.events) {
    if (auto* r = std::get_if<RecipientResult>(&e)) {
      CHECK(r->message == 1);
      CHECK(r->outcome == Outcome::Delivered);
      ++results;
    }
    if (auto* d = std::get_if<MessageDone>(&e)) {
      CHECK(d->message == 1);
      ++done;
    }
  }
  CHECK(results == 1);
  CHECK(done == 1);
}

TEST_CASE("withdrawUnstarted before the session is ready takes back everything") {
  ClientSession s(ClientConfig{});
  Wire w{s, {}, {}};
  s.submit(message(7));
  s.submit(message(8));
  s.onConnected();
  w.drain();
  CHECK(s.withdrawUnstarted() == std::vector<MessageHandle>{7, 8});
  w.peer("220 peer ESMTP\r\n");
  w.peer("250-peer\r\n250 PIPELINING\r\n");
  CHECK(w.sent.find("MAIL") == std::string::npos);
  CHECK(s.idle());
}
