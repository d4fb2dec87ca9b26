// test_convert_multipart.cpp: convert() on MIME trees: multipart boundaries (RFC 2046 §5.1.1: the CRLF before a
// delimiter belongs to it, transport padding, close delimiter, preamble / epilogue), nested multiparts,
// message/rfc822 (RFC 2046 §5.2.1: recursed, relabelled, never encoded), message/partial (RFC 2046 §5.2.2: 7bit
// only), digest defaults (RFC 2046 §5.1.5), 8-bit part headers, and the depth limit.
#include "mime_support.hpp"

using namespace sluice;
using namespace sluice::test;
using mime::Target;

namespace {

const std::string kFrench =
    "Bonjour \xC3\xA0 tous, voici la lettre d'information de la semaine prochaine.\r\n";
const std::string kHtml =
    "<p>Caf\xC3\xA9 offert \xC3\xA0 tous les participants de la r\xC3\xA9union.</p>\r\n";

// The content of the part whose header contains `marker`: from after its empty line to the CRLF before the next
// "--" delimiter line (that CRLF belongs to the delimiter, RFC 2046 §5.1.1).
std::string partBody(const std::string& out, std::string_view marker) {
  const std::size_t m = out.find(marker);
  REQUIRE(m != std::string::npos);
  const std::size_t b = out.find("\r\n\r\n", m) + 4;
  const std::size_t e = out.find("\r\n--", b);
  return out.substr(b, e - b);
}

std::string alternative(std::string_view preamble = "", std::string_view epilogue = "") {
  return "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n"
         " boundary=\"=_alt 1\"\r\n\r\n" +
         std::string(preamble) +
         "--=_alt 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
         kFrench + "--=_alt 1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
         kHtml + "--=_alt 1--\r\n" + std::string(epilogue);
}

// s without its final CRLF: a part's content as the parser sees it when s is followed by a delimiter.
std::string content(const std::string& s) { return s.substr(0, s.size() - 2); }

}  // namespace

TEST_CASE("multipart/alternative with 8-bit text and html: both leaves QP, boundaries and CRLFs kept") {
  const std::string msg = alternative();
  auto c = planOk(msg);
  const std::string out = checkedOutput(c, msg, Target::SevenBit);
  CHECK(c->quotedPrintableLeaves() == 2);
  CHECK(qpDecode(partBody(out, "text/plain")) == content(kFrench));
  CHECK(qpDecode(partBody(out, "text/html")) == content(kHtml));
  CHECK(out.find("--=_alt 1\r\n") != std::string::npos);
  CHECK(out.substr(out.size() - 13) == "--=_alt 1--\r\n");
  CHECK(out.find("8bit") == std::string::npos);
  // Under EightBit the same message is copied untouched.
  auto e = planOk(msg, eightBit());
  CHECK(checkedOutput(e, msg, Target::EightBit) == msg);
  CHECK(e->eightBit());
}

TEST_CASE("multipart: delimiter lines need the whole boundary at line start; padding allowed (RFC 2046 §5.1.1)") {
  const std::string msg =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b \t\r\nContent-Type: text/plain\r\n\r\n\xC3\xA9 --b\r\n--bx\r\n --b\r\n--b--x\r\n"
      "--b\r\nContent-Type: application/octet-stream\r\n\r\n\xFF\r\n--b--\t\r\n";
  auto c = planOk(msg);
  const std::string out = checkedOutput(c, msg, Target::SevenBit);
  CHECK(c->quotedPrintableLeaves() + c->base64Leaves() == 2);
  CHECK(out.find("--b \t\r\n") == out.find("\r\n\r\n") + 4);  // padding copied as it was
  // The look-alikes stayed inside the first part.
  const std::size_t b = out.find("\r\n\r\n", out.find("text/plain")) + 4;
  const std::string first = out.substr(b, out.find("\r\n--b\r\n", b) - b);
  const std::string decoded = first.find("=C3") != std::string::npos ? qpDecode(first) : b64Decode(first);
  CHECK(decoded == "\xC3\xA9 --b\r\n--bx\r\n --b\r\n--b--x");
  CHECK(out.substr(out.size() - 8) == "--b--\t\r\n");
}

TEST_CASE("multipart: nested multiparts are walked; containers are never encoded; 8bit labels become 7bit") {
  const std::string msg =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
      "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\nContent-Transfer-Encoding: binary\r\n\r\n"
      "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + kFrench +
      "--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + kHtml + "--inner--\r\n"
      "--outer\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
      std::string("\x89PNG\r\n\x1A\n\0\0", 10) + "\r\n--outer--\r\n";
  auto c = planOk(msg);
  const std::string out = checkedOutput(c, msg, Target::SevenBit);
  CHECK(c->quotedPrintableLeaves() == 2);
  CHECK(c->base64Leaves() == 1);
  CHECK(out.find("boundary=outer\r\nContent-Transfer-Encoding: 7bit\r\n\r\n") != std::string::npos);
  CHECK(out.find("boundary=inner\r\nContent-Transfer-Encoding: 7bit\r\n\r\n") != std::string::npos);
  CHECK(qpDecode(partBody(out, "text/plain")) == content(kFrench));
  CHECK(b64Decode(partBody(out, "image/png")) == std::string("\x89PNG\r\n\x1A\n\0\0", 10));
  // EightBit: the text stays 8-bit (containers labelled 8bit), the binary image is base64.
  auto e = planOk(msg, eightBit());
  const std::string eout = checkedOutput(e, msg, Target::EightBit);
  CHECK(e->base64Leaves() == 1);
  CHECK(e->eightBit());
  CHECK(eout.find("boundary=outer\r\nContent-Transfer-Encoding: 8bit\r\n") != std::string::npos);
  CHECK(eout.find("boundary=inner\r\nContent-Transfer-Encoding: 8bit\r\n") != std::string::npos);
  CHECK(eout.find(kFrench) != std::string::npos);
}

TEST_CASE("multipart under EightBit: a container whose 8-bit content was all encoded is labelled 7bit") {
  const std::string msg =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=z\r\nContent-Transfer-Encoding: binary\r\n\r\n"
      "--z\r\nContent-Type: application/octet-stream\r\n\r\n" + std::string(1200, '\xEE') + "\r\n--z--\r\n";
  auto c = planOk(msg, eightBit());
  const std::string out = checkedOutput(c, msg, Target::EightBit);
  CHECK_FALSE(c->eightBit());
  CHECK(out.find("boundary=z\r\nContent-Transfer-Encoding: 7bit\r\n") != std::string::npos);
}

TEST_CASE("message/rfc822 with an 8-bit part inside: recursed, the leaf encoded, the container relabelled 7bit") {
  const std::string inner =
      "From: c@example.net\r\nSubject: forwarded\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + kFrench;
  const std::string msg =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\n"
      "see attached\r\n--m\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + inner +
      "--m--\r\n";
  auto c = planOk(msg);
  const std::string out = checkedOutput(c, msg, Target::SevenBit);
  CHECK(c->quotedPrintableLeaves() == 1);
  CHECK(c->base64Leaves() == 0);
  CHECK(out.find("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\nFrom: c@example.net\r\n") !=
        std::string::npos);
  CHECK(qpDecode(partBody(out, "Subject: forwarded")) == content(kFrench));
}

TEST_CASE("message/rfc822 whose embedded header is 8-bit: refused 5.6.3 under SevenBit, copied under EightBit") {
  const std::string msg =
      "MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\nSubject: R\xC3\xA9sum\xC3\xA9\r\n\r\nbody " +
      std::string(1000, 'x') + "\r\n";  // the long line forces the walk under EightBit too
  const Refusal r = refused(msg);
  CHECK(r.enhanced == "5.6.3");
  auto e = planOk(msg, eightBit());
  const std::string out = checkedOutput(e, msg, Target::EightBit);
  CHECK(out.find("Subject: R\xC3\xA9sum\xC3\xA9\r\n") != std::string::npos);
  CHECK(e->quotedPrintableLeaves() == 1);
}

TEST_CASE("message/partial and message/external-body with 8-bit content: refused 5.6.3 (RFC 2046 §5.2.2)") {
  for (const char* sub : {"partial; id=\"x@y\"; number=1; total=2", "external-body; access-type=x-mail"}) {
    const std::string msg = std::string("MIME-Version: 1.0\r\nContent-Type: message/") + sub +
                            "\r\n\r\nSubject: part\r\n\r\n\xC3\xA9t\xC3\xA9\r\n";
    const Refusal r = refused(msg);
    CHECK(r.code == 554);
    CHECK(r.enhanced == "5.6.3");
    CHECK(r.text.find("message/") != std::string::npos);
    // 7-bit content is fine (copied).
    const std::string ok = std::string("MIME-Version: 1.0\r\nContent-Type: message/") + sub + "\r\n\r\nplain\r\n";
    CHECK(checkedOutput(planOk(ok), ok, Target::SevenBit) == ok);
  }
}

TEST_CASE("an 8-bit field in a nested part header: refused 5.6.3 under SevenBit, kept under EightBit") {
  const std::string msg =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=h\r\n\r\n--h\r\nContent-Type: text/plain\r\n"
      "Content-Disposition: attachment; filename=\"r\xC3\xA9sum\xC3\xA9.txt\"\r\n\r\nabc\r\n--h--\r\n";
  CHECK(refused(msg).enhanced == "5.6.3");
  auto e = planOk(msg, eightBit());
  CHECK(checkedOutput(e, msg, Target::EightBit) == msg);
}

TEST_CASE("multipart without a close delimiter: the last part ends at the end of the container") {
  const std::string msg =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\nContent-Type: text/plain\r\n\r\n"
      "first\r\n--n\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + kFrench;
  auto c = planOk(msg);
  const std::string out = checkedOutput(c, msg, Target::SevenBit);
  CHECK(c->quotedPrintableLeaves() == 1);
  const std::size_t b = out.find("\r\n\r\n", out.find("charset=utf-8")) + 4;
  CHECK(qpDecode(out.substr(b)) == kFrench);
}

TEST_CASE("preamble and epilogue: copied when they fit, dropped (nothing emitted) when they do not") {
  const std::string pre8 = "Ce message est au format MIME \xC3\xA9.\r\n";
  const std::string epi8 = "fin \xC3\xA9\r\n";
  const std::string msg = alternative(pre8, epi8);
  auto c = planOk(msg);
  const std::string out = checkedOutput(c, msg, Target::SevenBit);
  CHECK(out.find("Ce message") == std::string::npos);
  CHECK(out.find("fin") == std::string::npos);
  // The dropped preamble leaves only the CRLF that belongs to the first delimiter.
  CHECK(out.find("boundary=\"=_alt 1\"\r\n\r\n\r\n--=_alt 1\r\n") != std::string::npos);
  CHECK(out.substr(out.size() - 13) == "--=_alt 1--\r\n");
  // 7-bit preamble / epilogue are kept.
  const std::string msg7 = alternative("This is a MIME message.\r\n", "bye\r\n");
  const std::string out7 = checkedOutput(planOk(msg7), msg7, Target::SevenBit);
  CHECK(out7.find("\r\n\r\nThis is a MIME message.\r\n--=_alt 1\r\n") != std::string::npos);
  CHECK(out7.substr(out7.size() - 18) == "--=_alt 1--\r\nbye\r\n");
  // Under EightBit, an 8-bit preamble fits and stays.
  const std::string e = checkedOutput(planOk(msg, eightBit()), msg, Target::EightBit);
  CHECK(e.find(pre8) != std::string::npos);
}

TEST_CASE("multipart without a boundary parameter or without any delimiter: refused 5.6.3 when 8-bit") {
  const std::string noParam = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n\xC3\xA9\r\n";
  CHECK(refused(noParam).enhanced == "5.6.3");
  const std::string noDelim = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n\xC3\xA9\r\n";
  CHECK(refused(noDelim).enhanced == "5.6.3");
  CHECK(checkedOutput(planOk(noParam, eightBit()), noParam, Target::EightBit) == noParam);
}

TEST_CASE("multipart/digest: a part without Content-Type is message/rfc822 (RFC 2046 §5.1.5)") {
  const std::string msg =
      "MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
      "Subject: one\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + kFrench + "--d\r\n\r\n"
      "Subject: two \xC3\xA9\r\n\r\nx\r\n--d--\r\n";
  // The second digest entry has an 8-bit header: as an embedded message header it is refused under SevenBit.
  CHECK(refused(msg).enhanced == "5.6.3");
  const std::string ok =
      "MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
      "Subject: one\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + kFrench + "--d--\r\n";
  auto c = planOk(ok);
  const std::string out = checkedOutput(c, ok, Target::SevenBit);
  CHECK(c->quotedPrintableLeaves() == 1);  // walked as a message: its own text/plain leaf is encoded
  CHECK(qpDecode(partBody(out, "Subject: one")) == content(kFrench));
}

TEST_CASE("depth limit: nesting beyond maxDepth is refused 5.6.3, at the limit it converts") {
  auto nested = [](int levels) {
    std::string head = "MIME-Version: 1.0\r\n", tail;
    for (int i = 0; i < levels; ++i) {
      head += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" + std::to_string(i) +
              "\r\n";
      tail = "\r\n--b" + std::to_string(i) + "--\r\n" + tail;
    }
    return head + "Content-Type: text/plain\r\n\r\n\xC3\xA9" + tail;
  };
  ConvertOptions o;
  o.maxDepth = 5;
  const std::string five = nested(5);
  auto c = planOk(five, o);
  checkedOutput(c, five, Target::SevenBit);
  CHECK(c->quotedPrintableLeaves() + c->base64Leaves() == 1);
  const Refusal r = refused(nested(6), o);
  CHECK(r.enhanced == "5.6.3");
  CHECK(r.text.find("5") != std::string::npos);
  // A huge nesting with the default limit is refused without exhausting the stack.
  CHECK(refused(nested(5000)).enhanced == "5.6.3");
  // A huge maxDepth is capped internally: still a refusal, not a stack overflow.
  o.maxDepth = static_cast<std::size_t>(-1);
  CHECK(refused(nested(5000), o).enhanced == "5.6.3");
}

TEST_CASE("many parts: every one converted, the plan stays proportional to the parts") {
  std::string msg = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n";
  const int parts = 20000;
  for (int i = 0; i < parts; ++i) msg += "--p\r\nContent-Type: text/plain\r\n\r\nn\xC2\xB0" + std::to_string(i) + "\r\n";
  msg += "--p--\r\n";
  auto c = planOk(msg);
  checkedOutput(c, msg, Target::SevenBit);
  CHECK(c->quotedPrintableLeaves() + c->base64Leaves() == parts);
  // Per part: delimiter + header (one Copy), the CTE field, the empty line, the encoded content.
  CHECK(c->pieces().size() <= 4u * parts + 4);
}

TEST_CASE("robustness: a close delimiter ending in a bare LF, then a dropped 8-bit epilogue: output ends with CRLF") {
  // Intake normalises line endings; the converter must still keep its invariants on what it is given.
  const std::string msg =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
      "x\r\n--b1--\nepilogue \xC3\xA9\r\n";
  auto c = planOk(msg);
  const std::string out = checkedOutput(c, msg, Target::SevenBit);
  CHECK(out.substr(out.size() - 9) == "--b1--\n\r\n");
}
