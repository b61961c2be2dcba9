// What the System page draws, worked out from one `/api/system` answer: the pipeline's nodes and
// edges with their rates, lag sparklines and the words for values the broker does not report.
// Pure functions, so `node --test` checks them.

/** The group-less reader each api replica runs. */
export const LIVE_READER = 'api live reader';

/** `12.3/s`, or `…` while there is no rate yet (the first read). */
export function rate(perSecond) {
  if (perSecond === null || perSecond === undefined) return '…';
  return `${perSecond >= 100 ? Math.round(perSecond) : perSecond.toFixed(1)}/s`;
}

/** A committed offset or lag, or why there is none. */
export const offsetText = (value) => (value === null || value === undefined ? 'no commit' : String(value));

/** `5 s ago`, `3 min ago`; `never seen` without a time. */
export function ago(at, now) {
  if (!at) return 'never seen';
  const s = Math.max(0, Math.round((now - at) / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

/**
 * The pipeline: producers → topics → consumers, each edge with its messages per second.
 * Returns { producers, topics, consumers, edges: [{ from, to, label }] }.
 */
export function topology(system) {
  const topics = system.topics.map((t) => t.name);
  const edges = [];
  const producers = [];
  for (const topic of system.topics) {
    const producer = topic.writtenBy;
    if (!producer) continue;
    if (!producers.includes(producer)) producers.push(producer);
    edges.push({ from: producer, to: topic.name, label: rate(topic.messagesPerSecond) });
  }
  // Consumers in the order of the topics they read, so that edges do not cross.
  const readers = [];
  for (const group of system.groups) {
    const read = [...new Set(group.offsets.map((o) => o.topic))];
    if (read.length === 0) continue;
    readers.push({ name: `group ${group.name}`, read, label: `${rate(group.commitsPerSecond)} committed` });
  }
  readers.sort((a, b) => Math.min(...a.read.map((t) => topics.indexOf(t))) - Math.min(...b.read.map((t) => topics.indexOf(t))));
  const consumers = readers.map((r) => r.name);
  for (const { name, read, label } of readers) for (const topic of read) edges.push({ from: topic, to: name, label });
  const live = system.liveReader;
  if (topics.includes(live.topic)) {
    consumers.push(LIVE_READER);
    edges.push({ from: live.topic, to: LIVE_READER, label: rate(live.positionsPerSecond) });
  }
  return { producers, topics, consumers, edges };
}

/** An SVG path through `points` ({ at, lag }) scaled into width × height; gaps where lag is null. */
export function sparkline(points, width, height) {
  const known = points.filter((p) => p.lag !== null);
  if (known.length === 0) return '';
  const first = points[0].at;
  const span = Math.max(1, points[points.length - 1].at - first);
  const top = Math.max(1, ...known.map((p) => p.lag));
  let d = '';
  let pen = 'M';
  for (const p of points) {
    if (p.lag === null) {
      pen = 'M';
      continue;
    }
    const x = ((p.at - first) / span) * width;
    const y = height - (p.lag / top) * height;
    d += `${pen}${x.toFixed(1)},${y.toFixed(1)} `;
    pen = 'L';
  }
  return d.trim();
}

/** Which partitions a group's members own: from the broker, else from this process's members. */
export function owners(group) {
  const owned = new Map();
  for (const member of group.members) {
    for (const tp of member.assignment ?? []) owned.set(`${tp.topic}/${tp.partition}`, member.clientId ?? member.id);
  }
  if (!group.assignmentsReported) {
    for (const member of group.localMembers) {
      for (const tp of member.assignment) owned.set(`${tp.topic}/${tp.partition}`, 'this process');
    }
  }
  return owned;
}

/** Where a ride is: { partition, offset } from the positions topic's listing, or null. */
export function findRide(system, rideId) {
  for (const topic of system.topics) {
    for (const partition of topic.rides) {
      const found = partition.listed.find((r) => r.rideId === rideId);
      if (found) return found;
    }
  }
  return null;
}
