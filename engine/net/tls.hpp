// tls.hpp: TLS as a filter over a byte stream (OpenSSL 3, memory BIOs), for STARTTLS on both sides of SMTP: the
// delivery engine's client (RFC 3207, opportunistic by default) and the listener / `sluice sink` server.
//
// The filter does no I/O. The caller moves bytes: what it reads from the socket goes to feedCiphertext(), what
// takeCiphertext() returns goes to the socket, plaintext goes in through writePlain() and comes out through
// takePlaintext(). Nothing here blocks, sleeps or looks at a clock; handshake timeouts belong to the caller.
//
// Ownership: TlsContext owns an SSL_CTX (certificates, verification settings) and is shared by many filters; it
// must outlive every TlsFilter made from it. TlsFilter owns one SSL and its two memory BIOs. Buffers returned by
// takeCiphertext()/takePlaintext() belong to the caller (moved out, never referenced again by the filter), so a
// ciphertext string can be handed to a socket write and kept alive until the write completes.
//
// Threads: a context may be shared by filters on several threads once built (OpenSSL's SSL_CTX is thread-safe
// for this use); setVersionRange() and native() tuning must happen before any filter is made. A filter belongs
// to one thread. OpenSSL's error queue is per thread; every call clears it first and turns it into text.
//
// Errors: construction failures return nullptr with text in *error. A filter that fails (handshake refused,
// corrupt record, alert from the peer) becomes failed() for good, with a readable error() ("tls: certificate
// verify failed (self-signed certificate)", "tls: wrong version number"); it never throws. An alert it owes the
// peer is still left in takeCiphertext() so the caller may send it before closing.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

struct ssl_ctx_st;  // SSL_CTX
struct ssl_st;      // SSL
struct bio_st;      // BIO

namespace sluice::net {

enum class TlsVersion { Tls1_0, Tls1_1, Tls1_2, Tls1_3 };
enum class TlsRole { Client, Server };

struct TlsClientOptions {
  // false: opportunistic SMTP TLS (Postfix's "may"): encrypt without checking the certificate. true: the chain must
  // verify against caFile (or the system store when caFile is empty) and, when the filter has a server name, the
  // certificate must match that name.
  bool verifyPeer = false;
  std::string caFile;  // PEM bundle; loaded even without verifyPeer so that TlsFilter::peerVerified() can report
  TlsVersion minVersion = TlsVersion::Tls1_2;
  TlsVersion maxVersion = TlsVersion::Tls1_3;
  std::string ciphers;  // OpenSSL cipher list for TLS <= 1.2 ("" = OpenSSL's default); TLS 1.3 suites unchanged
};

// RAII over an SSL_CTX. Server contexts accept TLS 1.2 and 1.3 by default, send no session tickets (a mail peer
// rarely resumes) and refuse renegotiation.
class TlsContext {
 public:
  static std::unique_ptr<TlsContext> makeClient(const TlsClientOptions& options, std::string* error);
  // Certificate chain (leaf first) and private key from PEM files; the key must match the certificate.
  static std::unique_ptr<TlsContext> makeServer(const std::string& certPemPath, const std::string& keyPemPath,
                                                std::string* error);
  // A fresh EC P-256 key and a self-signed X.509 v3 certificate made in memory (CN and DNS subjectAltName =
  // commonName, valid from one hour ago for 365 days). For the benchmark sink and tests.
  static std::unique_ptr<TlsContext> makeSelfSignedServer(std::string_view commonName, std::string* error);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  TlsRole role() const { return role_; }
  // Narrows (or widens) the protocol versions. TLS 1.0/1.1 also need a cipher list allowing them at OpenSSL's
  // security level (Debian's default level refuses them). False with *error when OpenSSL refuses the range.
  bool setVersionRange(TlsVersion min, TlsVersion max, std::string* error);
  // The server's own certificate as PEM ("" for a client context): a test writes it as a client's caFile.
  std::string certificatePem() const;
  // Escape hatch for tuning OpenSSL directly (before any filter is made).
  ssl_ctx_st* native() { return ctx_; }

 private:
  TlsContext(ssl_ctx_st* ctx, TlsRole role) : ctx_(ctx), role_(role) {}
  ssl_ctx_st* ctx_;
  TlsRole role_;
};

// A plaintext slice for the scatter write (the layout of struct iovec). writePlain(std::span<const T>) also takes
// any other slice type with `data` and `size` members, such as the SMTP client's IoSlice or TcpStream::Buf.
struct PlainSlice {
  const char* data = nullptr;
  std::size_t size = 0;
};

// One TLS connection as a filter. Typical client use after the peer's "220 ready to start TLS":
//   TlsFilter tls(*ctx, TlsRole::Client, mxName);    // the ClientHello is now in takeCiphertext()
//   loop: write takeCiphertext() to the socket; feed what the socket reads to feedCiphertext();
//         once handshakeDone(): tell the SMTP session; from then on plaintext flows both ways;
//         failed(): give error() to the session (onTlsFailed) and close.
// The server side is the same with TlsRole::Server and no name; it waits for the ClientHello.
//
// Memory: the filter keeps (a) ciphertext not yet taken: at most what the caller asked to write plus record
// overhead (about 22 bytes per 16 KiB record), handshake messages and alerts; (b) plaintext decrypted from
// what the caller fed and not yet taken: at most the size of the ciphertext fed; (c) plaintext written before the
// handshake finished (copied, sent right after it). Nothing grows unless the caller feeds or writes.
class TlsFilter {
 public:
  // serverName (client only): sent as SNI unless it is empty or an IP literal; with verifyPeer it is also the name
  // the certificate must match. A trailing dot is dropped. A role that differs from ctx.role() gives a filter
  // that is failed() from the start.
  TlsFilter(TlsContext& ctx, TlsRole role, std::string_view serverName = {});
  ~TlsFilter();
  TlsFilter(const TlsFilter&) = delete;
  TlsFilter& operator=(const TlsFilter&) = delete;

  // ---- bytes from and to the socket
  // Bytes read from the socket (any segmentation). Advances the handshake and decrypts what it can. Returns
  // false once failed() (the bytes are then ignored).
  bool feedCiphertext(std::string_view in);
  // Bytes to write to the socket, moved out (the filter forgets them). Empty when there is nothing to send.
  std::string takeCiphertext();
  std::size_t pendingCiphertext() const { return cipherOut_.size(); }

  // ---- plaintext
  // Encrypts the bytes into TLS records (full 16 KiB records; a partial one only at the end of the call). Before
  // the handshake is done the bytes are queued (copied) and encrypted as soon as it completes. Returns false when
  // failed() or after shutdown() (nothing is written then).
  bool writePlain(std::string_view plain);
  // Scatter form: the slices are encrypted as one stream (small slices share records; large ones are encrypted
  // straight from the caller's memory, in bounded pieces, without assembling the message).
  bool writePlain(std::span<const PlainSlice> slices);
  template <class Slice>
  bool writePlain(std::span<const Slice> slices) {
    return writePlainGeneric(slices.data(), slices.size(), sizeof(Slice),
                             [](const void* s) { return PlainSlice{static_cast<const Slice*>(s)->data,
                                                                   static_cast<const Slice*>(s)->size}; });
  }
  // Decrypted bytes received so far, moved out. Empty when none.
  std::string takePlaintext();
  std::size_t pendingPlaintext() const { return plainIn_.size(); }

  // ---- state
  bool handshakeDone() const { return handshakeDone_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  // The peer sent close_notify: no more plaintext will come. Call shutdown() to answer it.
  bool peerClosed() const { return peerClosed_; }
  // Queues our close_notify in takeCiphertext(). Further writePlain() calls are refused. Idempotent; false when
  // the handshake never finished or the filter failed (then there is nothing polite to send).
  bool shutdown();

  // ---- for the delivery log (after handshakeDone())
  std::string version() const;     // "TLSv1.3", "TLSv1.2"; "" until handshakeDone()
  std::string cipher() const;      // "TLS_AES_256_GCM_SHA384"; "" until handshakeDone()
  std::string serverName() const;  // server: the SNI the client sent ("" if none); client: the name it sent
  // Client: the server's certificate verified against the context's CA file / store and matched the server name
  // given to the filter. Checked without verifyPeer too (then it only informs the log: "Verified" vs
  // "Untrusted"). Server: false (client certificates are not requested).
  bool peerVerified() const;

 private:
  using SliceGetter = PlainSlice (*)(const void*);
  bool writePlainGeneric(const void* slices, std::size_t count, std::size_t stride, SliceGetter get);
  void advance();
  bool encrypt(const char* data, std::size_t size);
  bool flushStaging();
  void drainOutput();
  void fail(int sslError);

  ssl_st* ssl_ = nullptr;
  bio_st* rbio_ = nullptr;  // ciphertext from the peer (owned by ssl_)
  bio_st* wbio_ = nullptr;  // ciphertext to the peer (owned by ssl_)
  TlsRole role_;
  std::string sni_;
  std::string cipherOut_;
  std::string plainIn_;
  std::string early_;    // plaintext written before the handshake finished
  std::string staging_;  // small slices gathered into one record
  bool handshakeDone_ = false;
  bool failed_ = false;
  bool peerClosed_ = false;
  bool shutdownSent_ = false;
  std::string error_;
};

}  // namespace sluice::net
