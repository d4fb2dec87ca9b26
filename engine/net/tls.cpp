// tls.cpp: TlsFilter, one TLS connection driven through two OpenSSL memory BIOs (see tls.hpp for the contract).
//
// Ownership: the SSL owns both BIOs once SSL_set_bio() ran; the filter owns the SSL. Output buffers are plain
// std::strings moved out to the caller. Threads: one filter per thread at a time. Errors: sticky failed_ with
// text built from the OpenSSL error queue (cleared before every operation so old errors are never blamed here).
#include "engine/net/tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <climits>
#include <string>
#include <string_view>

#include "engine/net/tls_internal.hpp"

namespace sluice::net {

namespace {

constexpr std::size_t kRecord = 16384;            // largest TLS plaintext record (RFC 8446 §5.1)
constexpr std::size_t kEncryptPiece = 4 * kRecord;  // ciphertext is moved out of the BIO after each piece
constexpr std::size_t kReadChunk = kRecord;

bool isIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

TlsFilter::TlsFilter(TlsContext& ctx, TlsRole role, std::string_view serverName) : role_(role) {
  ERR_clear_error();
  if (ctx.role() != role) {
    failed_ = true;
    error_ = role == TlsRole::Client ? "tls: a server context cannot make a client connection"
                                     : "tls: a client context cannot make a server connection";
    return;
  }
  ssl_ = SSL_new(ctx.native());
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    failed_ = true;
    error_ = "tls: cannot create a connection: " + detail::drainOpensslErrors();
    return;
  }
  BIO_set_mem_eof_return(rbio, -1);  // empty means "retry later", never end of stream
  BIO_set_mem_eof_return(wbio, -1);
  SSL_set_bio(ssl_, rbio, wbio);
  rbio_ = rbio;
  wbio_ = wbio;
  if (role_ == TlsRole::Server) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  sni_ = std::string(serverName);
  if (!sni_.empty() && sni_.back() == '.') {
    sni_.pop_back();
  }
  if (!sni_.empty()) {
    bool ok = true;
    if (isIpLiteral(sni_)) {  // RFC 6066 §3: no literal IP addresses in SNI; still checked against the cert
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), sni_.c_str()) == 1;
      sni_.clear();
    } else {
      ok = SSL_set_tlsext_host_name(ssl_, sni_.c_str()) == 1 && SSL_set1_host(ssl_, sni_.c_str()) == 1;
    }
    if (!ok) {
      failed_ = true;
      error_ = "tls: bad server name: " + detail::drainOpensslErrors();
      return;
    }
  }
  advance();  // the ClientHello
}

TlsFilter::~TlsFilter() { SSL_free(ssl_); }  // null-safe; frees both BIOs

bool TlsFilter::feedCiphertext(std::string_view in) {
  if (failed_) {
    return false;
  }
  if (peerClosed_ || in.empty()) {
    return true;  // nothing may follow close_notify; such bytes are dropped
  }
  ERR_clear_error();
  while (!in.empty()) {
    const int n = static_cast<int>(std::min<std::size_t>(in.size(), INT_MAX));
    if (BIO_write(rbio_, in.data(), n) != n) {
      failed_ = true;
      error_ = "tls: out of memory buffering input";
      return false;
    }
    in.remove_prefix(static_cast<std::size_t>(n));
  }
  advance();
  return !failed_;
}

std::string TlsFilter::takeCiphertext() {
  std::string out;
  out.swap(cipherOut_);
  return out;
}

std::string TlsFilter::takePlaintext() {
  std::string out;
  out.swap(plainIn_);
  return out;
}

bool TlsFilter::writePlain(std::string_view plain) {
  const PlainSlice slice{plain.data(), plain.size()};
  return writePlain(std::span<const PlainSlice>(&slice, 1));
}

bool TlsFilter::writePlain(std::span<const PlainSlice> slices) {
  return writePlainGeneric(slices.data(), slices.size(), sizeof(PlainSlice),
                           [](const void* s) { return *static_cast<const PlainSlice*>(s); });
}

bool TlsFilter::writePlainGeneric(const void* slices, std::size_t count, std::size_t stride, SliceGetter get) {
  if (failed_ || shutdownSent_) {
    return false;
  }
  const char* base = static_cast<const char*>(slices);
  if (!handshakeDone_) {
    for (std::size_t i = 0; i < count; ++i) {
      const PlainSlice s = get(base + i * stride);
      early_.append(s.data, s.size);
    }
    return true;
  }
  ERR_clear_error();
  for (std::size_t i = 0; i < count && !failed_; ++i) {
    const PlainSlice s = get(base + i * stride);
    const char* p = s.data;
    std::size_t left = s.size;
    while (left > 0 && !failed_) {
      if (staging_.empty() && left >= kRecord) {
        // Whole records straight from the caller's memory.
        const std::size_t whole = left - left % kRecord;
        if (!encrypt(p, whole)) {
          return false;
        }
        p += whole;
        left -= whole;
        continue;
      }
      const std::size_t n = std::min(kRecord - staging_.size(), left);
      staging_.append(p, n);
      p += n;
      left -= n;
      if (staging_.size() == kRecord && !flushStaging()) {
        return false;
      }
    }
  }
  return flushStaging() && !failed_;
}

bool TlsFilter::flushStaging() {
  if (staging_.empty()) {
    return !failed_;
  }
  const bool ok = encrypt(staging_.data(), staging_.size());
  staging_.clear();
  return ok;
}

bool TlsFilter::encrypt(const char* data, std::size_t size) {
  while (size > 0) {
    const std::size_t piece = std::min(size, kEncryptPiece);
    std::size_t written = 0;
    const int r = SSL_write_ex(ssl_, data, piece, &written);
    if (r != 1 || written != piece) {  // memory BIOs never push back, so anything short is an error
      fail(SSL_get_error(ssl_, r));
      return false;
    }
    drainOutput();
    data += piece;
    size -= piece;
  }
  return true;
}

void TlsFilter::advance() {
  if (failed_) {
    return;
  }
  if (!handshakeDone_) {
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        drainOutput();
      } else {
        fail(e);
      }
      return;
    }
    handshakeDone_ = true;
    drainOutput();
    if (!early_.empty()) {
      std::string queued;
      queued.swap(early_);
      if (!writePlain(std::string_view(queued))) {
        return;
      }
    }
  }
  // Nothing to decrypt unless input is waiting in the BIO or inside OpenSSL.
  while (!peerClosed_ && (BIO_ctrl_pending(rbio_) > 0 || SSL_has_pending(ssl_) == 1)) {
    const std::size_t old = plainIn_.size();
    plainIn_.resize(old + kReadChunk);
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, plainIn_.data() + old, kReadChunk, &got);
    plainIn_.resize(old + (r == 1 ? got : 0));
    if (r == 1) {
      continue;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      break;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      peerClosed_ = true;
      break;
    }
    fail(e);
    return;
  }
  drainOutput();
}

void TlsFilter::drainOutput() {
  const std::size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) {
    return;
  }
  const std::size_t old = cipherOut_.size();
  cipherOut_.resize(old + pending);
  const int got = BIO_read(wbio_, cipherOut_.data() + old, static_cast<int>(std::min<std::size_t>(pending, INT_MAX)));
  cipherOut_.resize(old + static_cast<std::size_t>(std::max(got, 0)));
}

void TlsFilter::fail(int sslError) {
  std::string reasons = detail::drainOpensslErrors();
  if (reasons.empty()) {
    reasons = sslError == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "protocol error";
  }
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK && reasons.find("certificate verify failed") != std::string::npos) {
    reasons += " (";
    reasons += X509_verify_cert_error_string(verify);
    reasons += ")";
  }
  failed_ = true;
  error_ = "tls: " + reasons;
  early_.clear();
  staging_.clear();
  drainOutput();  // an alert for the peer, if OpenSSL produced one
}

bool TlsFilter::shutdown() {
  if (failed_ || !handshakeDone_) {
    return false;
  }
  if (shutdownSent_) {
    return true;
  }
  ERR_clear_error();
  const int r = SSL_shutdown(ssl_);
  if (r < 0) {
    fail(SSL_get_error(ssl_, r));
    return false;
  }
  shutdownSent_ = true;
  drainOutput();
  return true;
}

std::string TlsFilter::version() const {
  return handshakeDone_ ? std::string(SSL_get_version(ssl_)) : std::string();
}

std::string TlsFilter::cipher() const {
  if (!handshakeDone_) {
    return {};
  }
  const char* name = SSL_get_cipher_name(ssl_);
  return name != nullptr ? std::string(name) : std::string();
}

std::string TlsFilter::serverName() const {
  if (role_ == TlsRole::Client || ssl_ == nullptr) {
    return sni_;
  }
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? std::string(name) : std::string();
}

bool TlsFilter::peerVerified() const {
  return handshakeDone_ && !failed_ && SSL_get0_peer_certificate(ssl_) != nullptr &&
         SSL_get_verify_result(ssl_) == X509_V_OK;
}

}  // namespace sluice::net
