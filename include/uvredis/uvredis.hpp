#pragma once
/// @file uvredis.hpp
/// The umbrella header: everything public in uvredis. All objects are
/// loop-thread only unless their comment says otherwise.

#include <uvredis/cache.hpp>
#include <uvredis/callbacks.hpp>
#include <uvredis/client.hpp>
#include <uvredis/client_cache.hpp>
#include <uvredis/cluster.hpp>
#include <uvredis/cluster_client_cache.hpp>
#include <uvredis/cluster_subscriber.hpp>
#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands.hpp>
#include <uvredis/consumer_group.hpp>
#include <uvredis/decode.hpp>
#include <uvredis/error.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/keyspace.hpp>
#include <uvredis/kv_store.hpp>
#include <uvredis/latency.hpp>
#include <uvredis/lease.hpp>
#include <uvredis/lock.hpp>
#include <uvredis/observe.hpp>
#include <uvredis/options.hpp>
#include <uvredis/pipeline.hpp>
#include <uvredis/presence.hpp>
#include <uvredis/rate_limiter.hpp>
#include <uvredis/registry.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>
#include <uvredis/resumable_channel.hpp>
#include <uvredis/script.hpp>
#include <uvredis/script_recipes.hpp>
#include <uvredis/session_store.hpp>
#include <uvredis/subscriber.hpp>
#include <uvredis/version.hpp>
#include <uvredis/window_limiter.hpp>
