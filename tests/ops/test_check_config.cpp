// test_check_config.cpp: `sluice check-config FILE` run as a function: exit codes, what goes to stdout and
// what to stderr.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "engine/ops/config.hpp"
#include "ops_test_support.hpp"

using sluice::ops::checkConfigCommand;

namespace {

struct Run {
  int rc = -1;
  std::string out;
  std::string err;
};

std::string slurp(std::FILE* f) {
  std::rewind(f);
  std::string s;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

Run run(std::vector<std::string> args) {
  args.insert(args.begin(), "check-config");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  REQUIRE(out != nullptr);
  REQUIRE(err != nullptr);
  Run r;
  r.rc = checkConfigCommand(static_cast<int>(args.size()), argv.data(), out, err);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace

TEST_CASE("check-config: a good file prints 'FILE: ok' and a summary, exit 0") {
  ops_test::TempDir dir;
  const std::string path = dir.file("good.yaml");
  ops_test::writeFile(path, "spool: /srv/spool\nthreads: 3\nroutes:\n  \"*\": 127.0.0.1:2525\n");
  const Run r = run({path});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out.rfind(path + ": ok\n", 0) == 0);
  CHECK(r.out.find("threads 3") != std::string::npos);
  CHECK(r.out.find("routes 1") != std::string::npos);
}

TEST_CASE("check-config: every error on stderr, exit 1") {
  ops_test::TempDir dir;
  const std::string path = dir.file("bad.yaml");
  ops_test::writeFile(path, "spool: /s\nthreads: 300\npool:\n  max_conections: 2\n");
  const Run r = run({path});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err.find(path + ":2:10: threads: 300 is out of range") != std::string::npos);
  CHECK(r.err.find(path + ":4:3: unknown key 'pool.max_conections' (did you mean 'max_connections'?)") !=
        std::string::npos);
  CHECK(r.err.find("2 errors") != std::string::npos);
}

TEST_CASE("check-config: a file that parses but cannot run (no spool, no nameserver) fails") {
  ops_test::TempDir dir;
  const std::string path = dir.file("norun.yaml");
  ops_test::writeFile(path, "threads: 1\n");
  const Run r = run({path});
  CHECK(r.rc == 1);
  CHECK(r.err.find("spool: a spool directory is required") != std::string::npos);
  CHECK(r.err.find("resolver.nameservers") != std::string::npos);
}

TEST_CASE("check-config: missing file, usage and --help") {
  ops_test::TempDir dir;
  Run r = run({dir.file("absent.yaml")});
  CHECK(r.rc == 1);
  CHECK(r.err.find("cannot open the file") != std::string::npos);

  r = run({"--help"});
  CHECK(r.rc == 0);
  CHECK(r.out.find("usage: sluice check-config FILE") == 0);

  r = run({});
  CHECK(r.rc == 2);
  CHECK(r.err.find("usage:") == 0);

  r = run({"a.yaml", "b.yaml"});
  CHECK(r.rc == 2);

  r = run({"--verbose", "a.yaml"});
  CHECK(r.rc == 2);
  CHECK(r.err.find("unknown option '--verbose'") != std::string::npos);
}
