// Rota's web map: wires the modules together.
//
//   api.js         REST calls            connection.js  the WebSocket, reconnecting with back-off
//   fleet.js       rides and paths, drawn once per animation frame
//   routes.js      the route catalogue   vehicles.js    markers, fading trails, planned lines
//   ride-list.js   the Live tab          history.js     the History tab    replay.js  replay
//   session.js     viewer or operator: sign-in, and which controls show
//
// The page watches the fleet, so rides started elsewhere show too: a `fleet` frame a few times a
// second with the rides that moved. A small fleet's rides are also watched one by one, for their
// whole paths and every position; a big fleet (over the map config's `viewportAbove` rides, 500
// unless configured) is asked for only the rides in view, again whenever the map pans. After a
// refresh or a lost connection it watches again: the server sends every running ride, and rides
// that ended meanwhile are fetched from the API.

import * as api from './api.js';
import { Connection } from './connection.js';
import { Fleet, isOver } from './fleet.js';
import { History } from './history.js';
import { Replay } from './replay.js';
import { RideList } from './ride-list.js';
import { Routes } from './routes.js';
import { Session } from './session.js';
import { tabs } from './tabs.js';
import { toast } from './toasts.js';
import { Vehicles } from './vehicles.js';

/** Rides over that stay on the map and in the Live tab; all of them are in History. */
const OVER_KEPT = 20;
const $ = (id) => document.getElementById(id);

// Canvas draws a thousand trails far faster than SVG; markers stay DOM elements to turn them.
const map = L.map('map', { preferCanvas: true }).setView([-15.8, -47.9], 13);
// Lines that do not move (the catalogue, planned routes) get a canvas of their own, so redrawing
// the moving vehicles and trails does not redraw them.
const still = L.canvas();
// Without it: no tiles, and the whole fleet is watched.
const config = await api.mapConfig().catch(() => ({ tilesUrl: '', tilesAttribution: '', viewportAbove: Infinity }));
if (config.tilesUrl) addTiles(config);
/** Rides running above which the page asks for the rides in view only. */
const VIEWPORT_ABOVE = config.viewportAbove;

const routes = new Routes(map, still, start);
const vehicles = new Vehicles(map, still, routes, select);
const rideList = new RideList(routes, { select, cancel, replay: openReplay });
const history = new History(routes, openReplay);
const replay = new Replay(map, routes);
const fleet = new Fleet(draw, VIEWPORT_ABOVE);
const overOrder = []; // rides over, oldest first
let selected = null;
let viewport = null; // the bounds asked for, when only the rides in view are
let watchInView = false;
const showTab = tabs(document.querySelector('[role=tablist]'), (panel) => {
  if (panel === 'history') history.reload().catch((e) => toast(`Could not load the history: ${e.message}`));
});

const session = new Session({ onSignedOut: toast });
await session.load().catch((e) => toast(`Could not ask who you are: ${e.message}`));
await routes.load().catch((e) => toast(`Could not load routes: ${e.message}`));
const connection = new Connection({
  onOpen: () => {
    fleet.watched.clear();
    watchFleet();
  },
  onFrame,
  onStatus: (text, live) => {
    $('connection').textContent = text;
    $('connection').classList.toggle('live', live);
  },
});
// The live state, for the browser console and the end-to-end tests.
window.rota = { map, fleet, routes, vehicles, replay, connection, session };
map.on('moveend', () => {
  if (watchInView) watchFleet();
});

function addTiles({ tilesUrl, tilesAttribution }) {
  const layer = L.tileLayer(tilesUrl, { maxZoom: 19, attribution: tilesAttribution }).addTo(map);
  // Tiles are decoration: when none arrive, say so once; the routes still draw on the background.
  let loaded = false;
  layer.on('tileload', () => {
    loaded = true;
    $('tiles-notice').hidden = true;
  });
  layer.on('tileerror', () => {
    if (!loaded) $('tiles-notice').hidden = false;
  });
}

function onFrame(frame) {
  switch (frame.type) {
    case 'fleet': return onFleet(frame);
    case 'watching':
      if (frame.ride) fleet.path(frame.rideId, frame.ride.routeId, frame.path);
      return undefined;
    case 'position':
      // A ride watched one by one while the fleet was small still streams after the page switched
      // to its view: out of view, only the selected ride is drawn.
      if (viewport && frame.rideId !== selected && !viewport.contains(frame.position)) return undefined;
      return fleet.position(frame);
    case 'finished': return ended(fleet.record({ id: frame.rideId, routeId: frame.routeId, status: frame.status }));
    case 'error': return toast(`Error: ${frame.error}`);
    default: return undefined;
  }
}

/** Asks for the whole fleet, or for the rides in (a little more than) the view. */
function watchFleet() {
  if (!watchInView) {
    viewport = null;
    connection.send({ type: 'watch-fleet' });
    return;
  }
  viewport = map.getBounds().pad(0.25);
  const bounds = {
    south: viewport.getSouth(), west: viewport.getWest(), north: viewport.getNorth(), east: viewport.getEast(),
  };
  connection.send({ type: 'watch-fleet', bounds });
}

function onFleet(frame) {
  const inView = (ride) => !viewport || !ride.position || viewport.contains(ride.position);
  const { watch, gone, check, ended: over } = fleet.fleetFrame(frame, inView);
  for (const rideId of gone) if (rideId !== selected) forget(rideId);
  for (const rideId of check) catchUp(rideId);
  for (const rideId of watch) connection.send({ type: 'watch', rideId });
  for (const ride of over) ended(ride);
  if ((frame.running > VIEWPORT_ABOVE) !== watchInView) {
    watchInView = !watchInView;
    watchFleet();
  }
}

async function catchUp(rideId) {
  try {
    const record = await api.ride(rideId);
    // Forgotten meanwhile (it left the view, say): an answer must not bring it back.
    if (!fleet.rides.has(rideId)) return;
    fleet.path(record.id, record.routeId, record.path);
    const ride = fleet.record(record);
    if (isOver(ride)) ended(ride);
  } catch (e) {
    toast(`Could not refresh a ride: ${e.message}`);
  }
}

function ended(ride) {
  if (overOrder.includes(ride.id)) return;
  overOrder.push(ride.id);
  toast(`Ride on ${routes.title(ride.routeId)} ${ride.status}`);
  while (overOrder.length > OVER_KEPT) forget(overOrder.shift());
  refreshHistory();
}

let historyRefresh = null;
/** Reloads the History tab, if shown, once a burst of rides ending has passed. */
function refreshHistory() {
  if ($('history').hidden || historyRefresh) return;
  historyRefresh = setTimeout(() => {
    historyRefresh = null;
    history.reload().catch(() => {});
  }, 1000);
}

function forget(rideId) {
  fleet.remove(rideId);
  vehicles.remove(rideId);
  rideList.remove(rideId);
}

/** Once per animation frame, for the rides that changed. */
function draw(changed) {
  for (const ride of changed) {
    vehicles.draw(ride);
    rideList.draw(ride);
  }
  const driving = fleet.running().length;
  const over = fleet.rides.size - driving;
  $('live-count').textContent = driving;
  const { running, inView } = fleet.counts;
  if (viewport) $('fleet-stats').textContent = `${running} driving · ${inView} in view`;
  else {
    $('fleet-stats').textContent = fleet.rides.size
      ? `${driving} driving · ${over} over` : 'No rides yet: start one above.';
  }
  if (selected) follow(fleet.rides.get(selected));
}

/** Keeps the selected ride's vehicle in view. */
function follow(ride) {
  if (!ride?.position) return;
  const at = L.latLng(ride.position.lat, ride.position.lng);
  if (!map.getBounds().pad(-0.1).contains(at)) map.panTo(at);
}

async function start(route) {
  const speedKmh = Number($('speed').value) || undefined;
  try {
    const started = await api.startRide(route.id, speedKmh);
    fleet.ride(started.rideId, started.routeId);
    showTab('live');
  } catch (e) {
    toast(`Could not start a ride on ${route.title}: ${e.message}`);
  }
}

function select(rideId) {
  selected = selected === rideId ? null : rideId;
  // In a big fleet only the selected ride is watched for its whole path and every position.
  if (selected && !fleet.watched.has(selected) && connection.send({ type: 'watch', rideId: selected })) {
    fleet.watched.add(selected);
  }
  vehicles.select(selected);
  rideList.select(selected);
}

function cancel(rideId) {
  api.cancelRide(rideId).catch((e) => toast(`Could not cancel: ${e.message}`));
}

function openReplay(rideId) {
  replay.open(rideId).catch((e) => toast(`Could not replay: ${e.message}`));
}
