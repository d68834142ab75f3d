#include "tls_certs.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace uvredis::test {

namespace {

// Our own minimal openssl config: the system one adds extensions of its own.
const char* kConfig = R"(
[req]
distinguished_name = dn
prompt = no
[dn]
CN = uvredis test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[node]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
)";

void run(const std::string& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir + "' && openssl " + args + " >>openssl.log 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("test certificates: openssl failed: " + cmd);
}

// EC keys: an RSA key takes a noticeable moment to generate.
const char* kNewKey = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

void make_ca(const std::string& dir, const std::string& name, const std::string& cn) {
  run(dir, std::string("req -x509 -config openssl.cnf -extensions ca ") + kNewKey + " -keyout " + name +
               ".key -out " + name + ".crt -days 3 -subj '/CN=" + cn + "'");
}

void make_leaf(const std::string& dir, const std::string& name, const std::string& ca, const std::string& ext,
               const std::string& cn) {
  run(dir, std::string("req -new -config openssl.cnf ") + kNewKey + " -keyout " + name + ".key -out " + name +
               ".csr -subj '/CN=" + cn + "'");
  run(dir, "x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca + ".key -CAcreateserial -out " +
               name + ".crt -days 3 -extfile openssl.cnf -extensions " + ext);
}

struct Holder {
  TlsCerts certs;
  ~Holder() {
    std::error_code ec;
    if (!certs.dir.empty()) std::filesystem::remove_all(certs.dir, ec);
  }
};

std::unique_ptr<Holder> generate() {
  auto h = std::make_unique<Holder>();
  char tmpl[] = "/tmp/uvredis-certs-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  TlsCerts& c = h->certs;
  c.dir = tmpl;
  std::ofstream(c.dir + "/openssl.cnf") << kConfig;
  make_ca(c.dir, "ca", "uvredis test CA");
  make_leaf(c.dir, "server", "ca", "server", "localhost");
  make_ca(c.dir, "other-ca", "some other CA");
  make_leaf(c.dir, "other-server", "other-ca", "server", "localhost");
  make_leaf(c.dir, "client", "ca", "client", "uvredis test client");
  make_leaf(c.dir, "node", "ca", "node", "localhost");
  c.ca_file = c.dir + "/ca.crt";
  c.server_cert = c.dir + "/server.crt";
  c.server_key = c.dir + "/server.key";
  c.other_ca_file = c.dir + "/other-ca.crt";
  c.other_server_cert = c.dir + "/other-server.crt";
  c.other_server_key = c.dir + "/other-server.key";
  c.client_cert = c.dir + "/client.crt";
  c.client_key = c.dir + "/client.key";
  c.node_cert = c.dir + "/node.crt";
  c.node_key = c.dir + "/node.key";
  return h;
}

}  // namespace

const TlsCerts& tls_certs() {
  static std::unique_ptr<Holder> holder = generate();
  return holder->certs;
}

}  // namespace uvredis::test
