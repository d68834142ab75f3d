#include <uvredis/script.hpp>

#include "base/sha1.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace uvredis {

struct Script::Data {
  std::string source;
  std::string sha1;
  ScriptOptions options;
};

Script::Script(std::string source, ScriptOptions options) {
  auto d = std::make_shared<Data>();
  d->sha1 = detail::sha1_hex(source);
  d->source = std::move(source);
  d->options = options;
  d_ = std::move(d);
}

const std::string& Script::source() const noexcept { return d_->source; }
const std::string& Script::sha1() const noexcept { return d_->sha1; }
const ScriptOptions& Script::options() const noexcept { return d_->options; }

namespace {

// Everything a run needs after the first attempt: the argv of EVALSHA, with
// slots 0 and 1 swapped for EVAL and the source on NOSCRIPT.
struct Run {
  std::shared_ptr<const void> keep;  // the Script's data (source) stays alive
  std::vector<std::string> argv;
  std::string_view source;
  bool read_only;
  Executor* ex;
  CommandOptions opts;
  Callback<Reply> cb;
};

std::vector<std::string_view> views(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

}  // namespace

void Script::run(Executor& ex, std::span<const std::string_view> keys, std::span<const std::string_view> args,
                 Callback<Reply> cb, CommandOptions opts) const {
  // The common case (script cached) needs argv only for the first send; the
  // copy is what makes a transparent retry possible at all.
  auto run = std::make_unique<Run>();
  run->keep = d_;
  run->source = d_->source;
  run->read_only = d_->options.read_only;
  run->ex = &ex;
  run->opts = opts;
  run->argv.reserve(3 + keys.size() + args.size());
  run->argv.emplace_back(run->read_only ? "EVALSHA_RO" : "EVALSHA");
  run->argv.emplace_back(d_->sha1);
  run->argv.emplace_back(std::to_string(keys.size()));
  for (auto k : keys) run->argv.emplace_back(k);
  for (auto a : args) run->argv.emplace_back(a);
  run->cb = std::move(cb);

  Run* r = run.get();
  ex.command(views(r->argv),
             [run = std::move(run)](Result<Reply> first) mutable {
               if (first || first.error().kind != ErrorKind::server || first.error().code() != "NOSCRIPT") {
                 if (run->cb) run->cb(std::move(first));
                 return;
               }
               // Not cached on this server (any more): send the source. EVAL
               // caches it, so the next EVALSHA finds it again.
               Run* rr = run.get();
               rr->argv[0] = rr->read_only ? "EVAL_RO" : "EVAL";
               rr->argv[1] = std::string(rr->source);
               rr->ex->command(
                   views(rr->argv),
                   [run = std::move(run)](Result<Reply> second) mutable {
                     if (run->cb) run->cb(std::move(second));
                   },
                   rr->opts);
             },
             opts);
}

void Script::load(Executor& ex, std::span<const Script> scripts, Callback<void> done) {
  struct Count {
    std::size_t left;
    std::optional<Error> first_error;
    Callback<void> done;
  };
  auto c = std::make_shared<Count>();
  c->left = scripts.size();
  c->done = std::move(done);
  if (scripts.empty()) {
    ex.post([c] {
      if (c->done) c->done(Result<void>());
    });
    return;
  }
  for (const Script& s : scripts) {
    std::string_view argv[] = {"SCRIPT", "LOAD", s.source()};
    ex.command(argv, [c, sha = s.sha1()](Result<Reply> r) {
      if (!c->first_error) {
        if (!r)
          c->first_error = std::move(r).error();
        else if (!r->is_string() || r->str() != sha)
          c->first_error = Error{ErrorKind::protocol, "SCRIPT LOAD answered " + r->to_string() + ", expected " + sha};
      }
      if (--c->left > 0 || !c->done) return;
      auto d = std::move(c->done);
      if (c->first_error)
        d(std::move(*c->first_error));
      else
        d(Result<void>());
    });
  }
}

// ------------------------------------------------------------ decoders

namespace script_decode {

namespace {

std::optional<double> parse_double(std::string_view s) {
  // strtod needs a terminated string; replies are short numbers.
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (tmp.empty() || end != tmp.c_str() + tmp.size()) return std::nullopt;
  return v;
}

Error bad_element(std::size_t i, const char* wanted) {
  return Error{ErrorKind::protocol, "unexpected script reply: element " + std::to_string(i) + " is not " + wanted};
}

}  // namespace

Result<std::optional<long long>> optional_integer(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (r->is_nil()) return std::optional<long long>();
  if (!r->is_integer()) return decode::unexpected(*r, "integer or nil");
  return std::optional<long long>(r->integer());
}

Result<bool> lua_boolean(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (r->is_nil()) return false;
  if (r->is_integer()) return r->integer() != 0;
  return decode::unexpected(*r, "integer or nil");
}

Result<std::vector<long long>> integers(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (!r->is_array()) return decode::unexpected(*r, "array of integers");
  std::vector<long long> out;
  out.reserve(r->size());
  for (std::size_t i = 0; i < r->size(); ++i) {
    auto v = integer_at(*r, i);
    if (!v) return std::move(v).error();
    out.push_back(*v);
  }
  return out;
}

Result<std::vector<std::string>> strings(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (!r->is_array()) return decode::unexpected(*r, "array of strings");
  std::vector<std::string> out;
  out.reserve(r->size());
  for (std::size_t i = 0; i < r->size(); ++i) {
    Reply& e = r->elements()[i];
    if (e.is_string() || e.is_status())
      out.push_back(e.take_str());
    else if (e.is_integer())
      out.push_back(std::to_string(e.integer()));
    else
      return bad_element(i, "a string");
  }
  return out;
}

Result<double> number(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (r->is_integer()) return static_cast<double>(r->integer());
  if (r->is_string() || r->is_status()) {
    if (auto v = parse_double(r->str())) return *v;
  }
  return decode::unexpected(*r, "number");
}

Result<long long> integer_at(const Reply& array, std::size_t i) {
  if (!array.is_array() || i >= array.size()) return bad_element(i, "present");
  const Reply& e = array[i];
  if (e.is_integer()) return e.integer();
  if (e.is_string()) {
    long long v = 0;
    auto s = e.str();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  return bad_element(i, "an integer");
}

Result<double> number_at(const Reply& array, std::size_t i) {
  if (!array.is_array() || i >= array.size()) return bad_element(i, "present");
  const Reply& e = array[i];
  if (e.is_integer()) return static_cast<double>(e.integer());
  if (e.is_string()) {
    if (auto v = parse_double(e.str())) return *v;
  }
  return bad_element(i, "a number");
}

}  // namespace script_decode

}  // namespace uvredis
