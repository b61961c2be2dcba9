// How numbers read on the page: distances, durations, speeds, and each ride's colour.

export function distance(m) {
  return m >= 1000 ? `${(m / 1000).toFixed(2)} km` : `${Math.round(m)} m`;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function speed(kmh) {
  return `${Math.round(kmh)} km/h`;
}

/** Seconds left at the ride's current speed, or null while it stands still. */
export function etaSeconds(ride) {
  const left = Math.max(0, ride.routeLengthM - ride.distanceM);
  return ride.speedKmh > 0 ? left / (ride.speedKmh / 3.6) : null;
}

/** The n-th ride's colour: golden-angle hues never repeat a neighbour's, dark enough for white text. */
export function colorFor(n) {
  return `hsl(${Math.round((n * 137.508) % 360)} 70% 38%)`;
}

export function dateTime(ms) {
  return new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}
