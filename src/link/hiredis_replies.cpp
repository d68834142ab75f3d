// hiredis reply objects: Reply trees built straight from hiredis' parser.

#include "link/hiredis_replies.hpp"

#include "link/connection.hpp"

#include <algorithm>
#include <type_traits>

namespace uvredis {

// Builds Reply trees straight from hiredis' parser (no redisReply in
// between), and refuses a reply that no command is waiting for: returning
// NULL makes the reader fail, and hiredis then drops the link instead of
// hitting its assert on an unexpected reply.
struct ReplyBuilder {
  // Once per reply element: kept inline in the create_* hooks on purpose
  // (GCC's unit-growth heuristic left it out of line when this file's
  // includes shrank, ~20 instructions more per reply).
  [[gnu::always_inline]] static Reply* slot(const redisReadTask* t, ReplyType type) {
    Reply* r;
    if (t->parent) {
      auto* parent = static_cast<Reply*>(t->parent->obj);
      parent->elements_.emplace_back();
      r = &parent->elements_.back();
    } else {
      auto* conn = static_cast<detail::Connection*>(t->privdata);
      if (conn == nullptr || !conn->accept_reply()) return nullptr;
      // The previous reply's object, emptied by drain_replies (there is one
      // top-level reply at a time per reader).
      r = conn->spare_reply_ ? conn->spare_reply_.release() : new Reply();
    }
    r->type_ = type;
    return r;
  }
  static void* create_string(const redisReadTask* t, char* s, size_t len) {
    ReplyType type = t->type == REDIS_REPLY_ERROR    ? ReplyType::error
                     : t->type == REDIS_REPLY_STATUS ? ReplyType::status
                                                     : ReplyType::string;
    Reply* r = slot(t, type);
    if (r) r->str_.assign(s, len);
    return r;
  }
  // The element count is an int in hiredis 0.14 and a size_t in 1.x.
  template <class N>
  static void* create_array(const redisReadTask* t, N n) {
    if constexpr (std::is_signed_v<N>) {
      if (n < 0) return nullptr;
    }
    Reply* r = slot(t, ReplyType::array);
    // Reserve what is plausible, not what a hostile header claims.
    if (r) r->elements_.reserve(std::min<std::size_t>(static_cast<std::size_t>(n), 1024));
    return r;
  }
  static void* create_integer(const redisReadTask* t, long long v) {
    Reply* r = slot(t, ReplyType::integer);
    if (r) r->integer_ = v;
    return r;
  }
  static void* create_nil(const redisReadTask* t) { return slot(t, ReplyType::nil); }
  static void* create_double(const redisReadTask* t, double, char* s, size_t len) {
    Reply* r = slot(t, ReplyType::string);
    if (r) r->str_.assign(s, len);
    return r;
  }
  static void* create_bool(const redisReadTask* t, int b) {
    Reply* r = slot(t, ReplyType::integer);
    if (r) r->integer_ = b ? 1 : 0;
    return r;
  }
  static void free_object(void* p) { delete static_cast<Reply*>(p); }
  // Empties a reply whose contents moved on, for the next reply to be parsed
  // into: the fields themselves, not a temporary Reply assigned and destroyed.
  static void reset(Reply& r) noexcept {
    r.type_ = ReplyType::nil;
    r.integer_ = 0;
    // (A reply nobody took, a late one, keeps its bytes: a big one goes.)
    if (r.str_.capacity() > 256)
      r.str_ = std::string();
    else
      r.str_.clear();
    if (!r.elements_.empty()) r.elements_ = std::vector<Reply>();  // (an array's elements go)
  }
};

namespace detail {

// A reply's object after its contents moved on (into the request's result,
// or to the push listener): emptied and kept for the next reply.
void Connection::recycle(std::unique_ptr<Reply>&& reply) noexcept {
  if (spare_reply_) return;  // (freed by the caller's unique_ptr)
  ReplyBuilder::reset(*reply);
  spare_reply_ = std::move(reply);
}

}  // namespace detail


namespace detail {

namespace {
template <class F>
struct SecondArg;
template <class R, class A, class B>
struct SecondArg<R (*)(A, B)> {
  using type = B;
};

// hiredis >= 1.0 adds RESP3 constructors; fill them when the struct has them.
template <class Fns>
void set_resp3_functions(Fns& f) {
  if constexpr (requires { f.createDouble; }) f.createDouble = &ReplyBuilder::create_double;
  if constexpr (requires { f.createBool; }) f.createBool = &ReplyBuilder::create_bool;
}

}  // namespace

redisReplyObjectFunctions* reply_functions() {
  static redisReplyObjectFunctions fns = [] {
    redisReplyObjectFunctions f{};
    f.createString = &ReplyBuilder::create_string;
    f.createArray = &ReplyBuilder::create_array<SecondArg<decltype(f.createArray)>::type>;
    f.createInteger = &ReplyBuilder::create_integer;
    f.createNil = &ReplyBuilder::create_nil;
    f.freeObject = &ReplyBuilder::free_object;
    set_resp3_functions(f);
    return f;
  }();
  return &fns;
}


}  // namespace detail
}  // namespace uvredis
