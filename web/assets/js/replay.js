// Replays a recorded ride: its path on the map with a vehicle moving in recorded time, play/pause,
// 1×–20× speed, a scrubber (also by keyboard: arrows, Page Up/Down, Home/End) and its summary.

import * as api from './api.js';
import { distance, duration, speed } from './format.js';
import { VehicleMarker } from './vehicles.js';

const COLOR = '#1f5fbf';
const $ = (id) => document.getElementById(id);

export class Replay {
  constructor(map, routes) {
    Object.assign(this, { map, routes });
    this.section = $('replay');
    this.scrubber = $('replay-scrubber');
    this.playButton = $('replay-play');
    this.speed = $('replay-speed');
    this.layers = L.layerGroup().addTo(map);
    this.points = [];
    this.t = 0;
    this.duration = 0;
    this.playing = false;
    this.playButton.addEventListener('click', () => (this.playing ? this.pause() : this.play()));
    this.scrubber.addEventListener('input', () => this.seek(Number(this.scrubber.value)));
    $('replay-close').addEventListener('click', () => this.close());
    this.section.addEventListener('keydown', (event) => event.key === 'Escape' && this.close());
  }

  async open(rideId) {
    const ride = await api.ride(rideId);
    if (ride.path.length === 0) throw new Error('this ride has no recorded positions');
    this.close();
    this.ride = ride;
    this.points = ride.path;
    this.start = this.points[0].timestamp;
    this.duration = this.points.at(-1).timestamp - this.start;
    const all = this.points.map((p) => [p.lat, p.lng]);
    const planned = L.polyline(all, { color: COLOR, weight: 7, opacity: 0.22, interactive: false });
    this.driven = L.polyline([], { color: COLOR, weight: 4, opacity: 0.95, interactive: false });
    this.marker = new VehicleMarker(all[0], { fillColor: COLOR, radius: 13 });
    this.layers.addLayer(planned).addLayer(this.driven).addLayer(this.marker);
    this.map.fitBounds(planned.getBounds(), { padding: [40, 40] });
    $('replay-title').textContent = this.routes.title(ride.routeId);
    // A thousand steps; the last one at or past the end, so End and dragging right reach it.
    const step = Math.max(1, Math.round(this.duration / 1000));
    this.scrubber.step = String(step);
    this.scrubber.max = String(Math.ceil(this.duration / step) * step);
    this.summarize(ride);
    this.section.hidden = false;
    this.seek(0);
    this.playButton.focus();
  }

  summarize(ride) {
    const s = ride.summary ?? {
      distanceM: ride.distanceM, durationS: this.duration / 1000,
      averageSpeedKmh: 0, maxSpeedKmh: ride.maxSpeedKmh,
    };
    const rows = [
      ['Distance', distance(s.distanceM)], ['Duration', duration(s.durationS)],
      ['Average speed', speed(s.averageSpeedKmh)], ['Max speed', speed(s.maxSpeedKmh)],
    ];
    $('replay-summary').replaceChildren(...rows.flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = term;
      dd.textContent = value;
      return [dt, dd];
    }));
  }

  /** Moves the replay to `t` ms after the ride's first position. */
  seek(t) {
    this.t = Math.min(Math.max(0, t), this.duration);
    const at = this.start + this.t;
    const i = lastAtOrBefore(this.points, at);
    const a = this.points[i];
    const b = this.points[Math.min(i + 1, this.points.length - 1)];
    const f = b.timestamp > a.timestamp ? (at - a.timestamp) / (b.timestamp - a.timestamp) : 0;
    this.position = { lat: a.lat + (b.lat - a.lat) * f, lng: a.lng + (b.lng - a.lng) * f };
    const here = [this.position.lat, this.position.lng];
    this.marker.setLatLng(here).setHeading(a.heading);
    this.driven.setLatLngs([...this.points.slice(0, i + 1).map((p) => [p.lat, p.lng]), here]);
    this.scrubber.value = String(Math.round(this.t));
    this.scrubber.setAttribute('aria-valuetext', `${duration(this.t / 1000)} of ${duration(this.duration / 1000)}`);
    $('replay-clock').textContent = `${duration(this.t / 1000)} / ${duration(this.duration / 1000)}`;
  }

  play() {
    if (this.t >= this.duration) this.seek(0);
    this.playing = true;
    this.playButton.textContent = 'Pause';
    let last = performance.now();
    const tick = (now) => {
      if (!this.playing) return;
      this.seek(this.t + (now - last) * Number(this.speed.value));
      last = now;
      if (this.t >= this.duration) this.pause();
      else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  pause() {
    this.playing = false;
    this.playButton.textContent = 'Play';
  }

  close() {
    this.pause();
    this.layers.clearLayers();
    this.section.hidden = true;
  }
}

/** The index of the last point recorded at or before `timestamp` (points are in time order). */
function lastAtOrBefore(points, timestamp) {
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (points[mid].timestamp <= timestamp) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
