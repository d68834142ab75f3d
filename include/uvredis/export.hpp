#pragma once
/// @file export.hpp
/// UVREDIS_API marks what the shared library exports: the public classes and
/// functions of include/uvredis. The library is built with hidden visibility,
/// so everything else (uvredis internals, and the hiredis, spdlog and fmt code
/// it uses) stays out of its dynamic symbol table. Static builds ignore it.

#if defined(__GNUC__) || defined(__clang__)
#define UVREDIS_API __attribute__((visibility("default")))
#else
#define UVREDIS_API
#endif
