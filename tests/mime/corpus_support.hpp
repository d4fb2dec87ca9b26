// corpus_support.hpp: what the corpus tests share (tests/mime/corpus_test.cpp through the converter,
// tests/engine/scenario_mime_corpus.cpp through the engine): where the corpus and the independent checker live,
// and running the checker (check_mime.py under the system's Python) on one original / delivered pair.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::mimetest {

namespace fs = std::filesystem;

inline fs::path sourceDir() {
  if (const char* s = std::getenv("SLUICE_SOURCE_DIR"); s != nullptr && *s != '\0') return fs::path(s);
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
}
inline fs::path corpusDir() { return sourceDir() / "tests" / "mime" / "corpus"; }
inline fs::path checkerPath() { return sourceDir() / "tests" / "mime" / "check_mime.py"; }

// Runs check_mime.py with `flags` on original / delivered; returns its exit status, its output in `output`.
inline int runChecker(const std::vector<std::string>& flags, const fs::path& original, const fs::path& delivered,
                      std::string& output) {
  std::string cmd = "/usr/bin/python3 '" + checkerPath().string() + "'";
  for (const auto& f : flags) cmd += " " + f;
  cmd += " '" + original.string() + "' '" + delivered.string() + "' 2>&1";
  output.clear();
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) output.append(buf.data(), n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace sluice::mimetest
