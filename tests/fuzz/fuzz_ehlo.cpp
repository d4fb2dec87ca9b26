// fuzz_ehlo.cpp: libFuzzer target for parseEhlo (RFC 5321 §4.1.1.1): the input is parsed as reply(s) and each
// reply goes through parseEhlo. Must never crash; the capability set must be internally consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/smtp/capabilities.hpp"
#include "engine/smtp/command.hpp"
#include "engine/smtp/reply.hpp"

namespace {

// Aborts (a finding for the fuzzer) when a condition that must always hold does not.
void require(bool ok) {
  if (!ok) std::abort();
}

// True when s contains no lower-case ASCII letter.
bool isUpper(const std::string& s) {
  for (char c : s) {
    if (c >= 'a' && c <= 'z') return false;
  }
  return true;
}

}  // namespace

// libFuzzer entry point.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sluice::smtp::ReplyParser p;
  p.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  sluice::smtp::Reply r;
  while (p.next(r) == sluice::smtp::ReplyParser::Status::Ready) {
    const sluice::smtp::Capabilities caps = sluice::smtp::parseEhlo(r);
    require(caps.esmtp == (r.code >= 200 && r.code <= 299));
    if (!caps.esmtp) require(!caps.pipelining && !caps.dsn && !caps.size && caps.auth.empty());
    if (!caps.size) require(caps.sizeLimit == 0);
    for (const std::string& m : caps.auth) require(!m.empty() && isUpper(m));
    for (const std::string& k : caps.other) require(!k.empty() && isUpper(k));
    // Commands written for this peer always stay one line each.
    sluice::smtp::MailParams mp;
    mp.size = 1000;
    mp.body = sluice::smtp::BodyType::BinaryMime;
    mp.envid = caps.domain;
    std::string out;
    sluice::smtp::appendMail(out, caps.domain, mp, caps);
    require(out.find('\n') == out.size() - 1 && out.find('\r') == out.size() - 2);
  }
  return 0;
}
