// tls_internal.hpp: helpers shared by tls.cpp and tls_context.cpp; not part of the module's interface.
//
// Threads: OpenSSL's error queue is per thread; these read and clear the calling thread's queue.
#pragma once

#include <string>

namespace sluice::net::detail {

// Empties the calling thread's OpenSSL error queue and returns its reasons, oldest first, joined by "; "
// (duplicates dropped), e.g. "certificate verify failed". "" when the queue was empty.
std::string drainOpensslErrors();

}  // namespace sluice::net::detail
