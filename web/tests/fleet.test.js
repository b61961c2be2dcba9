// The page's model of the fleet: positions update rides at once, drawing waits for the next
// animation frame and gets each changed ride once, and a ride driven again starts its trail over.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { Fleet, WATCH_EACH_UP_TO, isOver } from '../assets/js/fleet.js';

let frames = [];
beforeEach(() => {
  frames = [];
  globalThis.requestAnimationFrame = (callback) => frames.push(callback);
});

/** Runs the animation frames queued so far, at `now` ms. */
function animate(now) {
  const queued = frames;
  frames = [];
  for (const callback of queued) callback(now);
}

const position = (rideId, seq, extra = {}) => ({
  type: 'position', rideId, routeId: '1', seq, position: { lat: -15.8 - seq / 1000, lng: -47.9 },
  progress: seq / 10, distanceM: seq * 100, routeLengthM: 1000, speedKmh: 30, heading: 90,
  status: 'driving', timestamp: 1000 + seq, ...extra,
});

test('positions update the model at once and are drawn once per frame, each ride once', () => {
  const drawn = [];
  const fleet = new Fleet((rides) => drawn.push(rides.map((r) => r.id)));
  fleet.position(position('a', 0));
  fleet.position(position('a', 1));
  fleet.position(position('b', 0));
  assert.equal(fleet.rides.get('a').path.length, 2, 'the model is current before drawing');
  assert.equal(drawn.length, 0, 'nothing drawn before the frame');
  assert.equal(frames.length, 1, 'one frame asked for');
  animate(16);
  assert.deepEqual(drawn, [['a', 'b']]);
  assert.deepEqual(fleet.rides.get('a').position, { lat: -15.801, lng: -47.9 });
});

test('a repeated or older position is ignored; seq 0 of a known ride starts its trail over', () => {
  const fleet = new Fleet(() => {});
  for (const seq of [0, 1, 2, 1, 2]) fleet.position(position('a', seq));
  assert.equal(fleet.rides.get('a').path.length, 3);
  fleet.position(position('a', 0));
  assert.equal(fleet.rides.get('a').path.length, 1, 'driven again from its start');
});

test('a snapshot path continues with the positions after it', () => {
  const fleet = new Fleet(() => {});
  fleet.path('a', '1', [{ lat: 1, lng: 2 }, { lat: 3, lng: 4 }]);
  fleet.position(position('a', 1));
  fleet.position(position('a', 2));
  assert.deepEqual(fleet.rides.get('a').path.map(([lat]) => lat), [1, 3, position('a', 2).position.lat]);
});

test('over rides are not running; a big fleet is drawn at most ten times a second', () => {
  const drawn = [];
  const fleet = new Fleet((rides) => drawn.push(rides.length));
  for (let n = 0; n < 150; n += 1) fleet.position(position(`r${n}`, 0));
  fleet.record({ id: 'r0', routeId: '1', status: 'finished' });
  assert.ok(isOver(fleet.rides.get('r0')));
  assert.equal(fleet.running().length, 149);
  animate(1000);
  assert.deepEqual(drawn, [150]);
  fleet.position(position('r1', 1));
  animate(1050);
  assert.deepEqual(drawn, [150], 'held back: the last drawing was 50 ms ago');
  animate(1100);
  assert.deepEqual(drawn, [150, 1]);
});

test('every field of a record or a position reaches the ride; a recorded path keeps the trail', () => {
  const fleet = new Fleet(() => {});
  fleet.path('a', '1', [{ lat: 1, lng: 2 }]);
  fleet.record({ id: 'a', routeId: '1', status: 'driving', maxSpeedKmh: 42, path: [{ seq: 0, lat: 1, lng: 2 }] });
  const ride = fleet.rides.get('a');
  assert.equal(ride.maxSpeedKmh, 42);
  assert.deepEqual(ride.path, [[1, 2]], 'the trail, not the recorded points');
  fleet.position(position('a', 1, { speedKmh: 55 }));
  assert.equal(ride.speedKmh, 55);
  assert.equal(ride.timestamp, 1001);
  assert.equal(ride.id, 'a');
});

/** A ride of a `fleet` frame, as the server writes it. */
const move = (rideId, seq, lat = -15.8) => [rideId, '1', lat, -47.9, 90, 30, seq / 10, seq * 100, 1000, seq, 1000 + seq];

test('a fleet frame moves each ride it lists and says which rides to watch, check, forget and end', () => {
  const fleet = new Fleet(() => {});
  fleet.position(position('ended-meanwhile', 3));
  const first = fleet.fleetFrame({ full: true, running: 2, inView: 2, moved: [move('a', 4), move('b', 0)] });
  assert.deepEqual(fleet.rides.get('a').position, { lat: -15.8, lng: -47.9 });
  assert.equal(fleet.rides.get('a').lastSeq, 4);
  assert.equal(fleet.rides.get('a').routeLengthM, 1000);
  assert.deepEqual(first.watch, ['a', 'b'], 'a small fleet is watched ride by ride');
  assert.deepEqual(first.check, ['ended-meanwhile'], 'a full frame without it: look it up');

  const next = fleet.fleetFrame({
    full: false, running: 1, inView: 1, moved: [move('a', 5), move('b', 1)],
    over: [{ rideId: 'b', routeId: '1', status: 'finished' }],
  });
  assert.deepEqual(next.watch, [], 'watched once');
  assert.deepEqual(next.ended.map((ride) => [ride.id, ride.status]), [['b', 'finished']]);
  assert.equal(fleet.rides.get('b').path.length, 2, 'the last position before the end');
  assert.deepEqual(fleet.counts, { running: 1, inView: 1 });
  assert.equal(fleet.frames, 2);
});

test('a big fleet is not watched ride by ride; rides out of view or gone from it are forgotten', () => {
  const fleet = new Fleet(() => {});
  fleet.position(position('out-of-view', 0));
  const many = WATCH_EACH_UP_TO + 1;
  const moved = Array.from({ length: many }, (_, n) => move(`r${n}`, 0));
  const inView = (ride) => ride.id !== 'out-of-view';
  const actions = fleet.fleetFrame({ full: true, running: many, inView: many, moved }, inView);
  assert.deepEqual(actions.watch, []);
  assert.deepEqual(actions.gone, ['out-of-view']);
  const left = fleet.fleetFrame({ full: false, running: many, inView: many - 1, moved: [], left: ['r0'] });
  assert.deepEqual(left.gone, ['r0']);
});
