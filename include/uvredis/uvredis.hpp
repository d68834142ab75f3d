#pragma once
/// @file uvredis.hpp
/// The umbrella header: everything public in uvredis. All objects are
/// loop-thread only unless their comment says otherwise.

#include <uvredis/client.hpp>
#include <uvredis/cluster.hpp>
#include <uvredis/cluster_subscriber.hpp>
#include <uvredis/commands.hpp>
#include <uvredis/decode.hpp>
#include <uvredis/error.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/lease.hpp>
#include <uvredis/options.hpp>
#include <uvredis/pipeline.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>
#include <uvredis/subscriber.hpp>
