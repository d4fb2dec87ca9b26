// body_choice.hpp: what body one connection sends for one message (internal to engine/delivery), decided once
// the peer's EHLO is known: the stored bytes as they are (7-bit, BODY=8BITMIME, BODY=BINARYMIME), a converted
// variant produced on the fly by engine/mime (7-bit MIME for a peer without 8BITMIME, 8-bit-safe without NUL or
// long lines for one without BINARYMIME), or a refusal that fails the recipients for this host before MAIL:
//   - SMTPUTF8 needed (a non-ASCII local part, raw UTF-8 header fields) and not offered: 553/554 5.6.7
//     (RFC 6531 §3.2; a non-ASCII domain alone is sent as A-labels and needs nothing);
//   - content the converter cannot downgrade (message/partial with 8-bit, 8-bit nested headers, non-MIME 8-bit
//     under the bounce policy): 554 5.6.3 (RFC 6152 §3).
// SIZE is the size of what is actually sent (after conversion growth, RFC 1870 §3); the protocol core refuses a
// message over the peer's limit with 552 5.3.4 before MAIL.
//
// Conversions are planned once per message attempt and shared by every connection that needs the same variant
// (MessageTracker::mime). Threads: chooseBody() runs on the connection's loop thread; the cache is locked.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/delivery/work.hpp"
#include "engine/ops/delivery_log.hpp"
#include "engine/smtp/capabilities.hpp"
#include "engine/smtp/client_session.hpp"

namespace sluice::delivery {

struct BodyChoice {
  bool refused = false;
  smtp::Reply refusal;  // when refused: the reply every recipient fails with (permanent, synthesized)
  smtp::BodyType body = smtp::BodyType::Unspecified;  // BODY= to declare
  bool smtpUtf8 = false;                              // SMTPUTF8 to declare
  std::shared_ptr<const smtp::BodySource> source;     // a converted variant; null = the stored bytes
  std::uint64_t size = 0;                             // octets sent (SIZE=)
  ops::BodyTransport transport = ops::BodyTransport::SevenBit;
};

// Decides for `msg` sent to a peer with `caps` (chunking: BDAT in use on the connection). `addresses` are the
// recipients of this transaction (for the SMTPUTF8 check).
BodyChoice chooseBody(const std::shared_ptr<MessageTracker>& msg, const std::vector<std::string_view>& addresses,
                      const smtp::Capabilities& caps, bool chunking, bool wrapNonMime8bit);

// The classification of a message: from its spool record when intake stored one, else computed now.
std::uint8_t mimeFlagsOf(const queue::MessageView& view);

}  // namespace sluice::delivery
