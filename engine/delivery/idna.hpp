// idna.hpp: internationalised domain names on the envelope (RFC 5890/5891 IDNA2008 via libidn2, RFC 6531 §3.2).
// A domain with non-ASCII labels is looked up and sent as A-labels ("xn--..."), with or without SMTPUTF8 at the
// peer; only a non-ASCII local part needs SMTPUTF8. Pure functions, any thread; errors are returned, not thrown.
#pragma once

#include <string>
#include <string_view>

namespace sluice::delivery {

// True when the local part of a bare address (everything before the last '@') has a non-ASCII octet.
bool nonAsciiLocalPart(std::string_view address);
// The domain as lower-case A-labels: an ASCII domain is only lower-cased; a UTF-8 one goes through IDNA2008
// (non-transitional UTS #46 mapping first). On failure returns false with `error` ("invalid IDN ...").
bool toAsciiDomain(std::string_view domain, std::string& out, std::string* error = nullptr);
// The address with its domain in A-labels (local part untouched); the address itself when it is ASCII or its
// domain cannot be converted (the dispatcher has already failed such recipients).
std::string asciiDomainAddress(std::string_view address);

}  // namespace sluice::delivery
