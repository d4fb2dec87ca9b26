// fold.cpp: foldLongHeaderLines(), intake's header repair (see mime.hpp): a top-level header line over 998 octets
// is folded at white space (RFC 5322 §2.2.3, §2.1.1) so nothing sent breaks RFC 5321 §4.5.3.1.6. Only lines over
// the limit change, only by inserting CRLF before a space or tab (which unfolding removes again), and only when
// every resulting line is within the limit; otherwise the line stays as it was.
#include <string>
#include <vector>

#include "engine/mime/mime.hpp"

namespace sluice::mime {

namespace {

constexpr std::size_t kLimit = 998;  // octets before CRLF

// Where to break [ls, le) so every piece is at most kLimit octets: before the last space or tab that leaves
// something besides white space on the line so far. Empty when the line cannot be brought under the limit.
std::vector<std::size_t> foldPoints(const std::string& m, std::size_t ls, std::size_t le) {
  std::vector<std::size_t> at;
  std::size_t start = ls;
  while (le - start > kLimit) {
    std::size_t cut = std::string::npos;
    for (std::size_t i = start + kLimit; i > start; --i) {
      if (m[i] != ' ' && m[i] != '\t') continue;
      for (std::size_t j = start; j < i; ++j) {
        if (m[j] != ' ' && m[j] != '\t') {
          cut = i;
          break;
        }
      }
      break;
    }
    if (cut == std::string::npos) return {};
    at.push_back(cut);
    start = cut;
  }
  return at;
}

// Folds the lines over the limit up to the first empty line; counts the breaks inserted and the lines left too
// long.
void foldLines(std::string& message, std::size_t& folded, std::size_t& unfoldable) {
  std::size_t ls = 0;  // start of the current line
  while (ls < message.size()) {
    std::size_t le = message.find("\r\n", ls);
    if (le == std::string::npos) le = message.size();
    if (le == ls) break;  // the empty line: the header ends
    if (le - ls > kLimit) {
      const std::vector<std::size_t> at = foldPoints(message, ls, le);
      if (at.empty()) ++unfoldable;
      for (auto it = at.rbegin(); it != at.rend(); ++it) message.insert(*it, "\r\n");
      folded += at.size();
      le += 2 * at.size();
    }
    ls = le + 2;
  }
}

}  // namespace

bool detail::foldHeaderText(std::string_view in, std::string& out) {
  out.assign(in);
  std::size_t folded = 0, unfoldable = 0;
  foldLines(out, folded, unfoldable);
  return unfoldable == 0;
}

std::size_t foldLongHeaderLines(std::string& message) {
  std::size_t folded = 0, unfoldable = 0;
  foldLines(message, folded, unfoldable);
  return folded;
}

}  // namespace sluice::mime
