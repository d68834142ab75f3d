#pragma once
/// @file commands/geo.hpp
/// GEO commands of the command table (GEOADD, GEOSEARCH, GEOSEARCHSTORE,
/// GEODIST, GEOPOS, GEOHASH). A mixin of Commands<Sink>: every method exists
/// on Client, ClusterClient, Lease, Pipeline and Transaction alike.
/// Loop-thread only; arguments are copied before the call returns; the
/// callback runs exactly once, on a later loop turn.
///
/// Positions are GeoPoint{longitude, latitude} in degrees (Redis' order).
/// Checked before sending (a usage error, nothing sent): a longitude outside
/// -180..180, a latitude outside -85.05112878..85.05112878 (or NaN), an
/// empty member list, a negative or non-finite radius or box, a COUNT that
/// is not positive, ANY without COUNT, WITH* flags on GEOSEARCHSTORE.

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

template <class Sink>
class GeoCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;

 public:
  /// GEOADD key [NX|XX] [CH] longitude latitude member ...: how many members
  /// were added (with `opts.changed`: added or moved).
  Ret<long long> geoadd(std::string_view key, const std::vector<GeoPlace>& places, const GeoAddOptions& opts,
                        Callback<long long> cb = {}) {
    detail::Args a("GEOADD", 4 + 3 * places.size());
    a.add(key);
    if (opts.condition == WriteCondition::nx) a.add("NX");
    if (opts.condition == WriteCondition::xx) a.add("XX");
    if (opts.changed) a.add("CH");
    detail::add_geo_places(a, places);
    return run(a, &decode::integer, std::move(cb));
  }
  Ret<long long> geoadd(std::string_view key, const std::vector<GeoPlace>& places, Callback<long long> cb = {}) {
    return geoadd(key, places, GeoAddOptions{}, std::move(cb));
  }

  /// GEOSEARCH key FROMMEMBER|FROMLONLAT BYRADIUS|BYBOX unit [ASC|DESC]
  /// [COUNT n [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]: the members in the
  /// area, in the order asked (unsorted by default). Each GeoMatch carries
  /// what the query's with_* flags asked for. A FROMMEMBER member that does
  /// not exist is a server error.
  Ret<std::vector<GeoMatch>> geosearch(std::string_view key, const GeoQuery& query,
                                       Callback<std::vector<GeoMatch>> cb = {}) {
    detail::Args a("GEOSEARCH", 16);
    a.add(key);
    detail::add_geo_query(a, query, false);
    return run(a, &decode::geo_matches, std::move(cb));
  }

  /// GEOSEARCHSTORE dest key ... [STOREDIST]: stores the matches in `dest`
  /// (a sorted set scored by geohash, or with `store_dist` by distance in
  /// the query's unit) and returns how many there are. The query's with_*
  /// flags are a usage error here.
  Ret<long long> geosearchstore(std::string_view dest, std::string_view key, const GeoQuery& query,
                                bool store_dist, Callback<long long> cb = {}) {
    detail::Args a("GEOSEARCHSTORE", 16);
    a.add(dest).add(key);
    detail::add_geo_query(a, query, true);
    if (store_dist) a.add("STOREDIST");
    return run(a, &decode::integer, std::move(cb));
  }
  Ret<long long> geosearchstore(std::string_view dest, std::string_view key, const GeoQuery& query,
                                Callback<long long> cb = {}) {
    return geosearchstore(dest, key, query, false, std::move(cb));
  }

  /// GEODIST key member1 member2 [unit]: the distance (metres by default);
  /// empty when either member is missing.
  Ret<std::optional<double>> geodist(std::string_view key, std::string_view member1, std::string_view member2,
                                     GeoUnit unit, Callback<std::optional<double>> cb = {}) {
    detail::Args a("GEODIST", 5);
    a.add(key).add(member1).add(member2);
    detail::add_geo_unit(a, unit);
    return run(a, &decode::optional_floating, std::move(cb));
  }
  Ret<std::optional<double>> geodist(std::string_view key, std::string_view member1, std::string_view member2,
                                     Callback<std::optional<double>> cb = {}) {
    return geodist(key, member1, member2, GeoUnit::m, std::move(cb));
  }

  /// GEOPOS key member ...: each member's position (as stored: a geohash
  /// cell, so off by up to a few centimetres), empty for a missing member.
  Ret<std::vector<std::optional<GeoPoint>>> geopos(std::string_view key, const StringList& members,
                                                   Callback<std::vector<std::optional<GeoPoint>>> cb = {}) {
    detail::Args a("GEOPOS", 2 + members.size());
    a.add(key).add_all(members, "members");
    return run(a, &decode::geo_positions, std::move(cb));
  }

  /// GEOHASH key member ...: each member's 11-character geohash, empty for a
  /// missing member.
  Ret<std::vector<std::optional<std::string>>> geohash(std::string_view key, const StringList& members,
                                                       Callback<std::vector<std::optional<std::string>>> cb = {}) {
    detail::Args a("GEOHASH", 2 + members.size());
    a.add(key).add_all(members, "members");
    return run(a, &decode::optional_string_list, std::move(cb));
  }

 private:
  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
