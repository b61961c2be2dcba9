// The Live tab: one row per ride on the map with its colour, progress bar, ETA and an action
// (cancel while it drives, replay once it is over). A big fleet gets rows for its first
// LISTED_MAX rides only (thousands of rows would be most of the page's work), and a line saying
// how many more the map shows; the selected ride always has its row.

import { isOver } from './fleet.js';
import { distance, duration, etaSeconds } from './format.js';

/** Rows at most, besides the selected ride's. */
const LISTED_MAX = 200;

export class RideList {
  /** `actions`: { select(rideId), cancel(rideId), replay(rideId) }. */
  constructor(routes, actions) {
    Object.assign(this, { routes, actions });
    this.ul = document.getElementById('rides');
    this.more = document.getElementById('rides-more');
    this.items = new Map();
    this.unlisted = new Set();
    this.selected = null;
  }

  draw(ride) {
    let li = this.items.get(ride.id);
    if (!li) {
      if (this.items.size >= LISTED_MAX && ride.id !== this.selected) {
        this.unlist(ride.id, true);
        return;
      }
      this.unlist(ride.id, false);
      li = this.create(ride);
    }
    const percent = Math.round(ride.progress * 100);
    li.querySelector('small').textContent = describe(ride, percent);
    const bar = li.querySelector('.bar');
    bar.setAttribute('aria-valuenow', percent);
    bar.firstElementChild.style.transform = `scaleX(${ride.progress})`;
    const over = isOver(ride);
    if (li.dataset.over !== String(over)) {
      li.dataset.over = over;
      const button = li.querySelector('.actions button');
      button.textContent = over ? 'Replay' : 'Cancel';
      button.classList.toggle('secondary', !over);
      button.classList.toggle('operator-only', !over); // replaying is reading; cancelling is not
      button.setAttribute('aria-label', `${over ? 'Replay' : 'Cancel'} the ride on ${this.routes.title(ride.routeId)}`);
    }
  }

  create(ride) {
    const li = document.createElement('li');
    li.className = ride.id === this.selected ? 'ride selected' : 'ride';
    li.dataset.rideId = ride.id;
    li.innerHTML = `<span class="swatch"></span><button type="button" class="ride-title"></button>
      <span class="actions"><a class="kafka">Kafka</a> <button type="button"></button></span>
      <small></small><div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"><span></span></div>`;
    const title = this.routes.title(ride.routeId);
    li.querySelector('.swatch').style.background = ride.color;
    li.querySelector('.bar span').style.background = ride.color;
    li.querySelector('.bar').setAttribute('aria-label', `Progress of the ride on ${title}`);
    const kafka = li.querySelector('.kafka');
    kafka.href = `/system?ride=${encodeURIComponent(ride.id)}`;
    kafka.title = 'Its partition, offset and records on the System page';
    const name = li.querySelector('.ride-title');
    name.textContent = title;
    name.setAttribute('aria-label', `Show the ride on ${title} on the map`);
    name.addEventListener('click', () => this.actions.select(ride.id));
    li.querySelector('.actions button').addEventListener('click', () => {
      if (isOver(ride)) this.actions.replay(ride.id);
      else this.actions.cancel(ride.id);
    });
    this.items.set(ride.id, li);
    this.ul.prepend(li);
    return li;
  }

  /** Marks `rideId` selected (null: none); an unlisted ride gets its row at its next draw. */
  select(rideId) {
    this.selected = rideId;
    for (const [id, li] of this.items) li.classList.toggle('selected', id === rideId);
    this.items.get(rideId)?.scrollIntoView({ block: 'nearest' });
  }

  remove(rideId) {
    this.items.get(rideId)?.remove();
    this.items.delete(rideId);
    this.unlist(rideId, false);
  }

  /** Notes whether `rideId` is left out of the list, and says how many are. */
  unlist(rideId, out) {
    const before = this.unlisted.size;
    if (out) this.unlisted.add(rideId);
    else this.unlisted.delete(rideId);
    if (this.unlisted.size === before) return;
    this.more.hidden = this.unlisted.size === 0;
    this.more.textContent = `${this.unlisted.size} more on the map, not listed`;
  }
}

function describe(ride, percent) {
  if (isOver(ride)) return `${ride.status} · ${distance(ride.distanceM)}`;
  if (!ride.position) return 'starting…';
  const eta = etaSeconds(ride);
  const left = distance(Math.max(0, ride.routeLengthM - ride.distanceM));
  return `${percent}% · ${left} left · ${eta === null ? 'stopped' : `ETA ${duration(eta)}`}`;
}
