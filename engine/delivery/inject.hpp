// inject.hpp: putting a message into the spool (`sluice inject`, the benchmark, tests). The body is normalised
// to CRLF line endings (bare LF and bare CR become CRLF; a final line break is added when missing), header lines
// over 998 octets are folded, and the message is classified once (engine/mime flags, stored in the record).
// Pure functions except appendDurably(), which waits for the group commit.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/smtp/command.hpp"
#include "queue/spool.hpp"

namespace sluice::delivery {

struct InjectRecipient {
  std::string address;
  smtp::RcptParams params;
};

struct InjectMessage {
  std::string from;  // "" = the null reverse-path
  std::vector<InjectRecipient> to;
  smtp::MailParams params;  // BODY is filled from the body's content when Unspecified
  std::string body;         // normalised by prepareBody()
};

// Rewrites line endings to CRLF in place, adding a final CRLF when missing.
void normaliseLineEndings(std::string& body);
// True when some octet is >= 0x80.
bool hasEightBit(std::string_view body);
// A forward-path or reverse-path check: "local@domain" with no space, no angle bracket, no control character,
// at most 254 octets (RFC 5321 §4.5.3.1.3 path limit less the brackets). "" when fine, else the problem.
std::string checkAddress(std::string_view address);

// Normalises the body, fills BODY, appends, and waits until the message is durable. Returns the id or an error.
queue::Result<queue::MessageId> appendDurably(queue::Spool& spool, InjectMessage& message);

}  // namespace sluice::delivery
