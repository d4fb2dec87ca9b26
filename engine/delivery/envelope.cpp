// envelope.cpp: stored ESMTP parameters <-> MailParams / RcptParams (see envelope.hpp).
#include "engine/delivery/envelope.hpp"

namespace sluice::delivery {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
    if (x != y) return false;
  }
  return true;
}

// Calls fn(keyword, value) for each space-separated "KEY" or "KEY=VALUE"; stops when fn returns false.
template <class Fn>
bool forEachParam(std::string_view s, Fn fn) {
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t end = s.find(' ', i);
    if (end == std::string_view::npos) end = s.size();
    if (end > i) {
      std::string_view tok = s.substr(i, end - i);
      std::size_t eq = tok.find('=');
      std::string_view key = tok.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view() : tok.substr(eq + 1);
      if (!fn(key, value, eq != std::string_view::npos)) return false;
    }
    i = end;
  }
  return true;
}

bool fail(std::string* error, std::string text) {
  if (error) *error = std::move(text);
  return false;
}

}  // namespace

bool parseMailParams(std::string_view stored, smtp::MailParams& out, std::string* error) {
  out = smtp::MailParams{};
  return forEachParam(stored, [&](std::string_view key, std::string_view value, bool hasValue) {
    if (iequals(key, "BODY")) {
      if (iequals(value, "7BIT")) out.body = smtp::BodyType::SevenBit;
      else if (iequals(value, "8BITMIME")) out.body = smtp::BodyType::EightBitMime;
      else if (iequals(value, "BINARYMIME")) out.body = smtp::BodyType::BinaryMime;
      else return fail(error, "bad BODY value '" + std::string(value) + "'");
    } else if (iequals(key, "SMTPUTF8")) {
      if (hasValue) return fail(error, "SMTPUTF8 takes no value");
      out.smtpUtf8 = true;
    } else if (iequals(key, "RET")) {
      if (iequals(value, "FULL")) out.ret = smtp::DsnRet::Full;
      else if (iequals(value, "HDRS")) out.ret = smtp::DsnRet::Headers;
      else return fail(error, "bad RET value '" + std::string(value) + "'");
    } else if (iequals(key, "ENVID")) {
      if (!smtp::xtextDecode(value, out.envid)) return fail(error, "bad ENVID xtext");
    }
    return true;
  });
}

bool parseRcptParams(std::string_view stored, smtp::RcptParams& out, std::string* error) {
  out = smtp::RcptParams{};
  return forEachParam(stored, [&](std::string_view key, std::string_view value, bool) {
    if (iequals(key, "NOTIFY")) {
      std::uint8_t flags = 0;
      std::size_t i = 0;
      while (i <= value.size()) {
        std::size_t comma = value.find(',', i);
        if (comma == std::string_view::npos) comma = value.size();
        std::string_view word = value.substr(i, comma - i);
        if (iequals(word, "NEVER")) flags |= smtp::NotifyNever;
        else if (iequals(word, "SUCCESS")) flags |= smtp::NotifySuccess;
        else if (iequals(word, "FAILURE")) flags |= smtp::NotifyFailure;
        else if (iequals(word, "DELAY")) flags |= smtp::NotifyDelay;
        else return fail(error, "bad NOTIFY value '" + std::string(value) + "'");
        i = comma + 1;
      }
      if ((flags & smtp::NotifyNever) && flags != smtp::NotifyNever)
        return fail(error, "NOTIFY=NEVER cannot be combined (RFC 3461 section 4.1)");
      out.notify = flags;
    } else if (iequals(key, "ORCPT")) {
      std::size_t semi = value.find(';');
      if (semi == std::string_view::npos || semi == 0) return fail(error, "bad ORCPT (want type;xtext)");
      out.orcptType = std::string(value.substr(0, semi));
      if (!smtp::xtextDecode(value.substr(semi + 1), out.orcpt)) return fail(error, "bad ORCPT xtext");
    }
    return true;
  });
}

std::string formatMailParams(const smtp::MailParams& p) {
  std::string s;
  auto add = [&](std::string_view t) {
    if (!s.empty()) s += ' ';
    s += t;
  };
  switch (p.body) {
    case smtp::BodyType::SevenBit: add("BODY=7BIT"); break;
    case smtp::BodyType::EightBitMime: add("BODY=8BITMIME"); break;
    case smtp::BodyType::BinaryMime: add("BODY=BINARYMIME"); break;
    case smtp::BodyType::Unspecified: break;
  }
  if (p.smtpUtf8) add("SMTPUTF8");
  if (p.ret == smtp::DsnRet::Full) add("RET=FULL");
  if (p.ret == smtp::DsnRet::Headers) add("RET=HDRS");
  if (!p.envid.empty()) {
    std::string v = "ENVID=";
    smtp::xtextEncode(v, p.envid);
    add(v);
  }
  return s;
}

std::string formatRcptParams(const smtp::RcptParams& p) {
  std::string s;
  if (p.notify != smtp::NotifyNone) {
    s = "NOTIFY=";
    if (p.notify & smtp::NotifyNever) {
      s += "NEVER";
    } else {
      bool first = true;
      auto flag = [&](std::uint8_t f, const char* word) {
        if (!(p.notify & f)) return;
        if (!first) s += ',';
        s += word;
        first = false;
      };
      flag(smtp::NotifySuccess, "SUCCESS");
      flag(smtp::NotifyFailure, "FAILURE");
      flag(smtp::NotifyDelay, "DELAY");
    }
  }
  if (!p.orcpt.empty()) {
    if (!s.empty()) s += ' ';
    s += "ORCPT=" + p.orcptType + ";";
    smtp::xtextEncode(s, p.orcpt);
  }
  return s;
}

std::string domainOf(std::string_view address) {
  std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || at + 1 >= address.size()) return {};
  std::string d(address.substr(at + 1));
  for (char& c : d)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  if (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

}  // namespace sluice::delivery
