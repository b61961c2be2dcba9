"""Reads Rota's MongoDB documents with pymongo, an independent client, and checks their shape:
what someone opening the database in mongosh or Compass would see.

Usage: mongo_shape.py MONGODB_URI RIDE_ID ROUTE_ID (a finished ride on that route)."""

import datetime
import sys

import pymongo

uri, ride_id, route_id = sys.argv[1:4]
db = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000).get_default_database()


def check(condition, what):
    if not condition:
        sys.exit(f"shape check failed: {what}")


route = db.routes.find_one({"_id": route_id})
check(route is not None, f"route {route_id} in `routes`")
check(route["title"] == "Created" and route["titleKey"] == "created", f"title and titleKey: {route}")
check(all(set(p) == {"lat", "lng"} for p in route["points"]), "points are {lat, lng}")
check(route["startPosition"] == route["points"][0], "startPosition is the first point")
check(route["endPosition"] == route["points"][-1], "endPosition is the last point")
check(isinstance(route["lengthM"], float) and route["lengthM"] > 0, "lengthM in metres")
for field in ("createdAt", "updatedAt"):
    check(isinstance(route[field], datetime.datetime), f"routes.{field} is a date")
check(db.routes.count_documents({"_id": {"$in": ["1", "2", "3"]}}) == 3, "the samples are seeded")
indexes = db.routes.index_information()
check(indexes.get("title_unique", {}).get("unique") is True, f"unique title index: {indexes}")

ride = db.rides.find_one({"_id": ride_id})
check(ride is not None, f"ride {ride_id} in `rides`")
check(ride["routeId"] == route_id and ride["status"] == "finished", f"ride fields: {ride}")
for field in ("requestedAt", "startedAt", "updatedAt", "finishedAt"):
    check(isinstance(ride[field], datetime.datetime), f"rides.{field} is a date")
check(ride["finishedAt"] >= ride["startedAt"], "finishedAt after startedAt")
check(set(ride["position"]) == {"lat", "lng"}, "position is {lat, lng}")
summary = ride["summary"]
check(set(summary) == {"distanceM", "durationS", "averageSpeedKmh", "maxSpeedKmh"}, f"summary: {summary}")
rides_indexes = {tuple(i["key"]) for i in db.rides.index_information().values()}
check((("routeId", 1), ("_id", -1)) in rides_indexes, f"rides by route: {rides_indexes}")
check((("status", 1), ("_id", -1)) in rides_indexes, f"rides by status: {rides_indexes}")

positions = list(db.ride_positions.find({"rideId": ride_id}).sort("seq", 1))
check(len(positions) == ride["positions"], f"{len(positions)} position documents for {ride['positions']} positions")
check([p["seq"] for p in positions] == list(range(len(positions))), "seqs 0..n")
first = positions[0]
check(first["_id"] == f"{ride_id}:0", f"position ids are rideId:seq, got {first['_id']}")
check(isinstance(first["timestamp"], datetime.datetime), "positions.timestamp is a date")
check({"lat", "lng", "speedKmh", "heading", "distanceM", "progress"} <= set(first), f"position fields: {first}")
print(f"shape ok: route {route_id}, ride {ride_id} with {len(positions)} positions")
