#pragma once
/// @file uvredis.hpp
/// The umbrella header: everything public in uvredis, that is the core
/// (core.hpp) and the recipes (recipes.hpp). uvredis-ws has its own header
/// (ws_fanout.hpp) and library. All objects are loop-thread only unless their
/// comment says otherwise.

#include <uvredis/core.hpp>
#include <uvredis/recipes.hpp>
