// ops_test_support.hpp: helpers shared by the ops tests (a scratch directory, file reading, error matching).
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace ops_test {

// A fresh directory under the system temp directory, removed with everything in it on destruction.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-ops-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(std::string_view name) const { return (path / name).string(); }
};

inline void writeFile(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The number of errors containing every one of the needles.
inline int countMatching(const std::vector<std::string>& errors, std::initializer_list<std::string_view> needles) {
  int n = 0;
  for (const std::string& e : errors) {
    bool all = true;
    for (std::string_view needle : needles) all = all && e.find(needle) != std::string::npos;
    n += all ? 1 : 0;
  }
  return n;
}

inline std::string joinLines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += e + "\n";
  return s;
}

}  // namespace ops_test
