// fuzz_envelope.cpp: libFuzzer target for the stored ESMTP parameter parsers and the intake normaliser
// (engine/delivery/envelope.hpp, inject.hpp). Invariants: no crash; whatever parses formats back to a string that
// parses to the same values; the normalised body has only CRLF line endings and ends with CRLF.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/delivery/envelope.hpp"
#include "engine/delivery/inject.hpp"

namespace {
void require(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  smtp::MailParams mp;
  if (delivery::parseMailParams(text, mp)) {
    smtp::MailParams again;
    require(delivery::parseMailParams(delivery::formatMailParams(mp), again));
    require(again.body == mp.body && again.smtpUtf8 == mp.smtpUtf8 && again.ret == mp.ret &&
            again.envid == mp.envid);
  }
  smtp::RcptParams rp;
  if (delivery::parseRcptParams(text, rp)) {
    smtp::RcptParams again;
    require(delivery::parseRcptParams(delivery::formatRcptParams(rp), again));
    require(again.notify == rp.notify && again.orcpt == rp.orcpt);
    if (!rp.orcpt.empty()) require(again.orcptType == rp.orcptType);
  }
  std::string d = delivery::domainOf(text);
  for (char c : d) require(!(c >= 'A' && c <= 'Z'));

  std::string body(text);
  delivery::normaliseLineEndings(body);
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r') require(i + 1 < body.size() && body[i + 1] == '\n');
    if (body[i] == '\n') require(i > 0 && body[i - 1] == '\r');
  }
  if (!body.empty()) require(body.size() >= 2 && body.compare(body.size() - 2, 2, "\r\n") == 0);
  return 0;
}
