// Rota's web map: draws the route catalogue, starts rides and moves a marker per ride as positions
// arrive over the WebSocket (which watches the whole fleet, so rides started elsewhere show too).
// Positions from the server are {lat, lng} objects.

const COLORS = ['#d1495b', '#1f77b4', '#2a9d8f', '#e76f51', '#6a4c93', '#f4a261', '#3d5a80', '#8ab17d'];
const TILES = 'https://tile.openstreetmap.org/{z}/{x}/{y}.png';

const map = L.map('map', { zoomControl: true }).setView([-15.8, -47.9], 14);
// Tiles are decoration: offline they fail quietly and routes still draw on the plain background.
L.tileLayer(TILES, { maxZoom: 19, attribution: '&copy; OpenStreetMap contributors' }).addTo(map);

const routes = new Map(); // routeId -> route summary
const rides = new Map();  // rideId -> { marker, trail, color, item, routeId }
let colorIndex = 0;
let socket;
// Live state, for the browser console and the end-to-end tests.
window.rota = { routes, rides };

const $ = (id) => document.getElementById(id);
const latLng = (p) => [p.lat, p.lng];

function toast(text) {
  const el = document.createElement('div');
  el.className = 'toast';
  el.textContent = text;
  $('toasts').append(el);
  setTimeout(() => el.remove(), 5000);
}

/** Every route, following the listing's pages. */
async function fetchRoutes() {
  const all = [];
  let cursor = '';
  do {
    const page = await (await fetch(`/api/routes?limit=500&cursor=${encodeURIComponent(cursor)}`)).json();
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

async function loadRoutes() {
  const list = await fetchRoutes();
  const ul = $('routes');
  ul.replaceChildren();
  const bounds = L.latLngBounds([]);
  for (const route of list) {
    routes.set(route.id, route);
    const li = document.createElement('li');
    li.className = 'route';
    li.innerHTML = `<span><strong></strong><small></small></span><button type="button">Start</button>`;
    li.querySelector('strong').textContent = route.title;
    li.querySelector('small').textContent = `${(route.lengthM / 1000).toFixed(2)} km`;
    li.querySelector('button').addEventListener('click', () => send({ type: 'start', routeId: route.id }));
    li.querySelector('button').setAttribute('aria-label', `Start a ride on ${route.title}`);
    ul.append(li);
    const detail = await (await fetch(`/api/routes/${encodeURIComponent(route.id)}`)).json();
    const line = L.polyline(detail.points.map(latLng), { color: '#55606e', weight: 3, opacity: 0.35 }).addTo(map);
    bounds.extend(line.getBounds());
  }
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [40, 40] });
}

function rideFor(rideId, routeId) {
  let ride = rides.get(rideId);
  if (ride) return ride;
  const color = COLORS[colorIndex++ % COLORS.length];
  const icon = L.divIcon({ className: '', html: `<div class="vehicle" style="background:${color}"></div>`, iconSize: [16, 16] });
  const item = document.createElement('li');
  item.className = 'ride';
  item.innerHTML = `<strong></strong><small></small><div class="bar"><span></span></div>`;
  item.querySelector('strong').textContent = routes.get(routeId)?.title ?? `Route ${routeId}`;
  item.querySelector('span').style.background = color;
  $('rides').querySelector('.empty')?.remove();
  $('rides').prepend(item);
  const trail = L.polyline([], { color, weight: 4, className: 'trail' }).addTo(map);
  ride = { color, item, routeId, marker: null, trail, icon };
  rides.set(rideId, ride);
  return ride;
}

function showPosition(rideId, routeId, pos, progress, finished, status = 'finished', seq = -1) {
  const ride = rideFor(rideId, routeId);
  // Seq 0 for a ride already on the map: the simulator drives it again from its start.
  if (seq === 0) ride.trail.setLatLngs([]);
  if (!ride.marker) ride.marker = L.marker(latLng(pos), { icon: ride.icon, title: rideId }).addTo(map);
  ride.marker.setLatLng(latLng(pos));
  ride.trail.addLatLng(latLng(pos));
  const percent = Math.round(progress * 100);
  ride.item.querySelector('small').textContent = finished ? status : `driving · ${percent}%`;
  ride.item.querySelector('span').style.width = `${percent}%`;
}

function onFrame(frame) {
  switch (frame.type) {
    case 'watching-fleet':
      // Rides already driving (after a refresh, or started elsewhere): watch each one too, to get
      // the path it has driven so far. The hub sends each position once either way.
      for (const ride of frame.rides) {
        if (ride.position) showPosition(ride.id, ride.routeId, ride.position, ride.progress, false);
        send({ type: 'watch', rideId: ride.id });
      }
      break;
    case 'watching':
      if (frame.ride && frame.path.length) {
        rideFor(frame.rideId, frame.ride.routeId).trail.setLatLngs(frame.path.map(latLng));
      }
      break;
    case 'started':
      rideFor(frame.rideId, frame.routeId);
      break;
    case 'position':
      showPosition(frame.rideId, frame.routeId, frame.position, frame.progress, frame.finished, frame.status, frame.seq);
      break;
    case 'finished':
      toast(`Ride on ${routes.get(frame.routeId)?.title ?? frame.routeId} ${frame.status}`);
      break;
    case 'error':
      toast(`Error: ${frame.error}`);
      break;
  }
}

function send(frame) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  else toast('Not connected yet; try again in a moment.');
}

function connect(delay = 500) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.onopen = () => {
    $('connection').textContent = 'live';
    $('connection').classList.add('live');
    socket.send(JSON.stringify({ type: 'watch-fleet' }));
    delay = 500;
  };
  socket.onmessage = (event) => onFrame(JSON.parse(event.data));
  socket.onclose = () => {
    $('connection').textContent = 'reconnecting…';
    $('connection').classList.remove('live');
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}

// Routes first, so rides already running are listed under their route titles.
loadRoutes()
  .catch((e) => toast(`Could not load routes: ${e}`))
  .finally(() => connect());
