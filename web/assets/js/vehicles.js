// A ride on the map: a vehicle arrow turned to its heading, a trail that fades with age, and its
// planned route drawn faintly in the ride's colour. Everything is drawn on the map's canvas: a
// thousand DOM markers moving twice a second cost the tab most of its frames.

import { isOver } from './fleet.js';

/** The trail's last positions, newest first, in chunks of fading opacity. Older ones are not drawn. */
const TRAIL = [0.95, 0.7, 0.45, 0.22];
const TRAIL_CHUNK = 25;
/** Planned lines drawn at once; beyond this (a busy fleet) only the selected ride shows its line. */
const PLANNED_LIMIT = 50;

/** A canvas arrow at a point, pointing along `heading` (degrees clockwise from north). */
export const VehicleMarker = L.CircleMarker.extend({
  options: { radius: 11, heading: 0, weight: 2, color: '#fff', fillOpacity: 1 },

  setHeading(heading) {
    this.options.heading = heading;
    return this.redraw();
  },

  _updatePath() {
    const renderer = this._renderer;
    if (!renderer._drawing || this._empty()) return;
    const ctx = renderer._ctx;
    const s = this._radius;
    ctx.save();
    ctx.translate(this._point.x, this._point.y);
    ctx.rotate((this.options.heading * Math.PI) / 180);
    ctx.beginPath();
    ctx.moveTo(0, -s);
    ctx.lineTo(0.78 * s, 0.9 * s);
    ctx.lineTo(0, 0.5 * s);
    ctx.lineTo(-0.78 * s, 0.9 * s);
    ctx.closePath();
    ctx.restore();
    renderer._fillStroke(ctx, this);
  },
});

/** A route title as a tooltip: an element, since Leaflet would parse a string as HTML. */
function text(title) {
  const span = document.createElement('span');
  span.textContent = title;
  return span;
}

export class Vehicles {
  /** `still` draws the planned lines (they do not move); `onSelect(rideId)` on a vehicle's click. */
  constructor(map, still, routes, onSelect) {
    Object.assign(this, { map, still, routes, onSelect });
    this.layers = new Map(); // rideId -> { ride, marker, trail: [polyline], planned }
    this.plannedShown = 0;
    this.selected = null;
  }

  draw(ride) {
    const layers = this.layers.get(ride.id) ?? this.create(ride);
    if (ride.position) {
      const at = [ride.position.lat, ride.position.lng];
      if (!layers.marker) layers.marker = this.marker(ride, at);
      layers.marker.setLatLng(at).setHeading(ride.heading);
      this.style(ride.id, layers);
    }
    const n = ride.path.length;
    layers.trail.forEach((line, i) => {
      const end = n - i * TRAIL_CHUNK;
      line.setLatLngs(end > 1 ? ride.path.slice(Math.max(0, end - TRAIL_CHUNK - 1), end) : []);
    });
  }

  create(ride) {
    const trail = TRAIL.map((opacity) => L.polyline([], {
      color: ride.color, weight: 4, opacity, interactive: false,
    }).addTo(this.map));
    const layers = { ride, marker: null, trail, planned: null };
    this.layers.set(ride.id, layers);
    if (this.plannedShown < PLANNED_LIMIT) this.plan(layers);
    return layers;
  }

  marker(ride, at) {
    const marker = new VehicleMarker(at, { fillColor: ride.color }).addTo(this.map);
    marker.bindTooltip(() => text(this.routes.title(ride.routeId)));
    marker.on('click', () => this.onSelect(ride.id));
    return marker;
  }

  /** Over: faded. Selected: outlined dark and drawn above the others. */
  style(rideId, layers) {
    const selected = rideId === this.selected;
    layers.marker.setStyle({
      fillOpacity: isOver(layers.ride) ? 0.5 : 1, color: selected ? '#1d2330' : '#fff', weight: selected ? 3 : 2,
    });
    if (selected) layers.marker.bringToFront();
    layers.planned?.setStyle({ opacity: selected ? 0.45 : 0.2 });
  }

  async plan(layers) {
    this.plannedShown += 1;
    layers.planned = L.polyline([], {
      color: layers.ride.color, weight: 7, opacity: 0.2, interactive: false, renderer: this.still,
    }).addTo(this.map);
    layers.planned.setLatLngs(await this.routes.pointsOf(layers.ride.routeId).catch(() => []));
  }

  select(rideId) {
    const previous = this.selected;
    this.selected = rideId;
    const layers = this.layers.get(rideId);
    if (layers && !layers.planned) this.plan(layers);
    for (const id of [previous, rideId]) {
      const those = this.layers.get(id);
      if (those?.marker) this.style(id, those);
    }
    if (layers?.marker) this.map.panTo(layers.marker.getLatLng());
  }

  remove(rideId) {
    const layers = this.layers.get(rideId);
    if (!layers) return;
    layers.marker?.remove();
    layers.trail.forEach((line) => line.remove());
    if (layers.planned) {
      layers.planned.remove();
      this.plannedShown -= 1;
    }
    this.layers.delete(rideId);
  }
}
