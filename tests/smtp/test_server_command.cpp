// test_server_command.cpp: table tests for the server's command-line parsers (server_command.hpp): verbs, paths
// and their limits (RFC 5321 §4.1.2, §4.5.3.1), MAIL/RCPT parameters (RFC 1870, 6152, 3030, 6531, 3461, 4954),
// BDAT arguments (RFC 3030 §2), ETRN nodes (RFC 1985 §5) and strict base64 (RFC 4648 §4, RFC 4954 §4).
#include <doctest/doctest.h>

#include <string>

#include "engine/smtp/server_command.hpp"

using namespace sluice::smtp;

TEST_CASE("verbs are case-insensitive whole words; arguments trimmed (RFC 5321 §2.4)") {
  struct Row {
    const char* line;
    Verb verb;
    const char* args;
  };
  const Row rows[] = {
      {"EHLO host", Verb::Ehlo, "host"},   {"ehlo  host  ", Verb::Ehlo, "host"}, {"MaIl FROM:<>", Verb::Mail, "FROM:<>"},
      {"DATA", Verb::Data, ""},            {"STARTTLS", Verb::StartTls, ""},     {"starttls x", Verb::StartTls, "x"},
      {"DATAX", Verb::Unknown, ""},        {"DAT", Verb::Unknown, ""},           {"", Verb::Unknown, ""},
      {"BDAT 10 LAST", Verb::Bdat, "10 LAST"}, {"QUIT", Verb::Quit, ""},        {"TURN", Verb::Turn, ""},
  };
  for (const Row& r : rows) {
    std::string_view args;
    CAPTURE(r.line);
    CHECK(parseVerb(r.line, args) == r.verb);
    if (r.verb != Verb::Unknown) CHECK(args == r.args);
  }
}

TEST_CASE("paths: syntax, source routes, postmaster and length limits (RFC 5321 §4.1.2, §4.5.3.1.1-3)") {
  struct Row {
    std::string path;
    bool allowNull, postmaster;
    PathError err;
    const char* mailbox;
  };
  const std::string l64(64, 'a'), d63(63, 'b');
  const Row rows[] = {
      {"<a@example.com>", false, false, PathError::None, "a@example.com"},
      {"<>", true, false, PathError::None, ""},
      {"<>", false, false, PathError::Syntax, ""},
      {"<\"a b>c\"@example.com>", false, false, PathError::None, "\"a b>c\"@example.com"},
      {"<a.b+c@sub.example.com> SIZE=1", false, false, PathError::None, "a.b+c@sub.example.com"},
      {"<@r1.example,@r2.example:a@example.com>", false, false, PathError::None, "a@example.com"},
      {"<a@[IPv6:2001:db8::1]>", false, false, PathError::None, "a@[IPv6:2001:db8::1]"},
      {"<postmaster>", false, true, PathError::None, "postmaster"},
      {"<postmaster>", false, false, PathError::Syntax, ""},
      {"a@example.com", false, false, PathError::Syntax, ""},
      {"<a@example.com", false, false, PathError::Syntax, ""},
      {"<a@example.com>x", false, false, PathError::Syntax, ""},
      {"<.a@example.com>", false, false, PathError::Syntax, ""},
      {"<a..b@example.com>", false, false, PathError::Syntax, ""},
      {"<a@-example.com>", false, false, PathError::Syntax, ""},
      {"<a@example..com>", false, false, PathError::Syntax, ""},
      {"<a b@example.com>", false, false, PathError::Syntax, ""},
      {"<a@" + std::string(64, 'x') + ".com>", false, false, PathError::Syntax, ""},  // label over 63
      {"<" + l64 + "@example.com>", false, false, PathError::None, nullptr},
      {"<" + l64 + "a@example.com>", false, false, PathError::LocalPartTooLong, ""},
      {"<a@" + d63 + "." + d63 + "." + d63 + "." + d63 + ">", false, false, PathError::None, nullptr},  // path 259
  };
  PathLimits limits;
  for (const Row& r : rows) {
    CAPTURE(r.path);
    ParsedPath out;
    std::string_view rest;
    PathError e = parsePath(r.path, r.allowNull, r.postmaster, limits, out, rest);
    if (r.path.size() > 256 && r.err == PathError::None) {
      CHECK(e == PathError::PathTooLong);
      continue;
    }
    CHECK(e == r.err);
    if (e == PathError::None && r.mailbox) CHECK(out.mailbox == r.mailbox);
  }
  PathLimits loose;
  loose.path = 1000;
  ParsedPath out;
  std::string_view rest;
  const std::string longDomain = "<a@" + d63 + "." + d63 + "." + d63 + "." + d63 + "." + d63 + ">";
  CHECK(parsePath(longDomain, false, false, loose, out, rest) == PathError::DomainTooLong);
  CHECK(parsePath("<\xC3\xA9@example.com>", false, false, limits, out, rest) == PathError::None);
  CHECK(out.nonAscii);
}

TEST_CASE("MAIL parameters: offered extensions only, values checked, repeats refused (RFC 5321 §4.1.1.3)") {
  Offered all{true, true, true, true, true, true};
  Offered none{};
  struct Row {
    const char* params;
    const Offered& offered;
    ParamError err;
  };
  const Row rows[] = {
      {"", none, ParamError::None},
      {" SIZE=123 BODY=8BITMIME", all, ParamError::None},
      {"SIZE=123", none, ParamError::NotOffered},
      {"SIZE=", all, ParamError::Syntax},
      {"SIZE=99999999999999999999999", all, ParamError::Syntax},
      {"SIZE=1 SIZE=2", all, ParamError::Syntax},
      {"BODY=7BIT", all, ParamError::None},
      {"BODY=BINARY", all, ParamError::Syntax},
      {"BODY=BINARYMIME", none, ParamError::NotOffered},
      {"SMTPUTF8", all, ParamError::None},
      {"SMTPUTF8=yes", all, ParamError::Syntax},
      {"RET=HDRS ENVID=x+2By", all, ParamError::None},
      {"RET=ALL", all, ParamError::Syntax},
      {"ENVID=bad+zz", all, ParamError::Syntax},
      {"ENVID=x", none, ParamError::NotOffered},
      {"AUTH=<>", all, ParamError::None},
      {"AUTH=<>", none, ParamError::NotOffered},
      {"X-FOO=1", all, ParamError::Unknown},
      {"=1", all, ParamError::Syntax},
  };
  for (const Row& r : rows) {
    CAPTURE(r.params);
    MailParams p;
    std::string auth;
    bool authGiven = false;
    CHECK(parseMailParams(r.params, r.offered, p, auth, authGiven) == r.err);
  }
  MailParams p;
  std::string auth;
  bool authGiven = false;
  REQUIRE(parseMailParams("size=42 body=binarymime ret=full envid=a+2Bb auth=u+40x", all, p, auth, authGiven) ==
          ParamError::None);
  CHECK(p.size == 42);
  CHECK(p.body == BodyType::BinaryMime);
  CHECK(p.ret == DsnRet::Full);
  CHECK(p.envid == "a+b");
  CHECK(authGiven);
  CHECK(auth == "u@x");
}

TEST_CASE("RCPT parameters: NOTIFY lists and ORCPT xtext (RFC 3461 §4.1, §4.2)") {
  Offered dsn{};
  dsn.dsn = true;
  struct Row {
    const char* params;
    ParamError err;
    std::uint8_t notify;
  };
  const Row rows[] = {
      {"NOTIFY=NEVER", ParamError::None, NotifyNever},
      {"NOTIFY=success,DELAY", ParamError::None, NotifySuccess | NotifyDelay},
      {"NOTIFY=NEVER,FAILURE", ParamError::Syntax, 0},
      {"NOTIFY=SUCCESS,SUCCESS", ParamError::Syntax, 0},
      {"NOTIFY=", ParamError::Syntax, 0},
      {"NOTIFY=SOMETIMES", ParamError::Syntax, 0},
      {"ORCPT=rfc822;a+2Bb@example.com", ParamError::None, 0},
      {"ORCPT=rfc822", ParamError::Syntax, 0},
      {"ORCPT=;a@b", ParamError::Syntax, 0},
      {"ORCPT=rfc822;a+4", ParamError::Syntax, 0},
      {"FOO", ParamError::Unknown, 0},
  };
  for (const Row& r : rows) {
    CAPTURE(r.params);
    RcptParams p;
    CHECK(parseRcptParams(r.params, dsn, p) == r.err);
    if (r.err == ParamError::None) CHECK(p.notify == r.notify);
  }
  RcptParams p;
  CHECK(parseRcptParams("NOTIFY=NEVER", Offered{}, p) == ParamError::NotOffered);
  REQUIRE(parseRcptParams("ORCPT=rfc822;a+2Bb@example.com", dsn, p) == ParamError::None);
  CHECK(p.orcptType == "rfc822");
  CHECK(p.orcpt == "a+b@example.com");
}

TEST_CASE("BDAT arguments (RFC 3030 §2)") {
  std::uint64_t n = 0;
  bool last = false;
  CHECK(parseBdatArgs("0 LAST", n, last) == BdatArgs::Ok);
  CHECK((n == 0 && last));
  CHECK(parseBdatArgs("5120", n, last) == BdatArgs::Ok);
  CHECK((n == 5120 && !last));
  CHECK(parseBdatArgs("7 last", n, last) == BdatArgs::Ok);
  CHECK(last);
  CHECK(parseBdatArgs("7 LATER", n, last) == BdatArgs::BadSyntax);
  CHECK(n == 7);
  CHECK(parseBdatArgs("", n, last) == BdatArgs::NoSize);
  CHECK(parseBdatArgs("LAST", n, last) == BdatArgs::NoSize);
  CHECK(parseBdatArgs("-1", n, last) == BdatArgs::NoSize);
  CHECK(parseBdatArgs("18446744073709551616", n, last) == BdatArgs::NoSize);  // 2^64
}

TEST_CASE("ETRN nodes (RFC 1985 §5)") {
  CHECK(validEtrnNode("example.org"));
  CHECK(validEtrnNode("@example.org"));
  CHECK(validEtrnNode("#queue-1"));
  CHECK_FALSE(validEtrnNode(""));
  CHECK_FALSE(validEtrnNode("@"));
  CHECK_FALSE(validEtrnNode("#"));
  CHECK_FALSE(validEtrnNode("bad..name"));
  CHECK_FALSE(validEtrnNode("two words"));
}

TEST_CASE("strict base64 (RFC 4648 §4; RFC 4954 §4 rejects malformed responses)") {
  std::string out;
  CHECK(base64Decode("", out));
  CHECK(out.empty());
  CHECK(base64Decode("dXNlcg==", out));
  CHECK(out == "user");
  CHECK(base64Decode("c2VjcmV0", out));
  CHECK(out == "secret");
  CHECK(base64Decode("AHVzZXIAc2VjcmV0", out));
  CHECK(out == std::string("\0user\0secret", 12));
  CHECK_FALSE(base64Decode("dXNlcg=", out));
  CHECK_FALSE(base64Decode("dXNlc===", out));
  CHECK_FALSE(base64Decode("dX=lcg==", out));
  CHECK_FALSE(base64Decode("dXNl cg=", out));
  CHECK_FALSE(base64Decode("!!!!", out));
}
