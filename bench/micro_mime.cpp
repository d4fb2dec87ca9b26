// micro_mime.cpp: micro-benchmarks for engine/mime: quoted-printable and base64 encoding (bytes/s), QP vs base64
// on Cyrillic text (the sizes each produces are reported as counters), classify() (bytes/s), and convert() plus a
// full Cursor read of a ~100 KiB multipart newsletter with 8-bit HTML (bytes of input per second).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <variant>

#include "engine/mime/mime.hpp"

namespace {

using sluice::mime::Base64Encoder;
using sluice::mime::QuotedPrintableEncoder;

std::string repeatTo(std::string_view s, std::size_t size) {
  std::string r;
  while (r.size() < size) r += s;
  r.resize(size);
  return r;
}

// French / English UTF-8 prose, about 3% non-ASCII octets.
const std::string& latinText() {
  static const std::string s = repeatTo(
      "The meeting is moved to Thursday morning; la r\xC3\xA9union est report\xC3\xA9" "e \xC3\xA0 jeudi matin, "
      "dans la salle habituelle. Please confirm. Merci de confirmer votre pr\xC3\xA9sence avant mercredi.\r\n",
      256 * 1024);
  return s;
}

const std::string& cyrillicText() {
  static const std::string s = repeatTo(
      "\xD0\x9D\xD0\xBE\xD0\xB2\xD0\xBE\xD1\x81\xD1\x82\xD0\xB8 \xD0\xBD\xD0\xB5\xD0\xB4\xD0\xB5\xD0\xBB\xD0\xB8: "
      "\xD1\x81\xD0\xBE\xD0\xB1\xD1\x80\xD0\xB0\xD0\xBD\xD0\xB8\xD0\xB5 \xD0\xB2 \xD1\x87\xD0\xB5\xD1\x82\xD0\xB2"
      "\xD0\xB5\xD1\x80\xD0\xB3, 10:00.\r\n",
      256 * 1024);
  return s;
}

// A newsletter: multipart/alternative (8-bit text + 8-bit HTML) and a small binary logo, about 100 KiB.
const std::string& newsletter() {
  static const std::string s = [] {
    std::string html;
    while (html.size() < 60 * 1024) {
      html += "<tr><td class=\"x\">Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e \xE2\x80\x94 d\xC3\xA9gustation "
              "offerte \xC3\xA0 nos abonn\xC3\xA9s fid\xC3\xA8les</td></tr>\r\n";
    }
    std::string text = repeatTo("Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e, d\xC3\xA9gustation offerte.\r\n",
                                30 * 1024);
    std::string logo;
    for (int i = 0; i < 8 * 1024; ++i) logo.push_back(static_cast<char>(i * 37 + (i >> 5)));
    return "From: news@example.com\r\nTo: reader@example.org\r\nSubject: Newsletter\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"mixed-1\"\r\n\r\n--mixed-1\r\n"
           "Content-Type: multipart/alternative; boundary=\"alt-1\"\r\n\r\n--alt-1\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
           text + "\r\n--alt-1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
           html + "\r\n--alt-1--\r\n--mixed-1\r\nContent-Type: image/gif\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
           logo + "\r\n--mixed-1--\r\n";
  }();
  return s;
}

template <class Enc>
void encodeAll(benchmark::State& state, const std::string& in) {
  std::string out;
  out.reserve(in.size() * 3);
  for (auto _ : state) {
    out.clear();
    Enc e;
    e.encode(in, true, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(in.size()));
  state.counters["out/in"] = static_cast<double>(out.size()) / static_cast<double>(in.size());
}

// Quoted-printable of French / English UTF-8 prose.
void BM_QpLatinText(benchmark::State& state) { encodeAll<QuotedPrintableEncoder>(state, latinText()); }
BENCHMARK(BM_QpLatinText);

// Base64 of the same text.
void BM_Base64(benchmark::State& state) { encodeAll<Base64Encoder>(state, latinText()); }
BENCHMARK(BM_Base64);

// Cyrillic text: QP and base64; counters show the output/input ratio of each.
void BM_QpCyrillic(benchmark::State& state) { encodeAll<QuotedPrintableEncoder>(state, cyrillicText()); }
BENCHMARK(BM_QpCyrillic);
void BM_Base64Cyrillic(benchmark::State& state) { encodeAll<Base64Encoder>(state, cyrillicText()); }
BENCHMARK(BM_Base64Cyrillic);

// QuotedPrintableEncoder::measure (what convert() pays per text leaf to choose).
void BM_QpMeasureLatin(benchmark::State& state) {
  const std::string& in = latinText();
  for (auto _ : state) benchmark::DoNotOptimize(QuotedPrintableEncoder::measure(in));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(in.size()));
}
BENCHMARK(BM_QpMeasureLatin);

// classify() of the newsletter.
void BM_Classify(benchmark::State& state) {
  const std::string& in = newsletter();
  for (auto _ : state) benchmark::DoNotOptimize(sluice::mime::classify(in));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(in.size()));
}
BENCHMARK(BM_Classify);

// convert() for a 7-bit peer, then the whole output read through a Cursor in 16 KiB chunks.
void BM_ConvertNewsletter(benchmark::State& state) {
  const std::string& in = newsletter();
  std::string buf(16 * 1024, '\0');
  std::uint64_t outSize = 0;
  for (auto _ : state) {
    auto r = sluice::mime::convert(in, {});
    auto* plan = std::get_if<std::shared_ptr<const sluice::mime::Conversion>>(&r);
    if (plan == nullptr) {
      state.SkipWithError("refused");
      break;
    }
    sluice::mime::Cursor cur = (*plan)->open();
    std::uint64_t n = 0;
    while (const std::size_t k = cur.read(buf.data(), buf.size())) n += k;
    outSize = n;
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(in.size()));
  state.counters["in_bytes"] = static_cast<double>(in.size());
  state.counters["out_bytes"] = static_cast<double>(outSize);
}
BENCHMARK(BM_ConvertNewsletter);

}  // namespace

BENCHMARK_MAIN();
