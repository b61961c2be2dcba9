// The History tab: finished (or cancelled) rides from the API, newest first, a page at a time,
// each with a Replay button.

import * as api from './api.js';
import { dateTime, distance, duration } from './format.js';

export class History {
  constructor(routes, onReplay) {
    Object.assign(this, { routes, onReplay });
    this.ul = document.getElementById('history-list');
    this.status = document.getElementById('history-status');
    this.moreButton = document.getElementById('history-more');
    this.cursor = '';
    this.status.addEventListener('change', () => this.reload());
    this.moreButton.addEventListener('click', () => this.more());
  }

  async reload() {
    this.cursor = '';
    this.ul.replaceChildren();
    await this.more();
  }

  async more() {
    const page = await api.rides(this.status.value, this.cursor);
    this.ul.append(...page.items.map((ride) => this.item(ride)));
    this.cursor = page.nextCursor ?? '';
    this.moreButton.hidden = !this.cursor;
    document.getElementById('history-empty').hidden = this.ul.children.length > 0;
  }

  item(ride) {
    const li = document.createElement('li');
    li.className = 'history-item';
    li.dataset.rideId = ride.id;
    li.innerHTML = '<span><strong></strong><small></small></span><button type="button">Replay</button>';
    const title = this.routes.title(ride.routeId);
    li.querySelector('strong').textContent = title;
    const when = ride.startedAt ?? ride.requestedAt;
    const summary = ride.summary;
    li.querySelector('small').textContent = [
      when && dateTime(when), summary && distance(summary.distanceM), summary && duration(summary.durationS),
    ].filter(Boolean).join(' · ');
    const button = li.querySelector('button');
    button.setAttribute('aria-label', `Replay the ride on ${title}${when ? ` of ${dateTime(when)}` : ''}`);
    button.addEventListener('click', () => this.onReplay(ride.id));
    return li;
  }
}
