// TlsContext: the OpenSSL context a client's links share (CAs, client certificate), and OpenSSL errors as text.
#include "tls/tls_bridge.hpp"

#include "base/logging.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace uvredis::detail {

std::string ssl_error_text(const char* fallback) {
  unsigned long e = ERR_get_error();
  std::string out;
  if (e != 0) {
    if (const char* r = ERR_reason_error_string(e)) {
      out = r;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      out = buf;
    }
  } else {
    out = fallback;
  }
  ERR_clear_error();
  return out;
}

// ---------------------------------------------------------------- context

std::shared_ptr<TlsContext> TlsContext::create(const ClientOptions& o, const std::shared_ptr<spdlog::logger>& logger) {
  auto log = logger_or_silent(logger);
  std::shared_ptr<TlsContext> c(new TlsContext());
  auto bad = [&](std::string msg) {
    c->error_ = Error{ErrorKind::usage, std::move(msg)};
    log->error("{}", c->error_->message);
    return c;
  };
  ERR_clear_error();
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!c->ctx_) return bad("cannot create a TLS context: " + ssl_error_text());
  SSL_CTX_set_min_proto_version(c->ctx_, TLS1_2_VERSION);
  // held bytes are retried from another buffer (see encrypt)
  SSL_CTX_set_mode(c->ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  c->server_name_ = o.tls_server_name;
  c->verify_ = !o.tls_insecure_skip_verify;
  if (c->verify_) {
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
    if (!o.tls_ca_file.empty() || !o.tls_ca_dir.empty()) {
      const char* file = o.tls_ca_file.empty() ? nullptr : o.tls_ca_file.c_str();
      const char* dir = o.tls_ca_dir.empty() ? nullptr : o.tls_ca_dir.c_str();
      if (SSL_CTX_load_verify_locations(c->ctx_, file, dir) != 1)
        return bad("cannot load TLS CA certificates from '" + (file ? o.tls_ca_file : o.tls_ca_dir) +
                   "': " + ssl_error_text());
    } else if (SSL_CTX_set_default_verify_paths(c->ctx_) != 1) {
      return bad("cannot load the system's CA certificates: " + ssl_error_text());
    }
  } else {
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_NONE, nullptr);
    log->warn("tls_insecure_skip_verify is set: the certificate of {} is NOT verified; anyone on the path can "
              "read and change this traffic",
              o.address.to_string());
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty())
    return bad("tls_cert_file and tls_key_file must be given together");
  if (!o.tls_cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(c->ctx_, o.tls_cert_file.c_str()) != 1)
      return bad("cannot load the TLS client certificate '" + o.tls_cert_file + "': " + ssl_error_text());
    if (SSL_CTX_use_PrivateKey_file(c->ctx_, o.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return bad("cannot load the TLS client key '" + o.tls_key_file + "': " + ssl_error_text());
    if (SSL_CTX_check_private_key(c->ctx_) != 1)
      return bad("the TLS client key '" + o.tls_key_file + "' does not match '" + o.tls_cert_file + "'");
    c->client_cert_ = true;
  }
  return c;
}

TlsContext::~TlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);  // SSL objects still alive hold their own reference
}

}  // namespace uvredis::detail
