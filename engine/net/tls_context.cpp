// tls_context.cpp: TlsContext (SSL_CTX setup for clients and servers, the in-memory self-signed certificate) and
// the OpenSSL error-queue helper shared with tls.cpp.
//
// Ownership: each TlsContext owns one SSL_CTX reference; temporary keys, certificates and BIOs are freed on every
// path by small unique_ptr deleters. Errors: nullptr / false with text in *error; never throws for OpenSSL errors.
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/net/tls.hpp"
#include "engine/net/tls_internal.hpp"

namespace sluice::net {

namespace detail {

std::string drainOpensslErrors() {
  std::vector<std::string> reasons;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    const char* reason = ERR_reason_error_string(code);
    std::string text = reason != nullptr ? reason : ("error " + std::to_string(ERR_GET_REASON(code)));
    if (std::find(reasons.begin(), reasons.end(), text) == reasons.end()) {
      reasons.push_back(std::move(text));
    }
  }
  std::string out;
  for (const std::string& r : reasons) {
    out += out.empty() ? "" : "; ";
    out += r;
  }
  return out;
}

}  // namespace detail

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct CtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

int versionConstant(TlsVersion v) {
  switch (v) {
    case TlsVersion::Tls1_0: return TLS1_VERSION;
    case TlsVersion::Tls1_1: return TLS1_1_VERSION;
    case TlsVersion::Tls1_2: return TLS1_2_VERSION;
    case TlsVersion::Tls1_3: return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

// Sets *error to "tls: <what>: <OpenSSL reasons>" and returns false.
bool setError(std::string* error, std::string_view what) {
  std::string reasons = detail::drainOpensslErrors();
  if (error != nullptr) {
    *error = "tls: ";
    *error += what;
    if (!reasons.empty()) {
      *error += ": " + reasons;
    }
  }
  return false;
}

bool applyVersions(SSL_CTX* ctx, TlsVersion min, TlsVersion max, std::string* error) {
  if (static_cast<int>(min) > static_cast<int>(max)) {
    if (error != nullptr) {
      *error = "tls: minimum protocol version above the maximum";
    }
    return false;
  }
  if (SSL_CTX_set_min_proto_version(ctx, versionConstant(min)) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, versionConstant(max)) != 1) {
    return setError(error, "cannot set the protocol versions");
  }
  return true;
}

// A new server SSL_CTX with the common settings (TLS 1.2+, no tickets, no session cache, no renegotiation).
CtxPtr newServerCtx(std::string* error) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    setError(error, "cannot create a server context");
    return nullptr;
  }
  if (!applyVersions(ctx.get(), TlsVersion::Tls1_2, TlsVersion::Tls1_3, error)) {
    return nullptr;
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  return ctx;
}

// A GENERAL_NAME for the subjectAltName: an IP address when `name` is an IPv4/IPv6 literal, else a DNS name.
GENERAL_NAME* altName(const std::string& name) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (gn == nullptr) {
    return nullptr;
  }
  ERR_set_mark();
  if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str())) {
    ERR_pop_to_mark();
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
    return gn;
  }
  ERR_pop_to_mark();
  ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
  if (dns == nullptr || ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size())) != 1) {
    ASN1_IA5STRING_free(dns);
    GENERAL_NAME_free(gn);
    return nullptr;
  }
  GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
  return gn;
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsContext> TlsContext::makeClient(const TlsClientOptions& options, std::string* error) {
  ERR_clear_error();
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    setError(error, "cannot create a client context");
    return nullptr;
  }
  if (!applyVersions(ctx.get(), options.minVersion, options.maxVersion, error)) {
    return nullptr;
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  if (!options.ciphers.empty() && SSL_CTX_set_cipher_list(ctx.get(), options.ciphers.c_str()) != 1) {
    setError(error, "bad cipher list \"" + options.ciphers + "\"");
    return nullptr;
  }
  if (!options.caFile.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), options.caFile.c_str(), nullptr) != 1) {
      setError(error, "cannot load CA file " + options.caFile);
      return nullptr;
    }
  } else if (options.verifyPeer && SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    setError(error, "cannot load the system CA store");
    return nullptr;
  }
  SSL_CTX_set_verify(ctx.get(), options.verifyPeer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  return std::unique_ptr<TlsContext>(new TlsContext(ctx.release(), TlsRole::Client));
}

std::unique_ptr<TlsContext> TlsContext::makeServer(const std::string& certPemPath, const std::string& keyPemPath,
                                                   std::string* error) {
  ERR_clear_error();
  CtxPtr ctx = newServerCtx(error);
  if (!ctx) {
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), certPemPath.c_str()) != 1) {
    setError(error, "cannot load certificate " + certPemPath);
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), keyPemPath.c_str(), SSL_FILETYPE_PEM) != 1) {
    setError(error, "cannot load private key " + keyPemPath);
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    setError(error, "private key " + keyPemPath + " does not match certificate " + certPemPath);
    return nullptr;
  }
  return std::unique_ptr<TlsContext>(new TlsContext(ctx.release(), TlsRole::Server));
}

std::unique_ptr<TlsContext> TlsContext::makeSelfSignedServer(std::string_view commonName, std::string* error) {
  ERR_clear_error();
  const std::string cn(commonName);
  if (cn.empty() || cn.size() > 64) {  // X.509 upper bound for a common name (RFC 5280 ub-common-name)
    if (error != nullptr) {
      *error = "tls: the self-signed certificate needs a common name of 1 to 64 octets";
    }
    return nullptr;
  }
  CtxPtr ctx = newServerCtx(error);
  if (!ctx) {
    return nullptr;
  }
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
  if (!key) {
    setError(error, "cannot generate an EC P-256 key");
    return nullptr;
  }
  std::unique_ptr<X509, X509Free> cert(X509_new());
  std::unique_ptr<BIGNUM, BnFree> serial(BN_new());
  if (!cert || !serial || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600) == nullptr ||
      X509_set_pubkey(cert.get(), key.get()) != 1) {
    setError(error, "cannot build the self-signed certificate");
    return nullptr;
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1) {
    setError(error, "cannot set the certificate name");
    return nullptr;
  }
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(sk_GENERAL_NAME_new_null());
  GENERAL_NAME* alt = names ? altName(cn) : nullptr;
  if (alt == nullptr || sk_GENERAL_NAME_push(names.get(), alt) == 0) {
    GENERAL_NAME_free(alt);
    setError(error, "cannot build the subjectAltName");
    return nullptr;
  }
  if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1 ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    setError(error, "cannot sign the self-signed certificate");
    return nullptr;
  }
  if (SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 || SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    setError(error, "cannot install the self-signed certificate");
    return nullptr;
  }
  return std::unique_ptr<TlsContext>(new TlsContext(ctx.release(), TlsRole::Server));
}

bool TlsContext::setVersionRange(TlsVersion min, TlsVersion max, std::string* error) {
  ERR_clear_error();
  return applyVersions(ctx_, min, max, error);
}

std::string TlsContext::certificatePem() const {
  X509* cert = SSL_CTX_get0_certificate(ctx_);
  if (cert == nullptr) {
    return {};
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    ERR_clear_error();
    return {};
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

}  // namespace sluice::net
