// corpus.hpp: the benchmark's message generator. Builds message bodies of an exact size in one of three shapes
// (plain 7-bit text; 8-bit UTF-8 HTML; multipart/mixed with a text + HTML alternative and a base64 attachment)
// and the envelope of message number i (sender, recipients spread over D domains).
//
// Pure and deterministic: the same options and index give the same bytes, with no clock, randomness or I/O.
// Every body is CRLF-clean (no bare CR or LF), has no line longer than 80 octets plus CRLF, and is pure 7-bit
// except for the html8 shape, which carries valid UTF-8 and needs BODY=8BITMIME.
// Ownership: a Corpus holds only its options and a filler template built once; body() writes into the caller's
// string (reusing its capacity). Threads: const methods may be called from any thread at once.
// Errors: none at run time; options are validated by validate() before a Corpus is built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::bench {

enum class Shape { Plain, Html8, Multipart };

// "plain" / "html8" / "multipart" -> Shape; nullopt for anything else.
std::optional<Shape> parseShape(std::string_view name);
// The name parseShape() accepts for s.
std::string_view shapeName(Shape s);

struct CorpusOptions {
  Shape shape = Shape::Plain;
  std::size_t size = 5 * 1024;           // body octets (headers included), exact unless below minimumSize()
  unsigned rcpts = 1;                    // recipients per message, 1..1000
  unsigned domains = 1;                  // recipients spread over this many domains, 1..1000000
  std::string sender = "bench@sluice.test";
  std::string domainSuffix = "bench.test";  // recipient domains are d<k>.<suffix>
};

// Largest body a Corpus builds (a named limit: the spool and the sink take more, the benchmark needs no more).
inline constexpr std::size_t kMaxCorpusBodySize = 64u << 20;
inline constexpr unsigned kMaxCorpusRcpts = 1000;
inline constexpr unsigned kMaxCorpusDomains = 1000000;

// "" when the options can be used; otherwise what is wrong with them.
std::string validate(const CorpusOptions& o);

class Corpus {
 public:
  explicit Corpus(CorpusOptions options);

  const CorpusOptions& options() const { return opts_; }
  // The smallest body this shape can have (its headers and MIME framing); smaller sizes are raised to it.
  std::size_t minimumSize() const { return minSize_; }
  // The size every body() has: max(options().size, minimumSize()).
  std::size_t bodySize() const { return bodySize_; }
  // True when bodies carry 8-bit octets (the html8 shape): send with BODY=8BITMIME.
  bool eightBit() const { return opts_.shape == Shape::Html8; }
  // The MAIL parameters to store with each message: "BODY=8BITMIME" for html8, "" otherwise.
  std::string_view mailParams() const;
  // Recipient j (< options().rcpts) of message i: "r<i>.<j>@d<k>.<suffix>", k = (i * rcpts + j) % domains.
  std::string recipient(std::uint64_t i, unsigned j) const;
  // The domain index k of recipient j of message i (see recipient()).
  unsigned domainOf(std::uint64_t i, unsigned j) const;
  // Writes message i's body (header section, blank line, content) into out, replacing its contents.
  void body(std::uint64_t i, std::string& out) const;

 private:
  // Appends the header section and the content before the filler for message number `number` whose first
  // recipient is `to`; returns the fixed text that follows the filler.
  std::string_view head(std::string_view number, std::string_view to, std::string& out) const;
  // Appends exactly n (>= 2) octets of text lines ending in CRLF: whole filler lines, then one shorter line.
  void fillText(std::size_t n, std::string& out) const;

  CorpusOptions opts_;
  std::string filler_;                 // whole CRLF lines in the shape's style (base64 for multipart)
  std::vector<std::size_t> lineEnds_;  // offsets just past each line of filler_
  std::size_t minSize_ = 0;
  std::size_t bodySize_ = 0;
};

}  // namespace sluice::bench
