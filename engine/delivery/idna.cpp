// idna.cpp: A-label conversion of envelope domains with libidn2 (see idna.hpp).
#include "engine/delivery/idna.hpp"

#include <idn2.h>

#include <cstdlib>

#include "engine/delivery/inject.hpp"

namespace sluice::delivery {

bool nonAsciiLocalPart(std::string_view address) {
  std::size_t at = address.rfind('@');
  return hasEightBit(at == std::string_view::npos ? address : address.substr(0, at));
}

bool toAsciiDomain(std::string_view domain, std::string& out, std::string* error) {
  if (!hasEightBit(domain)) {
    out.assign(domain);
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return true;
  }
  std::string in(domain);
  char* ascii = nullptr;
  int rc = idn2_to_ascii_8z(in.c_str(), &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  if (rc != IDN2_OK) {
    if (error) *error = "invalid internationalised domain name: " + std::string(idn2_strerror(rc));
    return false;
  }
  out = ascii;
  idn2_free(ascii);
  return true;
}

std::string asciiDomainAddress(std::string_view address) {
  std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || !hasEightBit(address.substr(at + 1))) return std::string(address);
  std::string domain;
  if (!toAsciiDomain(address.substr(at + 1), domain)) return std::string(address);
  std::string out(address.substr(0, at + 1));
  out += domain;
  return out;
}

}  // namespace sluice::delivery
