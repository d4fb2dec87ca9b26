// fuzz_client_session.cpp: libFuzzer target for the SMTP client session. Random server bytes, segmentation, write
// completions, timeouts and TLS events are played against a session with queued messages.
//
// Invariants checked (a violation aborts): every recipient of every message gets exactly one result and every
// message exactly one MessageDone, after its results and only once no write points into its body; every body
// slice handed out lies inside the caller's body; nothing is written before the greeting; the session always ends
// Closed once the peer closes; a message refused locally for the peer's SIZE limit (synthesized 552 5.3.4) is
// permanent, not attempted, and none of its body octets was ever handed out.
//
// Input: byte 0 = config flags, then a stream of operations: op % 8 = 0..2 feed 1 + op / 8 raw bytes that follow,
// 3 a canned reply, 4 a write completion, 5 timeout or TLS up, 6 submit another message, 7 quit or TLS failure.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "engine/smtp/client_session.hpp"

using namespace sluice::smtp;

namespace {

// Aborts with a message when an invariant does not hold.
void require(bool ok, const char* what) {
  if (!ok) {
    __builtin_printf("invariant violated: %s\n", what);
    std::abort();
  }
}

constexpr std::size_t kMessages = 4;

// Replies a real server sends, picked by op byte 3 (mod 8).
constexpr const char* kCanned[] = {"220 mx.example ESMTP\r\n",
                                   "250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 STARTTLS\r\n",
                                   "250 ok\r\n",
                                   "354 go\r\n",
                                   "550 5.1.1 no\r\n",
                                   "450 4.2.0 later\r\n",
                                   "452 4.5.3 too many\r\n",
                                   "552 5.3.4 too big\r\n",
                                   "503 5.5.1 bad sequence\r\n",
                                   "421 4.3.2 bye\r\n",
                                   "221 bye\r\n",
                                   "220 2.0.0 go TLS\r\n",
                                   "500 what\r\n",
                                   "600 odd\r\n",
                                   "250-mx.example\r\n250 PIPELINING\r\n",
                                   "554 5.7.1 no service\r\n",
                                   "454 4.7.0 no TLS\r\n",
                                   "250\r\n",
                                   "250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SIZE 64\r\n",
                                   "554 5.5.1 no valid recipients\r\n"};

struct Harness {
  ClientSession session;
  std::vector<std::string> bodies;
  std::vector<std::size_t> recipients;
  std::vector<std::vector<int>> results;  // per message, per recipient: results seen
  std::vector<int> done;
  std::vector<bool> touched;  // per message: some body octet was handed out
  std::size_t submitted = 0;
  std::size_t unacked = 0;
  bool closed = false;
  bool anyReply = false;

  explicit Harness(const ClientConfig& c) : session(c) {}

  // Submits message i (body and recipient count derived from i).
  void submit() {
    if (submitted >= kMessages) return;
    std::size_t i = submitted++;
    OutboundMessage m;
    m.handle = i + 1;
    m.reversePath = i == 2 ? "" : "s@origin.example";
    m.params.size = bodies[i].size();
    m.params.body = BodyType::EightBitMime;
    for (std::size_t r = 0; r < recipients[i]; ++r)
      m.recipients.push_back({"r" + std::to_string(r) + "@x.example", {}});
    std::string_view b(bodies[i]);
    m.body = {b.substr(0, b.size() / 2), b.substr(b.size() / 2)};
    session.submit(std::move(m));
  }

  // True when [p, p + n) lies inside one of the bodies, false when it lies outside all of them; aborts when it
  // straddles a body's edge.
  bool inBody(const char* p, std::size_t n) {
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      const char* lo = bodies[i].data();
      const char* hi = bodies[i].data() + bodies[i].size();
      if (p >= lo && p < hi) {
        require(p + n <= hi, "slice runs past the end of a body");
        touched[i] = true;
        return true;
      }
    }
    return false;
  }

  // Takes writes and events, checking them.
  void drain() {
    while (auto w = session.takeWrite()) {
      require(anyReply, "client talked before any reply arrived");
      std::size_t total = 0;
      for (const IoSlice& s : w->slices) {
        require(s.data != nullptr || s.size == 0, "null slice");
        inBody(s.data, s.size);
        total += s.size;
      }
      require(total == w->bytes, "write size disagrees with its slices");
      ++unacked;
    }
    while (auto e = session.nextEvent()) {
      if (auto* r = std::get_if<RecipientResult>(&*e)) {
        require(r->message >= 1 && r->message <= submitted, "result for an unknown message");
        std::size_t m = r->message - 1;
        require(r->recipient < recipients[m], "result for an unknown recipient");
        require(done[m] == 0, "result after MessageDone");
        ++results[m][r->recipient];
        require(results[m][r->recipient] == 1, "two results for one recipient");
        if (r->outcome == Outcome::Delivered) require(r->reply.code / 100 == 2, "delivered without a 2xx");
        if (r->synthesized && r->reply.code == 552) {
          require(r->outcome == Outcome::PermanentFailure && !r->attempted, "SIZE refusal not permanent");
          require(!touched[m], "body of a message refused for its SIZE was sent");
        }
      } else if (auto* d = std::get_if<MessageDone>(&*e)) {
        require(d->message >= 1 && d->message <= submitted, "done for an unknown message");
        std::size_t m = d->message - 1;
        ++done[m];
        require(done[m] == 1, "two MessageDone");
        for (int c : results[m]) require(c == 1, "MessageDone before every result");
      } else if (std::holds_alternative<Closed>(*e)) {
        require(!closed, "closed twice");
        closed = true;
      }
    }
  }
};

}  // namespace

// libFuzzer entry point: byte 0 picks the configuration, the rest drives one session (see the file comment).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t flags = data[0];
  ClientConfig cfg;
  cfg.heloName = "client.example";
  cfg.tls = (flags & 3) == 0 ? TlsPolicy::Never : (flags & 3) == 1 ? TlsPolicy::Opportunistic : TlsPolicy::Require;
  cfg.usePipelining = (flags & 4) == 0;
  cfg.useChunking = (flags & 8) == 0;
  cfg.heloFallbackOnOther5xx = (flags & 16) != 0;
  cfg.bdatChunkSize = (flags & 32) ? 7 : 1 << 20;
  cfg.dataBlockSize = 64;
  cfg.maxRecipientsPerTransaction = (flags & 64) ? 2 : 100;
  cfg.maxInFlightTransactions = (flags & 128) ? 1 : 32;
  cfg.maxUnackedBdatBytes = 16;
  cfg.replyLimits.maxLineLength = 256;
  cfg.replyLimits.maxLines = 16;

  Harness h(cfg);
  h.bodies = {"Subject: a\r\n\r\n.\r\nbody\r\n", "", "line\n.\nmore\r.\r", std::string(300, 'x') + "\r\n."};
  h.recipients = {1, 3, 0, 5};
  h.results.resize(kMessages);
  for (std::size_t i = 0; i < kMessages; ++i) h.results[i].assign(h.recipients[i], 0);
  h.done.assign(kMessages, 0);
  h.touched.assign(kMessages, false);
  h.submit();
  h.submit();
  h.session.onConnected();
  h.drain();

  std::size_t i = 1;
  while (i < size) {
    const std::uint8_t op = data[i++];
    switch (op % 8) {
      case 0:
      case 1:
      case 2: {  // raw server bytes, 1..32 of them
        std::size_t n = std::min<std::size_t>(size - i, 1 + op / 8);
        if (n > 0) h.anyReply = true;
        h.session.onBytes(std::string_view(reinterpret_cast<const char*>(data + i), n));
        i += n;
        break;
      }
      case 3: {  // a canned reply, to reach deep states quickly
        h.anyReply = true;
        h.session.onBytes(kCanned[(op / 8) % (sizeof(kCanned) / sizeof(kCanned[0]))]);
        break;
      }
      case 4:
        if (h.unacked > 0) {
          --h.unacked;
          h.session.onWritten();
        }
        break;
      case 5:
        if (op & 8)
          h.session.onTimeout();
        else
          h.session.onTlsEstablished();
        break;
      case 6: h.submit(); break;
      case 7:
        if (op & 8)
          h.session.quit();
        else if (op & 16)
          h.session.onTlsFailed("fuzz");
        break;
    }
    h.drain();
  }
  // The peer goes away: every write completes (or fails), and everything must be settled.
  h.session.onPeerClosed();
  h.drain();
  while (h.unacked > 0) {
    --h.unacked;
    h.session.onWritten();
    h.drain();
  }
  require(h.closed, "not closed after the peer closed");
  require(h.session.state() == ClientState::Closed, "state not Closed");
  for (std::size_t m = 0; m < h.submitted; ++m) {
    require(h.done[m] == 1, "a message never got MessageDone");
    for (int c : h.results[m]) require(c == 1, "a recipient never got a result");
  }
  return 0;
}
