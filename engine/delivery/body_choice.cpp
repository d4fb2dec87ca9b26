// body_choice.cpp: the body a connection sends for a message (see body_choice.hpp).
#include "engine/delivery/body_choice.hpp"

#include <algorithm>

#include "engine/delivery/idna.hpp"

namespace sluice::delivery {
namespace {

// A converted variant as the protocol core reads it: cursors over the shared plan. It holds the message
// tracker, whose view pins the spool mapping the plan's slices point into.
class ConvertedBody final : public smtp::BodySource {
 public:
  ConvertedBody(std::shared_ptr<const mime::Conversion> plan, std::shared_ptr<MessageTracker> pin)
      : plan_(std::move(plan)), pin_(std::move(pin)) {}
  std::uint64_t size() const override { return plan_->size(); }
  std::unique_ptr<Reader> open() const override { return std::make_unique<CursorReader>(plan_->open()); }

 private:
  struct CursorReader final : Reader {
    explicit CursorReader(mime::Cursor c) : cursor(std::move(c)) {}
    std::size_t read(char* out, std::size_t max) override { return cursor.read(out, max); }
    mime::Cursor cursor;
  };
  std::shared_ptr<const mime::Conversion> plan_;
  std::shared_ptr<MessageTracker> pin_;
};

// The plan for one target, made on first use and kept for the rest of the attempt. It is made outside the lock,
// so a shard never waits on another's planning; two shards racing make it twice and keep the first.
const mime::ConvertResult& variant(MessageTracker& msg, mime::Target target, bool wrapNonMime8bit) {
  const auto slot = static_cast<std::size_t>(target);
  {
    std::lock_guard<std::mutex> lock(msg.mime.mu);
    if (msg.mime.planned[slot]) return msg.mime.variants[slot];
  }
  mime::ConvertOptions o;
  o.target = target;
  o.nonMime = wrapNonMime8bit ? mime::NonMimePolicy::WrapQuotedPrintable : mime::NonMimePolicy::Bounce;
  mime::ConvertResult made = mime::convert(msg.view.body(), o);
  std::lock_guard<std::mutex> lock(msg.mime.mu);
  if (!msg.mime.planned[slot]) {
    msg.mime.variants[slot] = std::move(made);
    msg.mime.planned[slot] = true;
  }
  return msg.mime.variants[slot];  // written once, never again: the reference stays valid
}

}  // namespace

std::uint8_t mimeFlagsOf(const queue::MessageView& view) {
  std::uint8_t f = view.flags();
  return (f & mime::kClassified) ? f : mime::classify(view.body());
}

BodyChoice chooseBody(const std::shared_ptr<MessageTracker>& msg, const std::vector<std::string_view>& addresses,
                      const smtp::Capabilities& caps, bool chunking, bool wrapNonMime8bit) {
  BodyChoice c;
  const std::uint8_t f = msg->mimeFlags;
  c.size = msg->view.body().size();

  // RFC 6531 §3.2: an internationalised message goes only to a peer that offers SMTPUTF8.
  const bool utf8Address = nonAsciiLocalPart(msg->view.reversePath()) ||
                           std::any_of(addresses.begin(), addresses.end(),
                                       [](std::string_view a) { return nonAsciiLocalPart(a); });
  const bool utf8Headers = (f & mime::kEightBitHeaders) != 0;
  if ((utf8Address || utf8Headers) && !caps.smtpUtf8) {
    c.refused = true;
    const smtp::EnhancedCode e{5, 6, 7, true};
    c.refusal = utf8Address ? smtp::localReply(553, e, "non-ASCII mailbox and the peer does not offer SMTPUTF8")
                            : smtp::localReply(554, e, "UTF-8 header fields and the peer does not offer SMTPUTF8");
    return c;
  }
  c.smtpUtf8 = utf8Address || utf8Headers;

  const bool eightBit = (f & mime::kEightBit) != 0 || utf8Headers;
  const bool binary = (f & mime::kBinary) != 0;
  if (!eightBit && !binary) {
    // 7-bit: keep a BODY= the submitter gave (RFC 6152 §3) where the peer understands it.
    const smtp::BodyType stored = msg->mailParams.body;
    c.body = caps.eightBitMime && stored != smtp::BodyType::BinaryMime ? stored : smtp::BodyType::Unspecified;
    return c;
  }
  if (binary && caps.binaryMime && chunking) {  // RFC 3030 §3: BINARYMIME only with BDAT
    c.body = smtp::BodyType::BinaryMime;
    c.transport = ops::BodyTransport::BinaryMime;
    return c;
  }
  if (!binary && caps.eightBitMime) {
    c.body = smtp::BodyType::EightBitMime;
    c.transport = ops::BodyTransport::EightBitMime;
    return c;
  }
  // Convert: to 7-bit MIME for a peer without 8BITMIME, to 8-bit-safe MIME (no NUL, no line over 998) for an
  // 8BITMIME peer that cannot take binary.
  const mime::Target target = caps.eightBitMime ? mime::Target::EightBit : mime::Target::SevenBit;
  const mime::ConvertResult& v = variant(*msg, target, wrapNonMime8bit);
  if (const auto* no = std::get_if<mime::Refusal>(&v)) {
    c.refused = true;
    smtp::EnhancedCode e;
    std::size_t used = 0;
    if (!smtp::parseEnhancedCode(no->enhanced, e, used)) e = smtp::EnhancedCode{5, 6, 3, true};
    c.refusal = smtp::localReply(no->code, e, no->text);
    return c;
  }
  const auto& plan = std::get<std::shared_ptr<const mime::Conversion>>(v);
  c.source = std::make_shared<ConvertedBody>(plan, msg);
  c.size = plan->size();
  c.body = plan->eightBit() ? smtp::BodyType::EightBitMime : smtp::BodyType::Unspecified;
  c.transport = ops::BodyTransport::Converted;
  return c;
}

}  // namespace sluice::delivery
