// result.cpp: names and SMTP codes for resolver outcomes.
#include "resolver/result.hpp"

namespace sluice::resolver {

// Names for logs.
const char* reasonName(MxReason r) {
  switch (r) {
    case MxReason::None: return "none";
    case MxReason::NxDomain: return "nxdomain";
    case MxReason::NullMx: return "null-mx";
    case MxReason::NoUsableMx: return "no-usable-mx";
    case MxReason::NoAddress: return "no-address";
    case MxReason::MxLoop: return "mx-loop";
    case MxReason::BadDomain: return "bad-domain";
    case MxReason::ServFail: return "servfail";
    case MxReason::Timeout: return "timeout";
    case MxReason::Cancelled: return "cancelled";
    case MxReason::RouteFailed: return "route-failed";
  }
  return "?";
}

// Maps the reason to status, reply code and enhanced code (RFC 3463, RFC 7505 for null MX).
MxResult makeFailure(MxReason reason, std::string detail, std::uint32_t ttlSeconds) {
  MxResult r;
  r.reason = reason;
  r.detail = std::move(detail);
  r.ttlSeconds = ttlSeconds;
  switch (reason) {
    case MxReason::NxDomain:
    case MxReason::NoAddress:
    case MxReason::BadDomain:
      r.status = MxStatus::Permanent, r.smtpCode = 550, r.enhancedCode = "5.1.2";
      break;
    case MxReason::NullMx:
      r.status = MxStatus::Permanent, r.smtpCode = 556, r.enhancedCode = "5.1.10";
      break;
    case MxReason::NoUsableMx:
      r.status = MxStatus::Permanent, r.smtpCode = 550, r.enhancedCode = "5.4.4";
      break;
    case MxReason::MxLoop:
      r.status = MxStatus::Permanent, r.smtpCode = 550, r.enhancedCode = "5.4.6";
      break;
    case MxReason::None:
    case MxReason::ServFail:
    case MxReason::Timeout:
    case MxReason::Cancelled:
    case MxReason::RouteFailed:
      r.status = MxStatus::Temporary, r.smtpCode = 451, r.enhancedCode = "4.4.3";
      break;
  }
  return r;
}

}  // namespace sluice::resolver
