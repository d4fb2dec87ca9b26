// test_body_choice.cpp: what a connection sends for a message once the peer's EHLO is known (body_choice.hpp):
// native 8BITMIME / BINARYMIME, a converted variant from engine/mime, or a refusal before MAIL; the intake
// classification stored in the spool record; and the IDN helpers (idna.hpp). Messages go through a real spool
// (appendDurably, as `sluice inject` does) so the flags byte and the pinned mapping are the production ones.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/delivery/body_choice.hpp"
#include "engine/delivery/envelope.hpp"
#include "engine/delivery/idna.hpp"
#include "engine/delivery/inject.hpp"
#include "engine/mime/mime.hpp"
#include "tests/queue/queue_test_support.hpp"

using namespace sluice;
using namespace sluice::delivery;

namespace {

struct Fixture {
  qtest::TempDir dir;
  std::unique_ptr<queue::Spool> spool;
  Fixture() {
    queue::SpoolOptions o;
    o.dir = dir.path;
    o.segmentBytes = 4 << 20;
    o.log = [](std::string_view) {};
    auto s = queue::Spool::open(o);
    REQUIRE(s.isOk());
    spool = std::move(s.value());
  }
  // Queues a message the way intake does and returns a tracker for it, as the dispatcher builds one.
  std::shared_ptr<MessageTracker> take(std::string body, std::string from = "sender@example.org",
                                       std::string to = "rcpt@example.net") {
    InjectMessage m;
    m.from = std::move(from);
    m.to.push_back({std::move(to), {}});
    m.body = std::move(body);
    auto id = appendDurably(*spool, m);
    REQUIRE(id.isOk());
    auto view = spool->lookup(id.value());
    REQUIRE(view.isOk());
    auto t = std::make_shared<MessageTracker>();
    t->view = std::move(view.value());
    parseMailParams(t->view.mailParams(), t->mailParams);
    t->mimeFlags = mimeFlagsOf(t->view);
    return t;
  }
};

smtp::Capabilities caps(bool eightBit, bool binary = false, bool utf8 = false) {
  smtp::Capabilities c;
  c.esmtp = true;
  c.eightBitMime = eightBit;
  c.binaryMime = binary;
  c.chunking = binary;
  c.smtpUtf8 = utf8;
  return c;
}

// Every octet a source produces, read in small pieces.
std::string readAll(const smtp::BodySource& src) {
  auto r = src.open();
  std::string out;
  char buf[333];
  for (;;) {
    std::size_t n = r->read(buf, sizeof buf);
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

bool anyEightBit(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80 || c == 0) return true;
  return false;
}

std::vector<std::string_view> rcpts(const MessageTracker& t) { return {t.view.recipient(0).address}; }

const std::string kMime8 =
    "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\nSubject: plain\r\n\r\nThe menu of the day at the Caf\xC3\xA9 de la Gare: "
    "soup, bread, a glass of wine and cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e for dessert.\r\n";

}  // namespace

TEST_CASE("intake stores the classification in the record's flags byte; an unclassified record is classified "
          "when taken") {
  Fixture f;
  auto t = f.take(kMime8);
  CHECK((t->view.flags() & mime::kClassified) != 0);
  CHECK((t->view.flags() & mime::kEightBit) != 0);
  CHECK((t->view.flags() & mime::kMime) != 0);
  CHECK(t->mailParams.body == smtp::BodyType::EightBitMime);

  // A record appended without flags (an older writer): the engine classifies it itself.
  queue::RecipientIn r{"x@example.net", ""};
  queue::MessageIn in;
  in.reversePath = "s@example.org";
  in.recipients = std::span<const queue::RecipientIn>(&r, 1);
  in.body = kMime8;
  std::promise<void> durable;
  auto id = f.spool->append(in, [&](queue::MessageId, const queue::Status&) { durable.set_value(); });
  REQUIRE(id.isOk());
  f.spool->flush();
  durable.get_future().wait();
  auto v = f.spool->lookup(id.value());
  REQUIRE(v.isOk());
  CHECK(v.value().flags() == 0);
  CHECK(mimeFlagsOf(v.value()) == mime::classify(kMime8));
}

TEST_CASE("7-bit content goes as stored to every peer, with its size") {
  Fixture f;
  const std::string body = "From: a@example.org\r\nSubject: ascii\r\n\r\nplain text\r\n";
  auto t = f.take(body);
  for (bool eight : {false, true}) {
    BodyChoice c = chooseBody(t, rcpts(*t), caps(eight), false, false);
    CHECK_FALSE(c.refused);
    CHECK(c.source == nullptr);
    CHECK(c.size == body.size());
    CHECK(c.transport == ops::BodyTransport::SevenBit);
    CHECK_FALSE(c.smtpUtf8);
  }
}

TEST_CASE("8-bit MIME: native BODY=8BITMIME to an 8BITMIME peer, a 7-bit variant otherwise (RFC 6152 §3)") {
  Fixture f;
  auto t = f.take(kMime8);
  BodyChoice native = chooseBody(t, rcpts(*t), caps(true), false, false);
  CHECK_FALSE(native.refused);
  CHECK(native.source == nullptr);
  CHECK(native.body == smtp::BodyType::EightBitMime);
  CHECK(native.transport == ops::BodyTransport::EightBitMime);

  BodyChoice conv = chooseBody(t, rcpts(*t), caps(false), false, false);
  CHECK_FALSE(conv.refused);
  REQUIRE(conv.source != nullptr);
  CHECK(conv.transport == ops::BodyTransport::Converted);
  CHECK(conv.body == smtp::BodyType::Unspecified);  // never BODY= to a peer without 8BITMIME
  const std::string out = readAll(*conv.source);
  CHECK(out.size() == conv.size);  // SIZE declares exactly what is sent (RFC 1870 §3)
  CHECK(conv.size == conv.source->size());
  CHECK_FALSE(anyEightBit(out));
  CHECK(out.find("Content-Transfer-Encoding: quoted-printable") != std::string::npos);
  CHECK(out.find("Caf=C3=A9") != std::string::npos);
  CHECK(readAll(*conv.source) == out);  // each reader starts from the beginning

  // A second connection needing the same variant shares the plan made for the first.
  REQUIRE(t->mime.planned[static_cast<int>(mime::Target::SevenBit)]);
  BodyChoice again = chooseBody(t, rcpts(*t), caps(false), false, false);
  REQUIRE(again.source != nullptr);
  CHECK(again.size == conv.size);
  CHECK_FALSE(t->mime.planned[static_cast<int>(mime::Target::EightBit)]);
}

TEST_CASE("binary content: BODY=BINARYMIME only with BINARYMIME and BDAT, else an 8-bit-safe or 7-bit variant "
          "(RFC 3030 §3)") {
  Fixture f;
  std::string body =
      "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
      "Content-Transfer-Encoding: binary\r\n\r\n";
  body += std::string("bin\0ary\xFF\x01", 9);
  body += std::string(1500, 'x');  // a line over 998 octets
  body += "\r\n";
  auto t = f.take(body);
  CHECK((t->mimeFlags & mime::kBinary) != 0);
  CHECK(t->mailParams.body == smtp::BodyType::BinaryMime);

  BodyChoice bin = chooseBody(t, rcpts(*t), caps(true, true), true, false);
  CHECK(bin.body == smtp::BodyType::BinaryMime);
  CHECK(bin.transport == ops::BodyTransport::BinaryMime);
  CHECK(bin.source == nullptr);

  // BINARYMIME advertised but DATA in use (no BDAT): converted.
  BodyChoice noBdat = chooseBody(t, rcpts(*t), caps(true, true), false, false);
  REQUIRE(noBdat.source != nullptr);
  CHECK(noBdat.transport == ops::BodyTransport::Converted);
  const std::string out = readAll(*noBdat.source);
  CHECK_FALSE(anyEightBit(out));  // base64: the attachment had no text to keep
  CHECK(out.find("Content-Transfer-Encoding: base64") != std::string::npos);

  BodyChoice seven = chooseBody(t, rcpts(*t), caps(false), false, false);
  REQUIRE(seven.source != nullptr);
  CHECK_FALSE(anyEightBit(readAll(*seven.source)));
}

TEST_CASE("non-MIME 8-bit content to a 7-bit peer: bounced 5.6.3 or wrapped, by policy (RFC 6152 §3)") {
  Fixture f;
  auto t = f.take("From: a@example.org\r\nSubject: old style\r\n\r\nna\xC3\xAFve 8-bit text\r\n");
  BodyChoice bounce = chooseBody(t, rcpts(*t), caps(false), false, false);
  CHECK(bounce.refused);
  CHECK(bounce.refusal.code == 554);
  CHECK(bounce.refusal.enhanced.str() == "5.6.3");

  auto t2 = f.take("From: a@example.org\r\nSubject: old style\r\n\r\nna\xC3\xAFve 8-bit text\r\n");
  BodyChoice wrap = chooseBody(t2, rcpts(*t2), caps(false), false, true);
  CHECK_FALSE(wrap.refused);
  REQUIRE(wrap.source != nullptr);
  const std::string out = readAll(*wrap.source);
  CHECK_FALSE(anyEightBit(out));
  CHECK(out.find("MIME-Version: 1.0") != std::string::npos);
  CHECK(out.find("charset=utf-8") != std::string::npos);
}

TEST_CASE("message/partial with 8-bit content cannot be converted: 554 5.6.3 (RFC 2046 §5.2.2)") {
  Fixture f;
  auto t = f.take(
      "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: message/partial; id=\"x@y\"; number=1; "
      "total=2\r\n\r\nFrom: a@example.org\r\nSubject: part\r\n\r\n\xC3\xA9t\xC3\xA9\r\n");
  BodyChoice c = chooseBody(t, rcpts(*t), caps(false), false, false);
  CHECK(c.refused);
  CHECK(c.refusal.code == 554);
  CHECK(c.refusal.enhanced.str() == "5.6.3");
  CHECK(chooseBody(t, rcpts(*t), caps(true), false, false).transport == ops::BodyTransport::EightBitMime);
}

TEST_CASE("SMTPUTF8: UTF-8 header fields or a non-ASCII local part need a peer offering it, else 5.6.7 "
          "(RFC 6531 §3.2)") {
  Fixture f;
  auto hdr = f.take("From: a@example.org\r\nSubject: R\xC3\xA9sum\xC3\xA9\r\n\r\nascii body\r\n");
  CHECK((hdr->mimeFlags & mime::kEightBitHeaders) != 0);
  CHECK(hdr->mailParams.smtpUtf8);  // intake marks the message internationalised
  BodyChoice no = chooseBody(hdr, rcpts(*hdr), caps(true), false, false);
  CHECK(no.refused);
  CHECK(no.refusal.code == 554);
  CHECK(no.refusal.enhanced.str() == "5.6.7");
  BodyChoice yes = chooseBody(hdr, rcpts(*hdr), caps(true, false, true), false, false);
  CHECK_FALSE(yes.refused);
  CHECK(yes.smtpUtf8);
  CHECK(yes.body == smtp::BodyType::EightBitMime);  // the header octets are 8-bit content

  auto local = f.take("From: a@example.org\r\n\r\nascii\r\n", "sender@example.org", "j\xC3\xB6rg@example.net");
  BodyChoice l = chooseBody(local, rcpts(*local), caps(true), false, false);
  CHECK(l.refused);
  CHECK(l.refusal.code == 553);
  CHECK(l.refusal.enhanced.str() == "5.6.7");
  CHECK(chooseBody(local, rcpts(*local), caps(true, false, true), false, false).smtpUtf8);

  // A non-ASCII domain alone needs nothing: it goes as A-labels.
  auto idn = f.take("From: a@example.org\r\n\r\nascii\r\n", "sender@example.org", "user@b\xC3\xBC" "cher.example");
  BodyChoice d = chooseBody(idn, rcpts(*idn), caps(false), false, false);
  CHECK_FALSE(d.refused);
  CHECK_FALSE(d.smtpUtf8);
}

TEST_CASE("IDN domains become lower-case A-labels; invalid ones are reported (RFC 5891, IDNA2008)") {
  std::string out, err;
  CHECK(toAsciiDomain("b\xC3\xBC" "cher.example", out, &err));
  CHECK(out == "xn--bcher-kva.example");
  CHECK(toAsciiDomain("\xD0\xBF\xD1\x80\xD0\xB8\xD0\xBC\xD0\xB5\xD1\x80.test", out, &err));
  CHECK(out == "xn--e1afmkfd.test");
  CHECK(toAsciiDomain("MiXeD.Example.ORG", out, &err));
  CHECK(out == "mixed.example.org");
  CHECK(toAsciiDomain("B\xC3\x9C" "CHER.example", out, &err));  // upper case mapped first (UTS #46)
  CHECK(out == "xn--bcher-kva.example");
  err.clear();
  CHECK_FALSE(toAsciiDomain("bad\xC3" ".example", out, &err));  // not UTF-8
  CHECK_FALSE(err.empty());

  CHECK(asciiDomainAddress("J\xC3\xB6rg@b\xC3\xBC" "cher.example") == "J\xC3\xB6rg@xn--bcher-kva.example");
  CHECK(asciiDomainAddress("user@example.org") == "user@example.org");
  CHECK(nonAsciiLocalPart("j\xC3\xB6rg@example.org"));
  CHECK_FALSE(nonAsciiLocalPart("user@b\xC3\xBC" "cher.example"));
}
