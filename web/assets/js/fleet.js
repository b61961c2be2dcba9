// Every ride the page shows: its latest state and the path it has driven. Frames update the model
// at once; drawing happens at most once per animation frame for the rides that changed, so a
// thousand rides reporting twice a second cost one batch of DOM and map work per frame, not 2,000.

import { colorFor } from './format.js';

const BUSY_FLEET = 100;
/** Up to this many rides running, the page watches each one: its whole path and every position. */
export const WATCH_EACH_UP_TO = 100;
const BUSY_DRAW_GAP_MS = 100;
const OVER = new Set(['finished', 'cancelled']);
export const isOver = (ride) => OVER.has(ride.status);

/** A ride of a `fleet` frame (an array, see the README) as the fields of a `position` frame. */
export function fromMove(move) {
  const [rideId, routeId, lat, lng, heading, speedKmh, progress, distanceM, routeLengthM, seq, timestamp] = move;
  return {
    rideId, routeId, position: { lat, lng }, heading, speedKmh, progress, distanceM, routeLengthM, seq,
    timestamp, status: 'driving',
  };
}

export class Fleet {
  /** `draw(rides)` gets the rides that changed since the last animation frame. */
  /** `viewportAbove`: rides running above which the page watches only its view (then no ride
   * is watched one by one, whatever the count). */
  constructor(draw, viewportAbove = Infinity) {
    this.rides = new Map();
    this.watchEachUpTo = Math.min(WATCH_EACH_UP_TO, viewportAbove);
    this.draw = draw;
    this.dirty = new Set();
    this.scheduled = false;
    this.drawnAt = 0;
    this.added = 0;
    /** Rides watched one by one on this connection. */
    this.watched = new Set();
    /** The latest `fleet` frame's counts, and how many frames came. */
    this.counts = { running: 0, inView: 0 };
    this.frames = 0;
  }

  /** The ride with this id, created (with the next colour) if the page has not seen it yet. */
  ride(id, routeId) {
    let ride = this.rides.get(id);
    if (!ride) {
      ride = {
        id, routeId, color: colorFor(this.added++), status: 'starting', position: null,
        progress: 0, distanceM: 0, routeLengthM: 0, speedKmh: 0, heading: 0,
        path: [], lastSeq: -1, summary: null,
      };
      this.rides.set(id, ride);
      this.changed(ride);
    }
    return ride;
  }

  /** A ride's record from the API or a snapshot frame: every field of it but its recorded path
   * (points with their times; [`path`] keeps the trail). No list of fields: the API's are shown. */
  record(record) {
    const ride = this.ride(record.id, record.routeId);
    const { path, ...fields } = record;
    Object.assign(ride, fields);
    this.changed(ride);
    return ride;
  }

  /** The path so far, from a `watching` frame or a ride fetched with its path. */
  path(id, routeId, points) {
    const ride = this.ride(id, routeId);
    ride.path = points.map((p) => [p.lat, p.lng]);
    ride.lastSeq = ride.path.length - 1;
    this.changed(ride);
  }

  /** A `position` frame. A seq of 0 for a ride already shown: it is driven again from its start. */
  position(frame) {
    const ride = this.ride(frame.rideId, frame.routeId);
    if (frame.seq === 0) ride.path = [];
    else if (frame.seq <= ride.lastSeq) return;
    ride.lastSeq = frame.seq;
    ride.path.push([frame.position.lat, frame.position.lng]);
    const { type, rideId, seq, ...fields } = frame;
    Object.assign(ride, fields);
    this.changed(ride);
  }

  /** A `fleet` frame. Returns what the page must do besides drawing: `watch` rides one by one (a
   * small fleet), forget rides `gone` from view, `check` rides a full frame left out though in
   * view (they ended meanwhile), and the rides `ended`. `inView(ride)`: whether it is in view. */
  fleetFrame(frame, inView = () => true) {
    this.frames += 1;
    this.counts = { running: frame.running, inView: frame.inView };
    // The counts are drawn too, even when no ride moved (the view panned to an empty place).
    this.schedule();
    const moves = frame.moved.map(fromMove);
    const actions = { watch: [], gone: [...(frame.left ?? [])], check: [], ended: [] };
    if (frame.full) {
      const listed = new Set(moves.map((move) => move.rideId));
      for (const ride of this.running()) {
        if (!listed.has(ride.id)) (inView(ride) ? actions.check : actions.gone).push(ride.id);
      }
    }
    for (const move of moves) this.position(move);
    if (frame.running <= this.watchEachUpTo) {
      actions.watch = moves.map((move) => move.rideId).filter((id) => !this.watched.has(id));
      for (const id of actions.watch) this.watched.add(id);
    }
    for (const { rideId, routeId, status } of frame.over ?? []) {
      actions.ended.push(this.record({ id: rideId, routeId, status }));
    }
    return actions;
  }

  remove(id) {
    this.rides.delete(id);
    this.dirty.delete(id);
    this.watched.delete(id);
  }

  changed(ride) {
    this.dirty.add(ride.id);
    this.schedule();
  }

  /** Draws on the next animation frame: the rides changed since the last, and the counts. */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame((now) => this.flush(now));
  }

  flush(now) {
    this.scheduled = false;
    // A big fleet is drawn at most ten times a second (each ride moves twice a second): the
    // frames between are the tab's, to pan, zoom and answer clicks.
    if (this.rides.size > BUSY_FLEET && now - this.drawnAt < BUSY_DRAW_GAP_MS) {
      this.scheduled = true;
      requestAnimationFrame((later) => this.flush(later));
      return;
    }
    this.drawnAt = now;
    const rides = [...this.dirty].map((id) => this.rides.get(id)).filter(Boolean);
    this.dirty.clear();
    this.draw(rides);
  }

  running() {
    return [...this.rides.values()].filter((ride) => !isOver(ride));
  }
}
