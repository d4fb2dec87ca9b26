// bodies.hpp: message bodies and helpers shared by the interop tests. Each body probes one content edge: raw 8-bit
// UTF-8 (RFC 6152), lines starting with "." and CRLF.CRLF look-alikes (RFC 5321 §4.5.2), an empty body (RFC 3030
// §2 "BDAT 0 LAST"), and a large body spanning several BDAT chunks / DATA blocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/smtp/client_session.hpp"

namespace sluice::interop {

// Client configuration for loopback peers: our name, no STARTTLS (the TLS filter comes with the engine).
inline smtp::ClientConfig clientConfig() {
  smtp::ClientConfig c;
  c.heloName = "client.sluice.test";
  c.tls = smtp::TlsPolicy::Never;
  return c;
}

// A message from sender@origin.test to `recipients` with one body span.
inline smtp::OutboundMessage message(smtp::MessageHandle handle, const std::vector<std::string>& recipients,
                                     const std::string& body, smtp::BodyType type = smtp::BodyType::Unspecified) {
  smtp::OutboundMessage m;
  m.handle = handle;
  m.reversePath = "sender@origin.test";
  m.params.body = type;
  for (const auto& r : recipients) m.recipients.push_back(smtp::OutboundRecipient{r, {}});
  if (!body.empty()) m.body.push_back(body);
  return m;
}

// Raw UTF-8 in the body, labelled 8bit (sent with BODY=8BITMIME).
inline const std::string kUtf8Body =
    "From: Sender <sender@origin.test>\r\n"
    "Subject: eight bit body\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Gr\xc3\xbc\xc3\x9f"
    "e aus K\xc3\xb6ln, na\xc3\xafve caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x93\xa8\r\n"
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\r\n";

// Lines that a DATA sender must dot-stuff: ".", "..", ". x", ".leading", and a CRLF.CRLF look-alike mid-body.
inline const std::string kDotBody =
    "From: Sender <sender@origin.test>\r\n"
    "Subject: dots\r\n"
    "\r\n"
    ".\r\n"
    "..\r\n"
    ". x\r\n"
    ".leading dot\r\n"
    "middle\r\n"
    ".\r\n"
    "not the end\r\n"
    "...\r\n"
    "last line\r\n";

// A header-only message with no body part (only a CRLF after the header).
inline const std::string kTinyBody = "Subject: tiny\r\n\r\n";

// A large 7-bit body: `lines` numbered lines of about 900 octets (under the 998 limit of RFC 5321 §4.5.3.1.6).
inline std::string largeBody(std::size_t lines) {
  std::string b = "From: Sender <sender@origin.test>\r\nSubject: large\r\n\r\n";
  for (std::size_t i = 0; i < lines; ++i) {
    std::string line = "line " + std::to_string(i) + " ";
    while (line.size() < 900) line += static_cast<char>('a' + (line.size() + i) % 26);
    if (i % 7 == 0) line.insert(0, ".");  // some dot-leading lines across block boundaries too
    b += line + "\r\n";
  }
  return b;
}

}  // namespace sluice::interop
