// headers.hpp (internal to engine/mime): reading one MIME entity's header (RFC 5322 §2.2, RFC 2045 §5, §6):
// where the header ends, its fields with their folded continuation lines, and the two fields the converter
// acts on: Content-Type (type, subtype, boundary) and Content-Transfer-Encoding.
// Pure functions on views into the message; lenient: malformed fields never fail, they read as absent.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::mime::detail {

// One header field: [start, end) covers its first line through its last continuation line and line ending.
struct Field {
  std::size_t start = 0;
  std::size_t end = 0;
  std::string_view name;   // before the colon (may be empty for a line without a colon)
  std::string_view value;  // after the colon through the last continuation line, line endings included
};

// The header of an entity (a message or a body part).
struct Header {
  std::vector<Field> fields;
  std::size_t end = 0;        // offset of the empty line ending the header (the entity's size when none)
  std::size_t bodyStart = 0;  // offset of the first body octet (after the empty line)
  bool eightBit = false;      // an octet >= 0x80 in [0, end)
  bool nul = false;           // a NUL in [0, end)
  bool longLine = false;      // a line over 998 octets in [0, end)
  bool mimeVersion = false;   // a MIME-Version field
  int contentType = -1;       // index of the first Content-Type field, -1 when none
  int transferEncoding = -1;  // index of the first Content-Transfer-Encoding field, -1 when none
};

// Reads the header of entity. Lines end at LF (a CR before it is dropped); the first empty line ends it.
Header parseHeader(std::string_view entity);

// True when name equals lowerName ignoring ASCII case (lowerName is lower case).
bool equalsLower(std::string_view name, std::string_view lowerName);

// Content-Type (RFC 2045 §5.1), type and subtype lower-cased; valid false when the field cannot be read (the
// caller then uses its default, as RFC 2045 §5.2 says).
struct ContentType {
  bool valid = false;
  std::string type;
  std::string subtype;
  bool hasBoundary = false;
  std::string boundary;  // unquoted, case kept
};
ContentType parseContentType(std::string_view value);

// The Content-Transfer-Encoding mechanism (RFC 2045 §6.1) lower-cased; empty when none can be read.
std::string parseTransferEncoding(std::string_view value);

}  // namespace sluice::mime::detail
