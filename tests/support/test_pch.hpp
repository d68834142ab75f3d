// What nearly every test file includes, compiled once per build into a
// precompiled header (tests/support/make_pch.py) that the suites get with
// -include: parsing GoogleTest and the whole public API once instead of in
// each of the ~55 test files takes minutes off the test command. A test that
// includes these itself is unaffected (the include guards make it a no-op).

#include <gtest/gtest.h>
#include <uv.h>

#include <uvredis/uvredis.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
