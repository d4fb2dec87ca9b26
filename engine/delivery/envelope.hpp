// envelope.hpp: the MAIL and RCPT parameters as the spool stores them (an opaque string per message and per
// recipient, written by intake and `sluice inject`), turned into the protocol core's MailParams / RcptParams.
//
// Stored form: space-separated ESMTP parameters as on the wire, values xtext-encoded where the RFC says so:
//   message:   "BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc+2B1"
//   recipient: "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user+40example.org"
// SIZE is never stored: it is computed from the body at send time. Unknown parameters are ignored (they were
// accepted by an intake that knew them). Pure functions, any thread; malformed values are reported, not thrown.
#pragma once

#include <string>
#include <string_view>

#include "engine/smtp/command.hpp"

namespace sluice::delivery {

// Parses the stored message parameters; false (and `error`) on a malformed known parameter.
bool parseMailParams(std::string_view stored, smtp::MailParams& out, std::string* error = nullptr);
// Parses the stored recipient parameters; false (and `error`) on a malformed known parameter.
bool parseRcptParams(std::string_view stored, smtp::RcptParams& out, std::string* error = nullptr);
// The stored form of parameters (the inverse of the parsers; SIZE is left out).
std::string formatMailParams(const smtp::MailParams& p);
std::string formatRcptParams(const smtp::RcptParams& p);

// The domain of a bare address ("user@Example.ORG" -> "example.org"), lower-cased; "" when there is none.
std::string domainOf(std::string_view address);

}  // namespace sluice::delivery
