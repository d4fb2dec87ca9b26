// load.hpp: the load generator (`sluice bench --load HOST:PORT`), an SMTP client blasting a receiver like
// Postfix's smtp-source: S concurrent sessions share M messages from the corpus, each session keeping up to a
// window of transactions in flight (PIPELINING and CHUNKING used as the peer advertises them, through
// smtp::ClientSession), and the rate is measured from the first connect to the last reply.
//
// Ownership: runLoad() owns its libuv loop, sessions and the message bodies in flight (one string per message,
// freed when the session reports the message done). Threads: runLoad() runs everything on the calling thread.
// Errors: connection and protocol failures are counted in LoadResult (with the first reason), never thrown; a
// target that cannot be parsed is an error string.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "bench/driver/corpus.hpp"

namespace sluice::bench {

struct LoadOptions {
  std::string target;                 // "ip:port" or "[ipv6]:port" (numeric)
  unsigned sessions = 20;             // concurrent connections, 1..10000
  std::uint64_t messages = 10000;     // messages in total, shared by the sessions
  unsigned window = 32;               // transactions in flight per session, 1..1024
  std::string heloName = "load.sluice.test";
  unsigned timeoutSeconds = 60;       // every SMTP stage's timeout
};

struct LoadResult {
  std::uint64_t messagesAccepted = 0;  // every recipient got 2xx at end of data
  std::uint64_t messagesFailed = 0;    // some recipient refused, or the session ended first
  std::uint64_t recipientsAccepted = 0;
  std::uint64_t recipientsTempFailed = 0;
  std::uint64_t recipientsPermFailed = 0;
  std::uint64_t bodyBytes = 0;         // body octets handed to the sockets
  std::uint64_t sessionsOpened = 0;    // connected
  std::uint64_t sessionsFailed = 0;    // connect failed or the session became unusable
  std::uint64_t sessionsPipelined = 0; // peer advertised PIPELINING (and the client used it)
  std::uint64_t sessionsChunking = 0;  // peer advertised CHUNKING (BDAT used)
  double seconds = 0;                  // first connect attempt to last session end
  std::string firstError;              // the first failure's reason ("" when none)
};

// Runs the load; progress(messagesFinished) is called about every 200 ms on the calling thread.
// Returns false with *error when the options are unusable (bad target, zero sessions); else fills result.
bool runLoad(const LoadOptions& options, const Corpus& corpus, LoadResult& result,
             const std::function<void(std::uint64_t)>& progress, std::string* error);

}  // namespace sluice::bench
