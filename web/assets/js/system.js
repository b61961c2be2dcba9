// The System page: asks for `/api/system` twice a second while open (the server reads the
// cluster at most once a second however many pages ask) and draws the event flow, topics, groups
// with their lag, where a ride's key landed, and a live tail of one topic.

import { ago, findRide, offsetText, owners, rate, sparkline, topology } from './system-model.js';

// Twice as often as the server reads the cluster (at most once a second, shared by every page),
// so that each of its reads is shown within half a second rather than every other one missed.
const REFRESH_MS = 500;
const TAIL_LIMIT = 50;
const $ = (id) => document.getElementById(id);
const esc = (text) => String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const id = encodeURIComponent;

let latest = null;
let paused = false;
let tailsAsked = 0;
let rideId = new URLSearchParams(location.search).get('ride') ?? '';
$('ride-id').value = rideId;
$('tail-key').value = rideId;

async function json(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `${response.status} ${response.statusText}`);
  return body;
}

async function refresh() {
  try {
    latest = await json('/api/system');
    $('status').textContent = `read ${new Date(latest.readAt).toLocaleTimeString()}`;
    $('status').classList.add('live');
    draw(latest);
  } catch (e) {
    $('status').textContent = `cannot read the cluster: ${e.message}`;
    $('status').classList.remove('live');
  }
  await tail();
  setTimeout(refresh, REFRESH_MS);
}

function draw(system) {
  const kind = system.builtIn ? 'the built-in broker' : 'a Kafka cluster';
  $('brokers').innerHTML = `${esc(kind)} (cluster id ${esc(system.clusterId ?? 'not reported')}): ` +
    system.brokers.map((b) => `broker ${b.id} at ${esc(b.host)}:${b.port}`).join(', ');
  $('problems').innerHTML = system.problems.map((p) => `<li>${esc(p)}</li>`).join('');
  drawTopology(system);
  drawTopics(system);
  drawGroups(system);
  drawRide(system);
  const select = $('tail-topic');
  const names = system.topics.map((t) => t.name);
  if ([...select.options].map((o) => o.value).join() !== names.join()) {
    const chosen = select.value || 'route.new-position';
    select.innerHTML = names.map((n) => `<option>${esc(n)}</option>`).join('');
    select.value = names.includes(chosen) ? chosen : names[0] ?? '';
  }
}

function drawTopology(system) {
  const { producers, topics, consumers, edges } = topology(system);
  const columns = [producers, topics, consumers];
  const width = 900;
  const rowHeight = 46;
  const height = Math.max(...columns.map((c) => c.length), 1) * rowHeight + 10;
  const xs = [10, 350, 690];
  const boxWidth = 200;
  const at = new Map();
  columns.forEach((column, c) => column.forEach((name, r) => at.set(name, { x: xs[c], y: 10 + r * rowHeight })));
  const svg = $('topology');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const lines = edges.map(({ from, to, label }) => {
    const a = at.get(from);
    const b = at.get(to);
    const [x1, y1, x2, y2] = [a.x + boxWidth, a.y + 15, b.x, b.y + 15];
    return `<g class="edge" data-from="${esc(from)}" data-to="${esc(to)}"><line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"/>` +
      // Labelled at the reading end: edges leaving one topic fan out there.
      `<text x="${x2 - 6}" y="${y2 - 5}" text-anchor="end">${esc(label)}</text></g>`;
  });
  const boxes = [...at].map(([name, { x, y }]) =>
    `<g class="node" data-name="${esc(name)}"><rect x="${x}" y="${y}" width="${boxWidth}" height="30" rx="6"/>` +
    `<text x="${x + boxWidth / 2}" y="${y + 20}" text-anchor="middle">${esc(name)}</text></g>`);
  svg.innerHTML = lines.join('') + boxes.join('');
}

function configText(topic) {
  if (topic.configs === null) return 'configs not reported by this broker';
  const set = topic.configs.filter((c) => c.origin === 'topic').map((c) => `${c.name}=${c.value ?? '(sensitive)'}`);
  const retention = topic.configs.find((c) => c.name === 'retention.ms');
  const note = !retention && !topic.defaultsReported
    ? ' · retention.ms not set here: Kafka’s default is 7 days (the broker does not report defaults)'
    : '';
  return `${set.length ? set.join(', ') : 'no configs set on the topic'}${note}`;
}

function drawTopics(system) {
  $('topics').innerHTML = system.topics.map((topic) => {
    const rides = new Map(topic.rides.map((r) => [r.partition, r]));
    const rows = topic.partitions.map((p, i) => {
      const on = rides.get(p.id);
      const listed = on ? on.listed.map((r) => `<button type="button" class="link" data-ride="${esc(r.rideId)}">${esc(r.rideId.slice(-8))}</button>`).join(' ') : '';
      const more = on && on.count > on.listed.length ? ` +${on.count - on.listed.length}` : '';
      return `<tr data-partition="${p.id}"><td>${p.id}</td><td>${p.leader}</td><td>${p.startOffset}</td><td>${p.endOffset}</td>` +
        `<td>${rate(topic.partitionRates[i])}</td><td>${on?.count ? `${on.count} · ${listed}${more}` : 'none live'}</td></tr>`;
    }).join('');
    return `<article class="topic" data-topic="${esc(topic.name)}"><h3>${esc(topic.name)} <small>${rate(topic.messagesPerSecond)} · ${esc(configText(topic))}</small></h3>` +
      `<table><thead><tr><th>Partition</th><th>Leader</th><th>Start offset</th><th>End offset</th><th>Messages</th><th>Rides (keys)</th></tr></thead><tbody>${rows}</tbody></table></article>`;
  }).join('');
}

function drawGroups(system) {
  const now = Date.now();
  $('groups').innerHTML = system.groups.map((group) => {
    const owned = owners(group);
    const rows = group.offsets.map((o) =>
      `<tr data-topic="${esc(o.topic)}" data-partition="${o.partition}"><td>${esc(o.topic)}</td><td>${o.partition}</td>` +
      `<td>${offsetText(o.committed)}</td><td>${o.endOffset}</td><td class="lag">${offsetText(o.lag)}</td>` +
      `<td>${esc(owned.get(`${o.topic}/${o.partition}`) ?? 'not reported')}</td></tr>`).join('');
    const members = group.members.map((m) =>
      `<li>${esc(m.id)} <small>${m.clientId ? `client ${esc(m.clientId)}` : 'client id not reported'} · ${m.host ? `host ${esc(m.host)}` : 'host not reported'}</small> · ` +
      `${m.assignment ? m.assignment.map((tp) => `${esc(tp.topic)}/${tp.partition}`).join(', ') || 'no partitions' : 'assignment not reported'}</li>`).join('');
    const local = group.localMembers.map((m) =>
      `<li>this process: ${m.assignment.map((tp) => `${esc(tp.topic)}/${tp.partition}`).join(', ') || 'no partitions'} · ${m.rebalances === 1 ? '1 rebalance' : `${m.rebalances} rebalances`}</li>`).join('');
    const unreported = group.assignmentsReported ? '' : '<li class="muted">the broker does not report which member owns which partition; only this process’s own members are shown with theirs</li>';
    const path = sparkline(group.lagHistory, 240, 40);
    return `<article class="group" data-group="${esc(group.name)}"><h3>${esc(group.name)} <small>${esc(group.state)}` +
      `${group.protocol ? ` · ${esc(group.protocol)}` : ''} · lag <span class="total-lag">${offsetText(group.totalLag)}</span> · ` +
      `${rate(group.commitsPerSecond)} committed · last rebalance ${ago(group.lastRebalanceAt, now)}</small></h3>` +
      `<svg class="lag-chart" viewBox="0 0 240 40" role="img" aria-label="Lag over the last minutes"><path d="${path}"/></svg>` +
      `<ul class="members">${members}${local}${unreported}</ul>` +
      `<table><thead><tr><th>Topic</th><th>Partition</th><th>Committed</th><th>End offset</th><th>Lag</th><th>Owner</th></tr></thead><tbody>${rows}</tbody></table></article>`;
  }).join('') || '<p class="muted">No consumer groups.</p>';
}

function drawRide(system) {
  if (!rideId) return;
  const found = findRide(system, rideId);
  if (found) return showRide(found);
  json(`/api/system/rides/${id(rideId)}`).then(showRide, () => {
    $('ride-answer').textContent = `No position of ride ${rideId} has been read here (yet).`;
  });
}

function showRide(record) {
  $('ride-answer').innerHTML = `Ride <b>${esc(record.rideId)}</b>: key <code>${esc(record.rideId)}</code>, ` +
    `partition <b class="ride-partition">${record.partition}</b> of route.new-position, latest offset <b class="ride-offset">${record.offset}</b>.`;
}

function chooseRide(chosen) {
  rideId = chosen;
  $('ride-id').value = chosen;
  $('tail-key').value = chosen;
  history.replaceState(null, '', chosen ? `?ride=${id(chosen)}` : location.pathname);
  if (latest) drawRide(latest);
  tail();
}

async function tail() {
  if (paused) return;
  // Only the newest request is drawn: an older one (another key, another topic) may answer later.
  const asked = ++tailsAsked;
  const topic = $('tail-topic').value;
  if (!topic) return;
  const key = $('tail-key').value.trim();
  const query = new URLSearchParams({ limit: TAIL_LIMIT, ...(key ? { key } : {}) });
  try {
    const records = await json(`/api/system/topics/${id(topic)}/records?${query}`);
    if (paused || asked !== tailsAsked) return;
    $('tail-state').textContent = `${records.length} newest records of ${topic}${key ? ` with key ${key}` : ''}`;
    $('tail').innerHTML = records.map((r) =>
      `<li data-partition="${r.partition}" data-offset="${r.offset}"><small>partition ${r.partition} · offset ${r.offset} · key ${esc(r.key ?? 'null')} · ` +
      `${r.timestamp ? new Date(r.timestamp).toLocaleTimeString() : 'no timestamp'}` +
      `${r.headers.map((h) => ` · <span class="header">${esc(h.key)}: ${esc(h.value ?? 'null')}</span>`).join('')}</small>` +
      `<pre>${esc(JSON.stringify(r.value, null, 2))}</pre></li>`).join('');
  } catch (e) {
    if (asked !== tailsAsked) return;
    $('tail-state').textContent = `cannot tail ${topic}: ${e.message}`;
  }
}

document.addEventListener('click', (event) => {
  const ride = event.target.closest('[data-ride]');
  if (ride) chooseRide(ride.dataset.ride);
});
$('ride-form').addEventListener('submit', (event) => {
  event.preventDefault();
  chooseRide($('ride-id').value.trim());
});
$('tail-pause').addEventListener('click', () => {
  paused = !paused;
  $('tail-pause').textContent = paused ? 'Resume' : 'Pause';
  $('tail-pause').setAttribute('aria-pressed', paused);
  if (!paused) tail();
});
$('tail-topic').addEventListener('change', () => tail());
$('tail-key').addEventListener('change', () => tail());

// The live state, for the browser console and the end-to-end tests.
window.rotaSystem = { latest: () => latest, paused: () => paused };
refresh();
