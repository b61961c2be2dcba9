// A ride on the map: a vehicle marker turned to its heading, a trail that fades with age, and its
// planned route drawn faintly in the ride's colour.

import { isOver } from './fleet.js';

/** The trail's last positions, newest first, in chunks of fading opacity. Older ones are not drawn. */
const TRAIL = [0.95, 0.7, 0.45, 0.22];
const TRAIL_CHUNK = 25;
/** Planned lines drawn at once; beyond this (a busy fleet) only the selected ride shows its line. */
const PLANNED_LIMIT = 50;

/** A vehicle marker's icon: an arrow in `color`, turned by setting the inner element's transform. */
export function vehicleIcon(color, className = '') {
  return L.divIcon({
    className, iconSize: [26, 26],
    html: `<div class="vehicle" style="--color:${color}"><svg viewBox="-13 -13 26 26" aria-hidden="true">`
      + '<path d="M0-11 8.5 10 0 5.5-8.5 10z"/></svg></div>',
  });
}

export class Vehicles {
  constructor(map, routes, onSelect) {
    Object.assign(this, { map, routes, onSelect });
    this.layers = new Map(); // rideId -> { ride, marker, trail: [polyline], planned }
    this.plannedShown = 0;
    this.selected = null;
  }

  draw(ride) {
    const layers = this.layers.get(ride.id) ?? this.create(ride);
    if (ride.position) {
      const at = [ride.position.lat, ride.position.lng];
      if (!layers.marker) layers.marker = this.marker(ride, at);
      layers.marker.setLatLng(at);
      const el = layers.marker.getElement()?.firstElementChild;
      if (el) {
        el.style.transform = `rotate(${ride.heading}deg)`;
        el.classList.toggle('done', isOver(ride));
        el.classList.toggle('selected', ride.id === this.selected);
      }
    }
    const n = ride.path.length;
    layers.trail.forEach((line, i) => {
      const end = n - i * TRAIL_CHUNK;
      line.setLatLngs(end > 1 ? ride.path.slice(Math.max(0, end - TRAIL_CHUNK - 1), end) : []);
    });
  }

  create(ride) {
    const trail = TRAIL.map((opacity) => L.polyline([], {
      color: ride.color, weight: 4, opacity, interactive: false, className: 'trail',
    }).addTo(this.map));
    const layers = { ride, marker: null, trail, planned: null };
    this.layers.set(ride.id, layers);
    if (this.plannedShown < PLANNED_LIMIT) this.plan(ride, layers);
    return layers;
  }

  marker(ride, at) {
    const marker = L.marker(at, { icon: vehicleIcon(ride.color), keyboard: false, title: this.routes.title(ride.routeId) }).addTo(this.map);
    marker.on('click', () => this.onSelect(ride.id));
    return marker;
  }

  async plan(ride, layers) {
    this.plannedShown += 1;
    layers.planned = L.polyline([], {
      color: ride.color, weight: 7, opacity: 0.2, interactive: false, className: 'planned',
    }).addTo(this.map);
    layers.planned.setLatLngs(await this.routes.pointsOf(ride.routeId).catch(() => []));
  }

  select(rideId) {
    const previous = this.selected;
    this.selected = rideId;
    for (const id of [previous, rideId]) {
      const layers = this.layers.get(id);
      layers?.marker?.getElement()?.firstElementChild.classList.toggle('selected', id === rideId);
      layers?.planned?.setStyle({ opacity: id === rideId ? 0.45 : 0.2 });
    }
    const layers = this.layers.get(rideId);
    if (layers && !layers.planned) this.plan(layers.ride, layers);
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
