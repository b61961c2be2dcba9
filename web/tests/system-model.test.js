// What the System page works out from an `/api/system` answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LIVE_READER, ago, findRide, offsetText, owners, rate, sparkline, topology } from '../assets/js/system-model.js';

const system = {
  topics: [
    { name: 'route.new-direction', writtenBy: 'api', messagesPerSecond: 0.5, rides: [] },
    {
      name: 'route.new-position', writtenBy: 'simulator', messagesPerSecond: 120.4,
      rides: [{ partition: 1, count: 1, listed: [{ rideId: 'r1', partition: 1, offset: 41 }] }],
    },
    { name: 'my-topic', writtenBy: null, messagesPerSecond: null, rides: [] },
  ],
  groups: [
    { name: 'rota-history', commitsPerSecond: null, offsets: [{ topic: 'route.new-position', partition: 0 }, { topic: 'route.new-position', partition: 1 }] },
    { name: 'simulator', commitsPerSecond: 0.5, offsets: [{ topic: 'route.new-direction', partition: 0 }] },
    { name: 'idle', commitsPerSecond: null, offsets: [] },
  ],
  liveReader: { topic: 'route.new-position', positionsPerSecond: 119 },
};

test('the topology links each writer to its topic and each topic to the groups reading it', () => {
  const { producers, topics, consumers, edges } = topology(system);
  assert.deepEqual(producers, ['api', 'simulator']);
  assert.deepEqual(topics, ['route.new-direction', 'route.new-position', 'my-topic']);
  assert.deepEqual(consumers, ['group simulator', 'group rota-history', LIVE_READER], 'in the order of the topics they read; a group that reads nothing is left out');
  assert.deepEqual(edges, [
    { from: 'api', to: 'route.new-direction', label: '0.5/s' },
    { from: 'simulator', to: 'route.new-position', label: '120/s' },
    { from: 'route.new-direction', to: 'group simulator', label: '0.5/s committed' },
    { from: 'route.new-position', to: 'group rota-history', label: '… committed' },
    { from: 'route.new-position', to: LIVE_READER, label: '119/s' },
  ]);
});

test('values the broker does not report read as such, never as zero', () => {
  assert.equal(offsetText(null), 'no commit');
  assert.equal(offsetText(0), '0');
  assert.equal(rate(null), '…');
  assert.equal(rate(0), '0.0/s');
  assert.equal(ago(null, 10_000), 'never seen');
  assert.equal(ago(4_000, 10_000), '6 s ago');
  assert.equal(ago(0 + 1, 600_001), '10 min ago');
});

test('a lag sparkline spans the points and breaks where lag was unknown', () => {
  const points = [{ at: 0, lag: 0 }, { at: 1, lag: 10 }, { at: 2, lag: null }, { at: 3, lag: 5 }];
  assert.equal(sparkline(points, 30, 10), 'M0.0,10.0 L10.0,0.0 M30.0,5.0');
  assert.equal(sparkline([{ at: 0, lag: null }], 30, 10), '', 'nothing to draw');
});

test('owners come from the broker, else from this process’s own members', () => {
  const reported = {
    assignmentsReported: true,
    members: [{ id: 'm-1', clientId: 'rota', assignment: [{ topic: 't', partition: 0 }] }],
    localMembers: [{ assignment: [{ topic: 't', partition: 1 }] }],
  };
  assert.deepEqual([...owners(reported)], [['t/0', 'rota']]);
  const unreported = { ...reported, assignmentsReported: false, members: [{ id: 'm-1', clientId: 'rota', assignment: null }] };
  assert.deepEqual([...owners(unreported)], [['t/1', 'this process']]);
});

test('a ride is found on the partition its key landed on', () => {
  assert.deepEqual(findRide(system, 'r1'), { rideId: 'r1', partition: 1, offset: 41 });
  assert.equal(findRide(system, 'nope'), null);
});
