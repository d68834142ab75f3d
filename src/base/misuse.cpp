// What uvredis does on programming errors it cannot turn into an Error:
// say what went wrong on stderr, then end the program. stdio rather than the
// logger: the message must get out even when no logger was configured, and
// the process is about to die.

#include <uvredis/detail/function.hpp>
#include <uvredis/result.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace uvredis::detail {

void value_of_error_result(const Error& e) noexcept {
  // uvredis never puts a password into an Error, so the text is safe to print.
  const std::string what = e.to_string();
  std::fprintf(stderr,
               "uvredis: read the value of a Result that holds an error: %s\n"
               "uvredis: test the Result first (if (r) ... else r.error()); aborting\n",
               what.c_str());
  std::fflush(stderr);
  std::abort();
}

void error_of_ok_result() noexcept {
  std::fputs("uvredis: asked a successful Result for its error(); test the Result first; aborting\n", stderr);
  std::fflush(stderr);
  std::abort();
}

void callback_threw() noexcept {
  // Called from inside a catch handler: rethrow to learn what was thrown.
  try {
    throw;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uvredis: a callback threw an exception: %s\n", e.what());
  } catch (...) {
    std::fputs("uvredis: a callback threw an exception that is not a std::exception\n", stderr);
  }
  std::fputs("uvredis: callbacks must not throw (the library cannot tell what state the caller meant to leave "
             "behind); calling std::terminate\n",
             stderr);
  std::fflush(stderr);
  std::terminate();
}

}  // namespace uvredis::detail
