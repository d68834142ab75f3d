// uvredis metrics for Prometheus: a Client with the latency histogram on and
// a CommandObserver that counts commands by name and outcome, and a tiny
// HTTP server on the same libuv loop that serves them as a Prometheus text
// page at http://127.0.0.1:PORT/metrics.
//
//   REDIS_URL=redis://127.0.0.1:6379 ./prometheus [--port 9121] [--scrapes N]
//
// It first runs a few hundred commands (SET, GET, INCR and one that fails
// with WRONGTYPE, so that there is something to see), then prints the URL
// and serves until interrupted (Ctrl-C), or until N pages were served.
// --port 0 takes a free port (printed).
#include <uvredis/uvredis.hpp>
#include <uvredis/observe.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace {

// Counts per (command, outcome) and bytes each way. Runs on the loop
// thread, so plain maps will do.
class CountingObserver final : public uvredis::CommandObserver {
 public:
  void on_completed(const uvredis::CommandEvent& e) override {
    std::string outcome = e.error ? std::string(uvredis::to_string(*e.error)) : std::string("ok");
    ++by_command[{upper(e.command), std::move(outcome)}];
    bytes_out += e.bytes_out;
    bytes_in += e.bytes_in;
  }
  std::map<std::pair<std::string, std::string>, std::uint64_t> by_command;
  std::uint64_t bytes_out = 0;
  std::uint64_t bytes_in = 0;

 private:
  static std::string upper(std::string_view s) {
    std::string u(s);
    for (char& c : u)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return u;
  }
};

// Label values need \ " and newline escaped (text format 0.0.4).
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string seconds(std::chrono::nanoseconds d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9f", static_cast<double>(d.count()) / 1e9);
  return buf;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& labels, const std::string& value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + value + "\n";
}

// The page: the client's counters, its latency histogram (cumulative
// buckets at every power of two from 8 us, up to the slowest sample), the
// same latencies' p50/p90/p99 as a summary, and the observer's counts.
std::string metrics_page(const uvredis::ClientStats& s, const CountingObserver& obs) {
  std::string out;
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    family(out, name, "counter", help);
    sample(out, name, "", std::to_string(v));
  };
  counter("uvredis_commands_sent_total", "Commands written to the server.", s.sent);
  counter("uvredis_replies_total", "Replies received, error replies included.", s.replies);
  counter("uvredis_command_errors_total", "Commands that completed with an error.", s.errors);
  counter("uvredis_command_timeouts_total", "Commands that timed out.", s.timeouts);
  counter("uvredis_reconnects_total", "Successful connects after the first.", s.reconnects);
  counter("uvredis_socket_writes_total", "Socket writes (many commands per write).", s.writes);
  counter("uvredis_read_retries_total", "Reads resent after a lost link (read_retry).", s.read_retries);
  family(out, "uvredis_commands_in_flight", "gauge", "Commands sent and awaiting their reply.");
  sample(out, "uvredis_commands_in_flight", "", std::to_string(s.in_flight));
  family(out, "uvredis_commands_queued", "gauge", "Commands waiting for the connection.");
  sample(out, "uvredis_commands_queued", "", std::to_string(s.queued));

  const uvredis::LatencyHistogram& h = s.latency;
  family(out, "uvredis_command_duration_seconds", "histogram", "From issuing a command to its reply.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < uvredis::LatencyHistogram::kBuckets; ++i) {
    cumulative += h.bucket(i);
    const std::uint64_t upper = uvredis::LatencyHistogram::bucket_upper_us(i);
    const bool power_of_two = upper >= 8 && (upper & (upper - 1)) == 0;
    if (!power_of_two) continue;
    sample(out, "uvredis_command_duration_seconds_bucket",
           "le=\"" + seconds(std::chrono::microseconds(upper)) + "\"", std::to_string(cumulative));
    if (cumulative == h.count() && std::chrono::microseconds(upper) > h.max()) break;
  }
  sample(out, "uvredis_command_duration_seconds_bucket", "le=\"+Inf\"", std::to_string(h.count()));
  sample(out, "uvredis_command_duration_seconds_sum", "", seconds(h.sum()));
  sample(out, "uvredis_command_duration_seconds_count", "", std::to_string(h.count()));

  family(out, "uvredis_command_latency_seconds", "summary", "Latency percentiles (bucket upper bounds).");
  for (auto [q, v] : {std::pair{"0.5", h.p50()}, std::pair{"0.9", h.p90()}, std::pair{"0.99", h.p99()}})
    sample(out, "uvredis_command_latency_seconds", std::string("quantile=\"") + q + "\"", seconds(v));
  sample(out, "uvredis_command_latency_seconds_sum", "", seconds(h.sum()));
  sample(out, "uvredis_command_latency_seconds_count", "", std::to_string(h.count()));
  family(out, "uvredis_command_latency_max_seconds", "gauge", "The slowest reply so far.");
  sample(out, "uvredis_command_latency_max_seconds", "", seconds(h.max()));

  family(out, "uvredis_observed_commands_total", "counter", "Completed commands by name and outcome.");
  for (const auto& [key, n] : obs.by_command)
    sample(out, "uvredis_observed_commands_total",
           "command=\"" + label(key.first) + "\",outcome=\"" + label(key.second) + "\"", std::to_string(n));
  family(out, "uvredis_observed_bytes_total", "counter", "Bytes of commands and replies on the wire.");
  sample(out, "uvredis_observed_bytes_total", "direction=\"out\"", std::to_string(obs.bytes_out));
  sample(out, "uvredis_observed_bytes_total", "direction=\"in\"", std::to_string(obs.bytes_in));
  return out;
}

// The HTTP side: one request per connection (HTTP/1.0 style), answered and
// closed. Enough for a Prometheus scraper or curl, not a general server.
struct Server;

struct HttpConn {
  uv_tcp_t tcp{};
  uv_write_t write{};
  std::string in;
  std::string out;
  Server* server = nullptr;
  bool answered = false;
};

struct Server {
  uv_loop_t* loop = nullptr;
  uv_tcp_t listener{};
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  uvredis::Client* client = nullptr;
  std::shared_ptr<CountingObserver> observer;
  int scrapes_left = -1;  // -1: serve forever
  bool stopping = false;

  void stop() {
    if (stopping) return;
    stopping = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
    client->close();
  }
};

void close_conn(HttpConn* c) {
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<HttpConn*>(h->data); });
}

void answer(HttpConn* c) {
  c->answered = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
  Server* s = c->server;
  const bool metrics = c->in.starts_with("GET /metrics ") || c->in.starts_with("GET /metrics?");
  const std::string body = metrics ? metrics_page(s->client->stats(), *s->observer) : "not found: try /metrics\n";
  c->out = std::string(metrics ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.0 404 Not Found\r\n") +
           (metrics ? "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                    : "Content-Type: text/plain; charset=utf-8\r\n") +
           "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  uv_buf_t buf = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
  c->write.data = c;
  const int rc = uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, [](uv_write_t* w, int) {
    auto* conn = static_cast<HttpConn*>(w->data);
    Server* srv = conn->server;
    close_conn(conn);
    if (srv->scrapes_left > 0 && --srv->scrapes_left == 0) srv->stop();
  });
  if (rc != 0) close_conn(c);
}

void on_connection(uv_stream_t* listener, int status) {
  auto* s = static_cast<Server*>(listener->data);
  if (status < 0 || s->stopping) return;
  auto* c = new HttpConn;
  c->server = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return close_conn(c);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = static_cast<char*>(std::malloc(suggested));
        buf->len = buf->base ? suggested : 0;
      },
      [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        auto* conn = static_cast<HttpConn*>(stream->data);
        if (n > 0) conn->in.append(buf->base, static_cast<std::size_t>(n));
        std::free(buf->base);
        if (conn->answered) return;
        if (n < 0 || conn->in.size() > 64 * 1024) {
          uv_read_stop(stream);
          close_conn(conn);
        } else if (conn->in.find("\r\n\r\n") != std::string::npos) {
          answer(conn);
        }
      });
}

}  // namespace

int main(int argc, char** argv) {
  int port = 9121;
  int scrapes = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--scrapes") == 0) scrapes = std::atoi(argv[i + 1]);
  }
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;
  auto observer = std::make_shared<CountingObserver>();
  opts->observer = observer;
  opts->latency_histogram = true;

  uv_loop_t* loop = uv_default_loop();
  uvredis::Client client(loop, *opts);
  Server server;
  server.loop = loop;
  server.client = &client;
  server.observer = observer;
  server.scrapes_left = scrapes;
  int status = 0;

  // Some traffic first, so that the page has something to show.
  constexpr int kRounds = 100;
  auto left = std::make_shared<int>(kRounds * 4);
  auto listen = [&] {
    uv_tcp_init(loop, &server.listener);
    server.listener.data = &server;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", port, &addr);
    int rc = uv_tcp_bind(&server.listener, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server.listener), 16, on_connection);
    uv_signal_init(loop, &server.sigint);
    uv_signal_init(loop, &server.sigterm);
    if (rc != 0) {
      std::fprintf(stderr, "cannot listen on 127.0.0.1:%d: %s\n", port, uv_strerror(rc));
      status = 1;
      server.stop();
      return;
    }
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&server.listener, reinterpret_cast<sockaddr*>(&bound), &len);
    const int actual = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    server.sigint.data = &server;
    server.sigterm.data = &server;
    auto on_signal = [](uv_signal_t* h, int) { static_cast<Server*>(h->data)->stop(); };
    uv_signal_start(&server.sigint, on_signal, SIGINT);
    uv_signal_start(&server.sigterm, on_signal, SIGTERM);
    std::printf("serving metrics on http://127.0.0.1:%d/metrics\n", actual);
    std::fflush(stdout);
  };
  auto one_done = [left, &listen](uvredis::Result<uvredis::Reply>) {
    if (--*left == 0) listen();
  };
  for (int i = 0; i < kRounds; ++i) {
    const std::string key = "example:metrics:" + std::to_string(i % 10);
    client.command({"SET", key, "value"}, one_done);
    client.command({"GET", key}, one_done);
    client.command({"INCR", "example:metrics:hits"}, one_done);
    // INCR on a string that holds no integer: an error reply on purpose.
    client.command({"INCR", key}, one_done);
  }

  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
