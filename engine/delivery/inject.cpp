// inject.cpp: normalising, classifying and durably appending a message (see inject.hpp).
#include "engine/delivery/inject.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "engine/delivery/envelope.hpp"
#include "engine/delivery/idna.hpp"
#include "engine/mime/mime.hpp"

namespace sluice::delivery {

void normaliseLineEndings(std::string& body) {
  bool clean = true;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\r') {
      if (i + 1 < body.size() && body[i + 1] == '\n') {
        ++i;
        continue;
      }
      clean = false;
      break;
    }
    if (c == '\n') {
      clean = false;
      break;
    }
  }
  if (!clean) {
    std::string out;
    out.reserve(body.size() + body.size() / 32 + 2);
    for (std::size_t i = 0; i < body.size(); ++i) {
      char c = body[i];
      if (c == '\r') {
        out += "\r\n";
        if (i + 1 < body.size() && body[i + 1] == '\n') ++i;
      } else if (c == '\n') {
        out += "\r\n";
      } else {
        out += c;
      }
    }
    body.swap(out);
  }
  if (!body.empty() && (body.size() < 2 || body.compare(body.size() - 2, 2, "\r\n") != 0)) body += "\r\n";
}

bool hasEightBit(std::string_view body) {
  for (unsigned char c : body)
    if (c >= 0x80) return true;
  return false;
}

std::string checkAddress(std::string_view address) {
  if (address.size() > 254) return "address longer than 254 octets";
  std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return "not of the form local@domain";
  for (unsigned char c : address) {
    if (c <= ' ' || c == 0x7f || c == '<' || c == '>') return "contains a space, control character or angle bracket";
  }
  return {};
}

queue::Result<queue::MessageId> appendDurably(queue::Spool& spool, InjectMessage& message) {
  normaliseLineEndings(message.body);
  mime::foldLongHeaderLines(message.body);  // RFC 5322 §2.1.1: no header line over 998 octets leaves intake
  // Classified once, here, and stored with the message (engine/mime): every attempt reads the flags back.
  const std::uint8_t flags = mime::classify(message.body);
  if (message.params.body == smtp::BodyType::Unspecified) {
    if (flags & mime::kBinary) {
      message.params.body = smtp::BodyType::BinaryMime;
    } else if (flags & mime::kEightBit) {
      message.params.body = smtp::BodyType::EightBitMime;
    }
  }
  if ((flags & mime::kEightBitHeaders) || nonAsciiLocalPart(message.from) ||
      std::any_of(message.to.begin(), message.to.end(),
                  [](const InjectRecipient& r) { return nonAsciiLocalPart(r.address); })) {
    message.params.smtpUtf8 = true;  // RFC 6531: an internationalised message
  }
  std::string mailParams = formatMailParams(message.params);
  std::vector<std::string> rcptParams;
  std::vector<queue::RecipientIn> rcpts;
  rcptParams.reserve(message.to.size());
  for (const auto& r : message.to) rcptParams.push_back(formatRcptParams(r.params));
  for (std::size_t i = 0; i < message.to.size(); ++i) rcpts.push_back({message.to[i].address, rcptParams[i]});
  queue::MessageIn in;
  in.reversePath = message.from;
  in.mailParams = mailParams;
  in.recipients = rcpts;
  in.body = message.body;
  in.flags = flags;

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  queue::Status durable;
  auto appended = spool.append(in, [&](queue::MessageId, const queue::Status& st) {
    std::lock_guard<std::mutex> lock(mu);
    durable = st;
    done = true;
    cv.notify_one();
  });
  if (!appended.isOk()) return appended.status();
  spool.flush();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  if (!durable.isOk()) return durable;
  return appended.value();
}

}  // namespace sluice::delivery
