// How the page writes numbers: distances, durations, speeds, ETAs and ride colours.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { colorFor, distance, duration, etaSeconds, speed } from '../assets/js/format.js';

test('distances read in metres below a kilometre, else in kilometres', () => {
  assert.equal(distance(0), '0 m');
  assert.equal(distance(999.4), '999 m');
  assert.equal(distance(1000), '1.00 km');
  assert.equal(distance(1874.2), '1.87 km');
});

test('durations read m:ss, and h:mm:ss from an hour on', () => {
  assert.equal(duration(0), '0:00');
  assert.equal(duration(16.4), '0:16');
  assert.equal(duration(61), '1:01');
  assert.equal(duration(3600 + 62), '1:01:02');
  assert.equal(duration(-5), '0:00', 'never negative');
});

test('speeds are whole km/h', () => {
  assert.equal(speed(29.6), '30 km/h');
});

test('the ETA is the distance left at the current speed, and none while standing', () => {
  assert.equal(etaSeconds({ routeLengthM: 1000, distanceM: 400, speedKmh: 36 }), 60);
  assert.equal(etaSeconds({ routeLengthM: 1000, distanceM: 1200, speedKmh: 36 }), 0);
  assert.equal(etaSeconds({ routeLengthM: 1000, distanceM: 0, speedKmh: 0 }), null);
});

test('neighbouring rides never share a colour', () => {
  const colours = Array.from({ length: 50 }, (_, n) => colorFor(n));
  for (let n = 1; n < colours.length; n += 1) assert.notEqual(colours[n], colours[n - 1]);
  assert.match(colours[0], /^hsl\(\d+ 70% 38%\)$/);
});
