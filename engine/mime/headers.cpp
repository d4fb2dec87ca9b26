// headers.cpp: header-field reading for the converter (headers.hpp): the header's extent, fields with their
// continuation lines, Content-Type with parameters (quoted strings, RFC 822 comments) and
// Content-Transfer-Encoding. Lenient by design: whatever cannot be read is treated as absent.
#include "engine/mime/headers.hpp"

#include <cstring>
#include <map>

#include "engine/mime/scan.hpp"

namespace sluice::mime::detail {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = lower(c);
  return r;
}

bool isWsp(char c) { return c == ' ' || c == '\t'; }

// RFC 2045 §5.1 tspecials.
bool isTspecial(char c) { return std::strchr("()<>@,;:\\\"/[]?=", c) != nullptr && c != 0; }

bool isTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 32 && u < 127 && !isTspecial(c);
}

// A cursor over an unfolded-or-folded field value: skips white space, line endings and (nested) comments.
struct Lexer {
  std::string_view s;
  std::size_t i = 0;

  bool atEnd() const { return i >= s.size(); }

  void skipCfws() {
    while (i < s.size()) {
      const char c = s[i];
      if (isWsp(c) || c == '\r' || c == '\n') {
        ++i;
      } else if (c == '(') {
        int depth = 0;
        while (i < s.size()) {
          const char d = s[i];
          if (d == '\\') {
            i += 2;
            continue;
          }
          ++i;
          if (d == '(') ++depth;
          if (d == ')' && --depth == 0) break;
        }
        if (i > s.size()) i = s.size();
      } else {
        break;
      }
    }
  }

  std::string_view token() {
    const std::size_t b = i;
    while (i < s.size() && isTokenChar(s[i])) ++i;
    return s.substr(b, i - b);
  }

  bool take(char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }

  // A parameter value: a quoted string (quoted pairs undone) or, leniently, a run up to ";", white space or "(".
  bool value(std::string& out) {
    out.clear();
    if (take('"')) {
      while (i < s.size()) {
        const char c = s[i++];
        if (c == '"') return true;
        if (c == '\\' && i < s.size()) {
          out.push_back(s[i++]);
        } else if (c != '\r' && c != '\n') {
          out.push_back(c);
        }
      }
      return false;  // unterminated
    }
    const std::size_t b = i;
    while (i < s.size()) {
      const auto u = static_cast<unsigned char>(s[i]);
      if (u <= 32 || u == 127 || s[i] == ';' || s[i] == '(' || s[i] == '"') break;
      ++i;
    }
    out.assign(s.substr(b, i - b));
    return i > b;
  }
};

}  // namespace

bool equalsLower(std::string_view name, std::string_view lowerName) {
  if (name.size() != lowerName.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (lower(name[i]) != lowerName[i]) return false;
  }
  return true;
}

Header parseHeader(std::string_view entity) {
  Header h;
  h.end = entity.size();
  h.bodyStart = entity.size();
  std::size_t pos = 0;
  while (pos < entity.size()) {
    const void* hit = std::memchr(entity.data() + pos, '\n', entity.size() - pos);
    const std::size_t lf =
        hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - entity.data()) : entity.size();
    const std::size_t next = hit ? lf + 1 : entity.size();
    std::size_t contentEnd = lf;
    if (contentEnd > pos && entity[contentEnd - 1] == '\r') --contentEnd;
    if (contentEnd == pos) {  // the empty line (or a final bare CR): the header ends here
      h.end = pos;
      h.bodyStart = next;
      break;
    }
    if (isWsp(entity[pos]) && !h.fields.empty()) {
      Field& f = h.fields.back();
      f.end = next;
      f.value = entity.substr(static_cast<std::size_t>(f.value.data() - entity.data()),
                              next - static_cast<std::size_t>(f.value.data() - entity.data()));
    } else {
      Field f;
      f.start = pos;
      f.end = next;
      const std::string_view line = entity.substr(pos, contentEnd - pos);
      const std::size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && isWsp(name.back())) name.remove_suffix(1);
        f.name = name;
        f.value = entity.substr(pos + colon + 1, next - (pos + colon + 1));
      } else {
        f.value = entity.substr(next, 0);
      }
      h.fields.push_back(f);
      const int idx = static_cast<int>(h.fields.size()) - 1;
      if (h.contentType < 0 && equalsLower(f.name, "content-type")) h.contentType = idx;
      if (h.transferEncoding < 0 && equalsLower(f.name, "content-transfer-encoding")) h.transferEncoding = idx;
      if (equalsLower(f.name, "mime-version")) h.mimeVersion = true;
    }
    pos = next;
  }
  const std::string_view head = entity.substr(0, h.end);
  const Scan sc = scan(head);
  h.eightBit = sc.eightBit;
  h.nul = sc.nul;
  h.longLine = sc.longLine;
  return h;
}

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One RFC 2231 piece of a parameter: `suffix` is what follows "name*": "" or "*" (a single extended value), "N"
// or "N*" (section N, extended when starred). Extended values are %XX-decoded, the first one after dropping its
// charset'language' prefix. Sections past 999 are ignored.
void addContinuation(std::string_view suffix, const std::string& value, std::map<unsigned, std::string>& pieces) {
  const bool extended = !suffix.empty() && suffix.back() == '*';
  if (extended) suffix.remove_suffix(1);
  unsigned n = 0;
  if (!suffix.empty()) {
    if (suffix.size() > 3) return;
    for (char c : suffix) {
      if (c < '0' || c > '9') return;
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
  }
  std::string_view text = value;
  if (extended && n == 0) {  // charset'language'value
    const std::size_t q1 = text.find('\'');
    const std::size_t q2 = q1 == std::string_view::npos ? q1 : text.find('\'', q1 + 1);
    if (q2 != std::string_view::npos) text = text.substr(q2 + 1);
  }
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (extended && text[i] == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
        hexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  pieces.emplace(n, std::move(out));
}

}  // namespace

ContentType parseContentType(std::string_view value) {
  ContentType ct;
  Lexer lx{value};
  lx.skipCfws();
  const std::string_view type = lx.token();
  lx.skipCfws();
  if (type.empty() || !lx.take('/')) return ct;
  lx.skipCfws();
  const std::string_view subtype = lx.token();
  if (subtype.empty()) return ct;
  ct.valid = true;
  ct.type = lowered(type);
  ct.subtype = lowered(subtype);
  std::string v;
  std::map<unsigned, std::string> pieces;  // RFC 2231 §3 continuations: boundary*0, boundary*1*, ...
  for (;;) {
    lx.skipCfws();
    if (lx.atEnd() || !lx.take(';')) break;
    lx.skipCfws();
    const std::string_view attr = lx.token();
    if (attr.empty()) continue;  // ";;" or a trailing ";"
    lx.skipCfws();
    if (!lx.take('=')) break;
    lx.skipCfws();
    if (!lx.value(v)) break;
    if (!ct.hasBoundary && equalsLower(attr, "boundary")) {
      ct.hasBoundary = true;
      ct.boundary = v;
    } else if (attr.size() >= 9 && equalsLower(attr.substr(0, 9), "boundary*")) {
      // "boundary*" alone is one extended value (RFC 2231 §4): section 0, starred.
      addContinuation(attr.size() == 9 ? std::string_view("*") : attr.substr(9), v, pieces);
    }
  }
  if (!ct.hasBoundary && !pieces.empty()) {
    // Used only when the pieces run 0, 1, 2, ... without a gap.
    std::string joined;
    unsigned expect = 0;
    for (const auto& [n, text] : pieces) {
      if (n != expect++) {
        joined.clear();
        break;
      }
      joined += text;
    }
    if (!joined.empty()) {
      ct.hasBoundary = true;
      ct.boundary = std::move(joined);
    }
  }
  return ct;
}

std::string parseTransferEncoding(std::string_view value) {
  Lexer lx{value};
  lx.skipCfws();
  return lowered(lx.token());
}

}  // namespace sluice::mime::detail
