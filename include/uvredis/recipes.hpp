#pragma once
/// @file recipes.hpp
/// The recipes written on the core (see core.hpp): locks, rate limiters,
/// caches (plain and tracked), key-value and session stores, presence,
/// registry, script recipes, consumer groups and resumable channels. Each is
/// also available on its own header. All objects are loop-thread only unless
/// their comment says otherwise.

#include <uvredis/core.hpp>
#include <uvredis/cache.hpp>
#include <uvredis/client_cache.hpp>
#include <uvredis/cluster_client_cache.hpp>
#include <uvredis/consumer_group.hpp>
#include <uvredis/kv_store.hpp>
#include <uvredis/lock.hpp>
#include <uvredis/presence.hpp>
#include <uvredis/rate_limiter.hpp>
#include <uvredis/registry.hpp>
#include <uvredis/resumable_channel.hpp>
#include <uvredis/script_recipes.hpp>
#include <uvredis/session_store.hpp>
#include <uvredis/window_limiter.hpp>
