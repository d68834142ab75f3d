#pragma once
/// @file json_codec.hpp
/// JsonCodec for KvStore: values as JSON through nlohmann::json (Debian's
/// nlohmann-json3-dev). A type T works when nlohmann can convert it (its
/// to_json/from_json, or NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE). Only this
/// header needs nlohmann; the rest of uvredis does not. Pure functions:
/// any thread.

#include <uvredis/error.hpp>
#include <uvredis/result.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace uvredis {

struct JsonCodec {
  template <class T>
  static std::string encode(const T& v) {
    // Invalid UTF-8 in a string is replaced rather than thrown about.
    return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  template <class T>
  static Result<T> decode(std::string_view bytes) {
    // No exceptions from the parser; conversion errors are caught here.
    nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (j.is_discarded()) return Error{ErrorKind::decode, "not valid JSON"};
    try {
      return j.get<T>();
    } catch (const nlohmann::json::exception& e) {
      return Error{ErrorKind::decode, std::string("JSON does not fit the type: ") + e.what()};
    }
  }
};

}  // namespace uvredis
