// address.hpp: IP address values and "host:port" / "[ip]:port" endpoint parsing for the resolver.
//
// Pure value types, no I/O. Parsing reports errors as values (an error string), never by throwing; any thread may
// call these functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::resolver {

// Which IP family an address belongs to.
enum class Family : std::uint8_t { V4, V6 };

// An IPv4 or IPv6 address in network byte order (IPv4 uses the first 4 bytes).
struct IpAddress {
  Family family = Family::V4;
  std::array<std::uint8_t, 16> bytes{};

  std::string toString() const;  // "192.0.2.1" or "2001:db8::1"
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Parses a textual IPv4 or IPv6 address (no brackets, no port); nullopt when it is not one.
std::optional<IpAddress> parseIp(std::string_view text);

// A destination or nameserver: a host name or an address literal, with a port.
struct Endpoint {
  std::string host;               // host name (lower case, no trailing dot) or address text
  std::optional<IpAddress> ip;    // set when the host is an address literal
  std::uint16_t port = 0;

  std::string toString() const;   // "host:port", "[ip]:port" for IPv6, "ip:port" for IPv4
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Parses "host", "host:port", "ip", "ip:port", "[ip]" or "[ip]:port" (IPv6 needs brackets when a port is given).
// A missing port becomes defaultPort. Returns the empty string on success, else a message naming the problem.
std::string parseEndpoint(std::string_view text, std::uint16_t defaultPort, Endpoint& out);

// Lower-cases a domain name and strips one trailing dot; returns false when it is not a plausible host name
// (empty, longer than 253 octets, an empty or over-long label, or a character outside letters, digits, '-', '_').
bool normaliseDomain(std::string_view in, std::string& out);

}  // namespace sluice::resolver
