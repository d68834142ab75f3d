#pragma once
/// @file core.hpp
/// The core of uvredis without its recipes: Client, pipelines, transactions,
/// scripts, Subscriber, keyspace notifications, ClusterClient and the typed
/// commands, with their options, replies, errors and callback types. For a
/// program that wants the client and nothing on top of it. All objects are
/// loop-thread only unless their comment says otherwise.

#include <uvredis/callbacks.hpp>
#include <uvredis/client.hpp>
#include <uvredis/cluster.hpp>
#include <uvredis/cluster_subscriber.hpp>
#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands.hpp>
#include <uvredis/decode.hpp>
#include <uvredis/error.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/keyspace.hpp>
#include <uvredis/latency.hpp>
#include <uvredis/lease.hpp>
#include <uvredis/observe.hpp>
#include <uvredis/options.hpp>
#include <uvredis/pipeline.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>
#include <uvredis/script.hpp>
#include <uvredis/subscriber.hpp>
#include <uvredis/version.hpp>
