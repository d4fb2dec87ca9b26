// address.cpp: IP address formatting/parsing, endpoint parsing and domain normalisation.
#include "resolver/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sluice::resolver {

// Formats the address with inet_ntop.
std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::V4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

// Tries IPv4 then IPv6 with inet_pton.
std::optional<IpAddress> parseIp(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes.data()) == 1) {
    ip.family = Family::V4;
    return ip;
  }
  if (inet_pton(AF_INET6, buf, ip.bytes.data()) == 1) {
    ip.family = Family::V6;
    return ip;
  }
  return std::nullopt;
}

// Renders host and port, bracketing IPv6 literals.
std::string Endpoint::toString() const {
  if (ip && ip->family == Family::V6) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace {

// Parses a decimal port 1..65535; returns false otherwise.
bool parsePort(std::string_view s, std::uint16_t& port) {
  if (s.empty() || s.size() > 5) return false;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || value == 0 || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

// Splits off the port (bracket-aware), then classifies the host part as an address literal or a host name.
std::string parseEndpoint(std::string_view text, std::uint16_t defaultPort, Endpoint& out) {
  std::string_view host = text;
  std::string_view port;
  bool bracketed = false;
  if (text.empty()) return "empty endpoint";
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return "missing ']' in '" + std::string(text) + "'";
    host = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "unexpected text after ']' in '" + std::string(text) + "'";
      port = rest.substr(1);
      if (port.empty()) return "empty port in '" + std::string(text) + "'";
    }
    bracketed = true;
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos) {
      if (text.find(':') != colon) {
        // Several colons and no brackets: a bare IPv6 address without a port.
        if (!parseIp(text)) return "not an address: '" + std::string(text) + "'";
      } else {
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (port.empty()) return "empty port in '" + std::string(text) + "'";
      }
    }
  }
  Endpoint ep;
  ep.port = defaultPort;
  if (!port.empty() && !parsePort(port, ep.port)) return "bad port '" + std::string(port) + "' (1-65535)";
  if (host.empty()) return "empty host in '" + std::string(text) + "'";
  if (auto ip = parseIp(host)) {
    ep.ip = ip;
    ep.host = ip->toString();
  } else if (bracketed) {
    return "not an address inside brackets: '" + std::string(host) + "'";
  } else if (!normaliseDomain(host, ep.host)) {
    return "bad host name '" + std::string(host) + "'";
  }
  out = std::move(ep);
  return {};
}

// Lower-cases and validates label by label.
bool normaliseDomain(std::string_view in, std::string& out) {
  if (!in.empty() && in.back() == '.') in.remove_suffix(1);
  if (in.empty() || in.size() > 253) return false;
  out.resize(in.size());
  std::size_t label = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      out[i] = c;
      continue;
    }
    if (++label > 63) return false;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
    out[i] = c;
  }
  return label != 0;
}

}  // namespace sluice::resolver
