#pragma once
// Test certificates, made with the `openssl` command once per test process
// in a private temp directory (removed at exit): a test CA, a server
// certificate from it for 127.0.0.1 and localhost, the same names signed by
// another CA, a client certificate from the test CA, and a cluster node
// certificate from the test CA (server and client at once).

#include <string>

namespace uvredis::test {

struct TlsCerts {
  std::string dir;
  std::string ca_file;            ///< The test CA (clients trust this).
  std::string server_cert;        ///< From the test CA: IP:127.0.0.1, DNS:localhost.
  std::string server_key;
  std::string other_ca_file;      ///< A second, unrelated CA.
  std::string other_server_cert;  ///< Same names, signed by the other CA.
  std::string other_server_key;
  std::string client_cert;        ///< From the test CA, for clientAuth.
  std::string client_key;
  /// From the test CA: IP:127.0.0.1, DNS:localhost, for serverAuth and
  /// clientAuth. Cluster nodes with tls-cluster present it on both ends of
  /// the cluster bus, which always asks for a client certificate.
  std::string node_cert;
  std::string node_key;
};

/// Generated on first use; throws std::runtime_error when openssl fails.
const TlsCerts& tls_certs();

}  // namespace uvredis::test
