// The Live tab: one row per ride on the map with its colour, progress bar, ETA and an action
// (cancel while it drives, replay once it is over).

import { isOver } from './fleet.js';
import { distance, duration, etaSeconds } from './format.js';

export class RideList {
  /** `actions`: { select(rideId), cancel(rideId), replay(rideId) }. */
  constructor(routes, actions) {
    Object.assign(this, { routes, actions });
    this.ul = document.getElementById('rides');
    this.items = new Map();
  }

  draw(ride) {
    const li = this.items.get(ride.id) ?? this.create(ride);
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
      button.setAttribute('aria-label', `${over ? 'Replay' : 'Cancel'} the ride on ${this.routes.title(ride.routeId)}`);
    }
  }

  create(ride) {
    const li = document.createElement('li');
    li.className = 'ride';
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

  select(rideId) {
    for (const [id, li] of this.items) li.classList.toggle('selected', id === rideId);
    this.items.get(rideId)?.scrollIntoView({ block: 'nearest' });
  }

  remove(rideId) {
    this.items.get(rideId)?.remove();
    this.items.delete(rideId);
  }
}

function describe(ride, percent) {
  if (isOver(ride)) return `${ride.status} · ${distance(ride.distanceM)}`;
  if (!ride.position) return 'starting…';
  const eta = etaSeconds(ride);
  const left = distance(Math.max(0, ride.routeLengthM - ride.distanceM));
  return `${percent}% · ${left} left · ${eta === null ? 'stopped' : `ETA ${duration(eta)}`}`;
}
