// test_client_session_harness.hpp: a scripted SMTP server for client session transcript tests.
//
// A script is a list of steps: server bytes fed to the session (S), bytes the client must have written since the
// last check (C), and other inputs (timeouts, peer close, TLS up, acknowledgements, submits). runScript() plays a
// script once with a given segmentation of the server bytes and records what the client wrote and the events it
// reported; checkTranscript() plays it whole, with every server step split at every offset, and with every
// server step fed one byte at a time, and requires the same bytes and events every time.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/smtp/client_session.hpp"

namespace sluice::smtp::test {

struct Step {
  enum Kind { Server, Client, Timeout, PeerClosed, TlsUp, Quit, Ack, Submit, Deadline, ClientNothing };
  Kind kind;
  std::string bytes;
  Millis ms{0};
  std::size_t index = 0;  // Submit: index into the script's extra messages
};

// Server sends bytes.
inline Step S(std::string b) { return {Step::Server, std::move(b)}; }
// The client must have written exactly these bytes since the last check.
inline Step C(std::string b) { return {Step::Client, std::move(b)}; }
// The client must have written nothing since the last check.
inline Step nothing() { return {Step::ClientNothing, {}}; }
inline Step timeout() { return {Step::Timeout, {}}; }
inline Step peerClosed() { return {Step::PeerClosed, {}}; }
inline Step tlsUp() { return {Step::TlsUp, {}}; }
inline Step quitStep() { return {Step::Quit, {}}; }
// Acknowledges every write taken so far (for scripts run with autoAck off).
inline Step ack() { return {Step::Ack, {}}; }
// Submits extra message number i (connection reuse).
inline Step submitStep(std::size_t i) { return {Step::Submit, {}, Millis{0}, i}; }
// The armed deadline must be `ms`.
inline Step deadlineIs(Millis ms) { return {Step::Deadline, {}, ms}; }

// Renders an event as one line for comparisons: "R m=1 i=0 D 250 2.0.0", "done m=1", "unusable 554 refused", ...
inline std::string describe(const ClientEvent& e) {
  if (auto* r = std::get_if<RecipientResult>(&e)) {
    std::string s = "R m=" + std::to_string(r->message) + " i=" + std::to_string(r->recipient) + " ";
    s += r->outcome == Outcome::Delivered ? "D" : r->outcome == Outcome::PermanentFailure ? "P" : "T";
    s += " " + std::to_string(r->reply.code);
    if (r->reply.enhanced.present) {
      s += " " + std::to_string(r->reply.enhanced.cls) + "." + std::to_string(r->reply.enhanced.subject) + "." +
           std::to_string(r->reply.enhanced.detail);
    }
    if (r->possibleDuplicate) s += " dup";
    if (r->synthesized) s += " synth";
    if (!r->attempted) s += " na";
    return s;
  }
  if (auto* d = std::get_if<MessageDone>(&e)) return "done m=" + std::to_string(d->message);
  if (std::holds_alternative<StartTlsNow>(e)) return "starttls";
  if (auto* u = std::get_if<ConnectionUnusable>(&e)) {
    return "unusable " + std::to_string(u->reply.code) + (u->hostRefused ? " refused" : "");
  }
  if (auto* c = std::get_if<Closed>(&e)) return c->graceful ? "closed graceful" : "closed abort";
  return "?";
}

struct Script {
  ClientConfig config;
  std::vector<OutboundMessage> messages;  // submitted before onConnected
  std::vector<OutboundMessage> extra;     // submitted by Submit steps
  std::vector<Step> steps;
  bool autoAck = true;  // acknowledge every write as soon as it is taken
};

// What one play of a script produced.
struct Played {
  std::string mismatch;  // first difference from the script's C / nothing / deadline steps, or ""
  std::vector<std::string> events;
  std::string wire;  // every byte the client wrote
  ClientStats stats;
  ClientState finalState = ClientState::Initial;
};

// Splits the bytes of server step `step` into segments; the default feeds each step whole.
using Splitter = std::function<std::vector<std::string_view>(std::size_t step, std::string_view bytes)>;

// Drives a session: takes writes (copying their bytes), acknowledges when asked, collects events.
struct Driver {
  ClientSession session;
  bool autoAck;
  std::string wire;
  std::size_t unacked = 0;
  std::vector<std::string> events;

  Driver(const ClientConfig& c, bool autoAckWrites) : session(c), autoAck(autoAckWrites) {}

  // Drains writes and events after an input; acknowledges writes at once when autoAck.
  void drain() {
    for (;;) {
      bool any = false;
      while (auto w = session.takeWrite()) {
        any = true;
        for (const IoSlice& s : w->slices) wire.append(s.data, s.size);
        ++unacked;
      }
      if (autoAck && unacked > 0) {
        any = true;
        while (unacked > 0) {
          --unacked;
          session.onWritten();
        }
      }
      while (auto e = session.nextEvent()) events.push_back(describe(*e));
      if (!any) break;
    }
  }
  // Acknowledges every write taken so far.
  void ackAll() {
    while (unacked > 0) {
      --unacked;
      session.onWritten();
      drain();
    }
  }
};

// Plays a script once with the given segmentation of server steps.
inline Played runScript(const Script& sc, const Splitter& split) {
  Played out;
  Driver d(sc.config, sc.autoAck);
  for (const OutboundMessage& m : sc.messages) d.session.submit(m);
  d.session.onConnected();
  d.drain();
  std::size_t checked = 0;
  for (std::size_t i = 0; i < sc.steps.size(); ++i) {
    const Step& st = sc.steps[i];
    switch (st.kind) {
      case Step::Server:
        for (std::string_view part : split(i, st.bytes)) {
          d.session.onBytes(part);
          d.drain();
        }
        break;
      case Step::Client:
      case Step::ClientNothing: {
        std::string got = d.wire.substr(checked);
        checked = d.wire.size();
        if (got != st.bytes && out.mismatch.empty()) {
          out.mismatch = "step " + std::to_string(i) + ": client wrote [" + got + "] expected [" + st.bytes + "]";
        }
        break;
      }
      case Step::Timeout:
        d.session.onTimeout();
        d.drain();
        break;
      case Step::PeerClosed:
        d.session.onPeerClosed();
        d.drain();
        break;
      case Step::TlsUp:
        d.session.onTlsEstablished();
        d.drain();
        break;
      case Step::Quit:
        d.session.quit();
        d.drain();
        break;
      case Step::Ack: d.ackAll(); break;
      case Step::Submit:
        d.session.submit(sc.extra.at(st.index));
        d.drain();
        break;
      case Step::Deadline: {
        Deadline dl = d.session.deadline();
        if ((!dl.armed || dl.after != st.ms) && out.mismatch.empty()) {
          out.mismatch = "step " + std::to_string(i) + ": deadline " +
                         (dl.armed ? std::to_string(dl.after.count()) : "off") + " expected " +
                         std::to_string(st.ms.count());
        }
        break;
      }
    }
  }
  if (checked != d.wire.size() && out.mismatch.empty()) {
    out.mismatch = "unchecked client bytes at the end: [" + d.wire.substr(checked) + "]";
  }
  d.ackAll();
  out.events = d.events;
  out.wire = d.wire;
  out.stats = d.session.stats();
  out.finalState = d.session.state();
  return out;
}

// Joins event lines for readable failure messages.
inline std::string joinLines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += l + "\n";
  return s;
}

// Plays the script whole, then under every segmentation of each server step (each split point; byte at a time);
// every play must match the script and give `expected` events. Returns the whole play.
inline Played checkTranscript(const Script& sc, const std::vector<std::string>& expected) {
  Splitter whole = [](std::size_t, std::string_view b) { return std::vector<std::string_view>{b}; };
  Played base = runScript(sc, whole);
  INFO("whole play");
  CHECK(base.mismatch == "");
  CHECK(joinLines(base.events) == joinLines(expected));
  int failures = 0;
  auto compare = [&](const Played& p, const std::string& how) {
    if (failures > 0) return;
    if (!p.mismatch.empty() || p.events != base.events || p.wire != base.wire) {
      ++failures;
      INFO(how);
      CHECK(p.mismatch == "");
      CHECK(joinLines(p.events) == joinLines(base.events));
      CHECK(p.wire == base.wire);
    }
  };
  for (std::size_t i = 0; i < sc.steps.size(); ++i) {
    if (sc.steps[i].kind != Step::Server) continue;
    const std::size_t n = sc.steps[i].bytes.size();
    for (std::size_t k = 1; k < n; ++k) {
      Splitter sp = [i, k](std::size_t step, std::string_view b) {
        if (step != i) return std::vector<std::string_view>{b};
        return std::vector<std::string_view>{b.substr(0, k), b.substr(k)};
      };
      compare(runScript(sc, sp), "server step " + std::to_string(i) + " split at " + std::to_string(k));
    }
  }
  Splitter bytes = [](std::size_t, std::string_view b) {
    std::vector<std::string_view> v;
    for (std::size_t j = 0; j < b.size(); ++j) v.push_back(b.substr(j, 1));
    return v;
  };
  compare(runScript(sc, bytes), "every server step one byte at a time");
  CHECK(failures == 0);
  return base;
}

// A message with recipients r0..r(n-1)@rcpt.example and the given body spans (caller memory).
inline OutboundMessage makeMessage(MessageHandle h, std::size_t recipients, std::vector<std::string_view> body,
                                   std::string from = "sender@origin.example") {
  OutboundMessage m;
  m.handle = h;
  m.reversePath = std::move(from);
  for (std::size_t i = 0; i < recipients; ++i) {
    m.recipients.push_back({"r" + std::to_string(i) + "@rcpt.example", {}});
  }
  m.body = std::move(body);
  return m;
}

}  // namespace sluice::smtp::test
