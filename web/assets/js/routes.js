// The route catalogue: the routes panel with each route's length and a Start button, the routes
// drawn faintly on the map, and each route's points for the rides' planned lines.

import * as api from './api.js';
import { distance } from './format.js';

export class Routes {
  /** `renderer` draws the route lines; `onStart(route)` when a Start button is pressed. */
  constructor(map, renderer, onStart) {
    Object.assign(this, { map, renderer, onStart });
    this.byId = new Map();
    this.points = new Map(); // routeId -> Promise of [[lat, lng], …]
    this.lines = L.layerGroup().addTo(map);
  }

  title(routeId) {
    return this.byId.get(routeId)?.title ?? `route ${routeId}`;
  }

  /** The route's points (fetched once; also for routes created after the page loaded). */
  pointsOf(routeId) {
    if (!this.points.has(routeId)) {
      const points = api.route(routeId).then((route) => route.points.map((p) => [p.lat, p.lng]));
      points.catch(() => this.points.delete(routeId)); // a later call tries again
      this.points.set(routeId, points);
    }
    return this.points.get(routeId);
  }

  async load() {
    const list = await api.allRoutes();
    const ul = document.getElementById('routes');
    ul.replaceChildren(...list.map((route) => this.item(route)));
    for (const route of list) this.byId.set(route.id, route);
    const lines = await Promise.all(list.map(async (route) => {
      const line = L.polyline(await this.pointsOf(route.id), {
        color: '#56606f', weight: 3, opacity: 0.45, interactive: false, renderer: this.renderer,
      });
      this.lines.addLayer(line);
      return line;
    }));
    const bounds = L.latLngBounds([]);
    for (const line of lines) bounds.extend(line.getBounds());
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [30, 30] });
  }

  item(route) {
    const li = document.createElement('li');
    li.className = 'route';
    li.innerHTML = '<span><strong></strong><small></small></span><button type="button" class="operator-only">Start</button>';
    li.querySelector('strong').textContent = route.title;
    li.querySelector('small').textContent = `${distance(route.lengthM)} · ${route.pointCount} points`;
    const button = li.querySelector('button');
    button.setAttribute('aria-label', `Start a ride on ${route.title}`);
    button.addEventListener('click', () => this.onStart(route));
    return li;
  }
}
