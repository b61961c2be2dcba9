// The web map in headless Chromium against a running platform, one scenario per run:
//
//   node e2e.cjs SCENARIO BASE_URL ARTIFACT_DIR [ARG]
//
// Prints what the page showed as one JSON object; the Rust test (rota/tests/it/browser.rs) checks it
// against the API. Exits non-zero when the page does not get there. Every request off the platform
// (map tiles) is refused, as on a machine without internet, unless a scenario serves tiles itself.
// CommonJS, so NODE_PATH finds playwright-core in the test environment.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const [, , scenario, base, artifacts, arg] = process.argv;

const launch = (extraArgs = []) => chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
});

async function main() {
  const browser = await launch();
  try {
    const result = await SCENARIOS[scenario](browser);
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
  }
}

/** A page on the platform; `offPlatform` decides about other requests (default: refuse). */
async function open(browser, { viewport = { width: 1280, height: 800 }, offPlatform, mobile = false } = {}) {
  const context = await browser.newContext({ viewport, isMobile: mobile, hasTouch: mobile });
  // Every toast the page shows, also after a reload: a toast is gone after 5 s, and a test that
  // looked for it while busy elsewhere would miss one that was there.
  await context.addInitScript(() => {
    window.toastsShown = [];
    document.addEventListener('DOMContentLoaded', () => new MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.addedNodes) window.toastsShown.push(node.textContent);
      }
    }).observe(document.getElementById('toasts'), { childList: true }));
  });
  const page = await context.newPage();
  page.errors = [];
  page.refused = 0;
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !m.text().includes('ERR_') && page.errors.push(m.text()));
  await page.route('**/*', (route) => {
    if (route.request().url().startsWith(base)) return route.continue();
    if (offPlatform) return offPlatform(route);
    page.refused += 1;
    return route.abort('internetdisconnected');
  });
  await page.goto(base);
  await live(page);
  return page;
}

const live = (page) => page.locator('#connection.live').waitFor();
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`) });
const rest = (method, url, body) => fetch(`${base}${url}`, {
  method, headers: body ? { 'content-type': 'application/json' } : {}, body: body && JSON.stringify(body),
}).then((r) => r.json());
const rideItem = (page, id) => page.locator(`#rides li[data-ride-id="${id}"]`);
const progressOf = (page, id) => rideItem(page, id).locator('.bar').getAttribute('aria-valuenow').then(Number);
/** A ride's vehicle as drawn, and the ride as the page's model has it now, read at one moment. */
const markerOf = (page, id) => page.evaluate((rideId) => {
  const marker = window.rota.vehicles.layers.get(rideId)?.marker;
  if (!marker) return null;
  const { lat, lng } = marker.getLatLng();
  const ride = window.rota.fleet.rides.get(rideId);
  return {
    lat, lng, heading: marker.options.heading, rideLat: ride.position.lat, rideLng: ride.position.lng, rideHeading: ride.heading,
  };
}, id);
/** The vehicle once the page has drawn the ride's latest position: a frame that just arrived is
 * drawn on the next animation frame, so the model may be a position ahead of the map until then. */
const drawnMarkerOf = (page, id) => waitUntil(async () => {
  const seen = await markerOf(page, id);
  return seen && seen.lat === seen.rideLat && seen.lng === seen.rideLng && seen;
}, 'the vehicle drawn where its ride is');
const pathLength = (page, id) => page.evaluate((rideId) => window.rota.fleet.rides.get(rideId)?.path.length ?? 0, id);
async function waitUntil(check, what, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** Waits until the page has shown a toast saying `text` (since its last load). */
const toastShown = (page, text, timeoutMs) => waitUntil(
  () => page.evaluate((text) => window.toastsShown.find((shown) => shown === text), text),
  `the toast "${text}"`,
  timeoutMs,
);
async function rideIds(page) {
  return page.locator('#rides li').evaluateAll((items) => items.map((li) => li.dataset.rideId));
}

const SCENARIOS = {
  // Sign-in (ARG is {"operator": token, "viewer": token, "rideId": a ride started by the test}):
  // a viewer sees no Start, no speed and no Cancel; a wrong token is refused in the dialog; a
  // viewer's token unlocks nothing; after an operator signs in, Start starts a ride and Cancel
  // cancels the test's ride; after a refresh the tab is still signed in; signing out hides them.
  async 'sign-in'(browser) {
    const { operator, viewer, rideId } = JSON.parse(arg);
    const page = await open(browser);
    const visible = (selector) => page.locator(selector).evaluateAll(
      (all) => all.filter((e) => e.checkVisibility()).length,
    );
    const controls = async () => ({
      start: await visible('#routes button'),
      speed: await visible('#speed'),
      cancel: await visible('#rides .actions button'),
      signIn: await visible('#sign-in'),
    });
    await rideItem(page, rideId).waitFor();
    const asViewer = await controls();
    await shot(page, 'sign-in-viewer');
    const signIn = async (token) => {
      await page.getByRole('button', { name: 'Sign in' }).first().click();
      await page.getByLabel('Token').fill(token);
      await page.locator('#sign-in-dialog button[value=ok]').click();
    };
    const errorShown = () => waitUntil(async () => page.locator('#sign-in-error').textContent(), 'the sign-in error');
    await signIn('rota_not-a-token');
    const wrong = await errorShown();
    await page.locator('#sign-in-dialog button[value=cancel]').click();
    await signIn(viewer);
    const viewerNote = await errorShown();
    const asViewerToken = await controls();
    await page.locator('#sign-in-dialog button[value=cancel]').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(operator);
    await page.locator('#sign-in-dialog').waitFor({ state: 'hidden' });
    const whoText = await page.locator('#who').textContent();
    const asOperator = await waitUntil(async () => {
      const seen = await controls();
      return seen.start > 0 && seen.cancel > 0 && seen;
    }, 'operator controls');
    await shot(page, 'sign-in-operator');
    const before = await rideIds(page);
    await page.getByRole('button', { name: 'Start a ride on Terceiro' }).click();
    const started = await waitUntil(async () => (await rideIds(page)).find((id) => !before.includes(id)), 'the started ride');
    await rideItem(page, rideId).getByRole('button', { name: /^Cancel/ }).click();
    await waitUntil(async () => (await rest('GET', `/api/rides/${rideId}`)).status === 'cancelled', 'the cancel');
    await page.reload();
    await live(page);
    const afterReload = await waitUntil(async () => {
      const seen = await controls();
      return seen.start > 0 && seen;
    }, 'still signed in');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await waitUntil(async () => (await controls()).start === 0, 'controls hidden again');
    const signedOut = await controls();
    return {
      asViewer, wrong, viewerNote, asViewerToken, whoText, asOperator, started, afterReload, signedOut,
      // The wrong token's 401 is the browser's own console line, not a script error.
      errors: page.errors.filter((e) => !e.includes('status of 401')),
    };
  },

  // The System page: the event flow drawn; the simulator group's lag growing while no simulator
  // runs and shrinking once one starts (ARG is {"rota": its binary, "brokers": ...}); a ride's
  // partition after clicking it; a tail of route.new-position filtered by the ride's id.
  async system(browser) {
    const { rota, brokers } = JSON.parse(arg);
    const context = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
    const page = await context.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(String(e)));
    await page.goto(`${base}/system`);
    await page.locator('#status.live').waitFor();
    const lagText = () => page.locator('article.group[data-group="simulator"] .total-lag').textContent();
    await page.locator('article.group[data-group="simulator"]').waitFor();
    const lagSeen = [await lagText()];
    const seen = async (wanted) => waitUntil(async () => {
      const text = await lagText();
      if (text !== lagSeen[lagSeen.length - 1]) lagSeen.push(text);
      return text === wanted;
    }, `lag ${wanted}`);
    for (let i = 0; i < 3; i++) await rest('POST', '/api/rides', { routeId: '1', speedKmh: 20000 });
    await seen('3');
    const simulator = require('node:child_process').spawn(rota, ['simulator'], {
      env: { ...process.env, KAFKA_BROKERS: brokers, ROTA_SIM_TICK_MS: '20', RUST_LOG: 'warn' },
      stdio: 'ignore',
    });
    try {
      await seen('0');
      const nodes = await page.locator('#topology .node').evaluateAll((all) => all.map((g) => g.dataset.name));
      const edges = await page.locator('#topology .edge').evaluateAll((all) => all.map((g) => `${g.dataset.from} -> ${g.dataset.to}`));
      const { rideId } = await rest('POST', '/api/rides', { routeId: '1', speedKmh: 150 });
      // Another ride's records on the topic too, for the tail to filter out.
      const other = await rest('POST', '/api/rides', { routeId: '2', speedKmh: 150 });
      const button = page.locator(`#topics button[data-ride="${rideId}"]`);
      await button.waitFor({ timeout: 30000 });
      await button.click();
      const partition = Number(await page.locator('#ride-answer .ride-partition').textContent());
      const tailed = await waitUntil(async () => {
        if (!(await page.locator('#tail-state').textContent()).endsWith(`with key ${rideId}`)) return false;
        const items = await page.locator('#tail li').evaluateAll((all) => all.map((li) => ({
          partition: Number(li.dataset.partition), offset: Number(li.dataset.offset),
          value: JSON.parse(li.querySelector('pre').textContent),
        })));
        return items.length >= 5 && items;
      }, 'the tail of the ride');
      await page.locator('#tail-pause').click();
      const lastOffset = () => page.locator('#tail li').last().getAttribute('data-offset').then(Number);
      const pausedAt = await lastOffset();
      await new Promise((r) => setTimeout(r, 2500));
      const stillAt = await lastOffset();
      await page.evaluate(() => window.scrollTo(0, 0));
      await shot(page, 'system');
      await page.locator('#tail').scrollIntoViewIfNeeded();
      await shot(page, 'system-tail');
      const tailState = await page.locator('#tail-state').textContent();
      await rest('DELETE', `/api/rides/${rideId}`);
      await rest('DELETE', `/api/rides/${other.rideId}`);
      return {
        nodes, edges, lagSeen, rideId, other: other.rideId, partition, pausedAt, stillAt, tailState,
        lastTailed: tailed[tailed.length - 1].offset,
        tail: tailed.map((r) => ({ partition: r.partition, rideId: r.value.rideId, seq: r.value.seq })),
        errors: page.errors,
      };
    } finally {
      simulator.kill('SIGTERM');
    }
  },
  // The System page while the broker (pid ARG.brokerPid) goes away: it says the cluster cannot be
  // read, and keeps the last read drawn.
  async systemOutage(browser) {
    const { brokerPid } = JSON.parse(arg);
    const page = await browser.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(String(e)));
    await page.goto(`${base}/system`);
    await page.locator('#status.live').waitFor();
    await page.locator('#topics article.topic').first().waitFor();
    process.kill(brokerPid, 'SIGTERM');
    const status = () => page.locator('#status').textContent();
    await waitUntil(async () => (await status()).startsWith('cannot read the cluster'), 'the outage on the page');
    await shot(page, 'system-outage');
    return {
      status: await status(),
      live: await page.locator('#status.live').count(),
      topicsStillDrawn: await page.locator('#topics article.topic').count(),
      errors: page.errors,
    };
  },
  // Two rides from the routes panel (one by mouse, one by keyboard), a third over REST, a refresh
  // mid-ride, and the finish toasts.
  async live(browser) {
    const page = await open(browser);
    const routes = await page.locator('#routes li strong').allTextContents();
    const routeDetails = await page.locator('#routes li small').allTextContents();
    await page.locator('#speed').selectOption('250');
    await page.getByRole('button', { name: 'Start a ride on Primeiro' }).click();
    await page.getByRole('button', { name: 'Start a ride on Segundo' }).focus();
    await page.keyboard.press('Enter');
    await waitUntil(async () => (await rideIds(page)).length === 2, 'two rides listed');
    // By route, not by list order: the two starts are in flight together, so either may be newer.
    const rideOn = (route) => page.locator('#rides li')
      .filter({ has: page.getByRole('button', { name: `Show the ride on ${route} on the map` }) })
      .getAttribute('data-ride-id');
    const [first, second] = [await rideOn('Primeiro'), await rideOn('Segundo')];
    const colors = await page.locator('#rides .swatch').evaluateAll((s) => s.map((e) => e.style.background));
    const startMarkers = [await waitUntil(() => markerOf(page, first), 'marker 1'),
      await waitUntil(() => markerOf(page, second), 'marker 2')];
    const startProgress = [await progressOf(page, first), await progressOf(page, second)];
    await waitUntil(async () => (await progressOf(page, first)) > startProgress[0] + 5
      && (await progressOf(page, second)) > startProgress[1] + 5, 'both rides progress');
    const movedMarkers = [await drawnMarkerOf(page, first), await drawnMarkerOf(page, second)];
    const statusLines = await page.locator('#rides li small').allTextContents();
    const markers = await page.evaluate(() => [...window.rota.vehicles.layers.values()]
      .filter((layers) => layers.marker && window.rota.map.hasLayer(layers.marker)).length);
    await rideItem(page, first).getByRole('button', { name: 'Show the ride on Primeiro on the map' }).click();
    const selected = {
      rows: await page.locator('#rides li.selected').evaluateAll((li) => li.map((e) => e.dataset.rideId)),
      marker: await page.evaluate(() => window.rota.vehicles.selected),
    };
    await shot(page, 'live-two-rides');

    // A ride started elsewhere shows up; then a refresh in the middle of it.
    // Fast, so its whole route is a few hundred positions: on a loaded machine every position
    // takes longer, and it must finish within the test.
    const elsewhere = await rest('POST', '/api/rides', { routeId: '3', speedKmh: 1000 });
    await rideItem(page, elsewhere.rideId).waitFor();
    const before = await waitUntil(async () => {
      const ride = await rest('GET', `/api/rides/${elsewhere.rideId}`);
      return ride.positions >= 100 && ride.positions;
    }, 'the REST ride to get going');
    await page.reload();
    await live(page);
    await rideItem(page, elsewhere.rideId).waitFor();
    const afterRefresh = await waitUntil(async () => {
      const n = await pathLength(page, elsewhere.rideId);
      return n >= before && n;
    }, 'the path so far after the refresh');
    const progressAfterRefresh = await progressOf(page, elsewhere.rideId);
    await waitUntil(async () => (await progressOf(page, elsewhere.rideId)) > progressAfterRefresh,
      'the ride to go on after the refresh');
    await shot(page, 'live-after-refresh');

    // The page lists it as finished once it is, and said so in a toast as the end arrived.
    await waitUntil(async () => (await rideItem(page, elsewhere.rideId).locator('small').textContent())
      .startsWith('finished'), 'the ride listed as finished', 120000)
      .catch(async (e) => {
        const ride = await rest('GET', `/api/rides/${elsewhere.rideId}`);
        throw new Error(`${e.message}; the platform says ${ride.status} at ${Math.round(ride.progress * 100)}%`);
      });
    const toast = await toastShown(page, 'Ride on Terceiro finished');
    const finished = await page.evaluate((id) => {
      const ride = window.rota.fleet.rides.get(id);
      return { status: ride.status, path: ride.path.length, lastSeq: ride.lastSeq };
    }, elsewhere.rideId);
    await shot(page, 'live-finished');
    return {
      routes, routeDetails, rides: [first, second], colors, startMarkers, movedMarkers, markers, selected,
      statusLines, elsewhere: elsewhere.rideId, pathBeforeRefresh: before, pathAfterRefresh: afterRefresh,
      finished, toast, refused: page.refused, errors: page.errors,
      fleetFrames: await page.evaluate(() => window.rota.fleet.frames),
    };
  },

  // History tab → Replay of the finished ride ARG: summary, scrubber by keyboard and by value,
  // play at 20× and pause.
  async replay(browser) {
    const page = await open(browser);
    await page.getByRole('tab', { name: 'History' }).click();
    const history = page.locator('#history-list li');
    await history.first().waitFor();
    const firstPage = await history.count();
    await page.getByRole('button', { name: 'Load more' }).click();
    const item = page.locator(`#history-list li[data-ride-id="${arg}"]`);
    await item.waitFor();
    const bothPages = await history.count();
    const moreHidden = await page.locator('#history-more').isHidden();
    const listed = await item.locator('small').textContent();
    await item.getByRole('button').click();
    await page.locator('#replay').waitFor();
    const summary = Object.fromEntries(await page.locator('#replay-summary dt').evaluateAll(
      (dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent]),
    ));
    const state = () => page.evaluate(() => {
      const r = window.rota.replay;
      return { t: r.t, duration: r.duration, position: r.position, playing: r.playing,
        clock: document.getElementById('replay-clock').textContent };
    });
    const scrubber = page.locator('#replay-scrubber');
    await scrubber.focus();
    await page.keyboard.press('End');
    const atEnd = await state();
    await page.keyboard.press('Home');
    const atStart = await state();
    const half = Math.round(atEnd.duration / 2);
    await scrubber.evaluate((input, value) => {
      input.value = String(value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    }, half);
    const atHalf = await state();
    await shot(page, 'replay-half');
    await scrubber.focus();
    await page.keyboard.press('Home');
    await page.locator('#replay-speed').selectOption('10');
    await page.locator('#replay-play').click();
    await page.waitForTimeout(300);
    const playing = await state();
    await page.locator('#replay-play').click();
    const paused = await state();
    await page.waitForTimeout(300);
    const stillPaused = await state();
    await page.locator('#replay-speed').selectOption('20');
    await page.locator('#replay-play').click(); // play on to the end
    const ended = await waitUntil(async () => {
      const s = await state();
      return !s.playing && s;
    }, 'the replay to reach its end');
    await page.keyboard.press('Escape');
    const closed = await page.locator('#replay').isHidden();
    return {
      firstPage, bothPages, moreHidden, listed, summary, atStart, atHalf, atEnd, playing, paused, stillPaused, ended, closed,
      errors: page.errors,
    };
  },

  // Tiles from a URL that refuses connections, on a phone-sized screen: the routes still draw,
  // the page says the tiles are missing, and a ride starts and moves.
  async offline(browser) {
    let tileRequests = 0;
    const page = await open(browser, {
      viewport: { width: 390, height: 844 },
      mobile: true,
      offPlatform: (route) => {
        tileRequests += 1;
        return route.continue();
      },
    });
    const notice = await page.locator('#tiles-notice').isVisible()
      || await page.locator('#tiles-notice').waitFor().then(() => true);
    const drawnPixels = await page.evaluate(() => {
      const canvas = document.querySelector('#map canvas');
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n += 1;
      return n;
    });
    const map = await page.locator('#map').boundingBox();
    const panel = await page.locator('#panel').boundingBox();
    await page.locator('#speed').selectOption('250');
    await page.getByRole('button', { name: 'Start a ride on Primeiro' }).tap();
    const [ride] = await waitUntil(async () => {
      const ids = await rideIds(page);
      return ids.length && ids;
    }, 'the ride listed');
    const first = await waitUntil(() => markerOf(page, ride), 'its marker');
    const moved = await waitUntil(async () => {
      const now = await markerOf(page, ride);
      return (now.lat !== first.lat || now.lng !== first.lng) && now;
    }, 'its marker to move');
    await shot(page, 'phone-offline');
    await page.getByRole('button', { name: 'Cancel the ride on Primeiro' }).tap();
    await toastShown(page, 'Ride on Primeiro cancelled');
    // The toast is shown as the frame arrives, the row redrawn on the next animation frame.
    const cancelled = await waitUntil(async () => {
      const text = await rideItem(page, ride).locator('small').textContent();
      return !text.includes(' left · ') && text;
    }, 'the row to say how the ride ended', 10000);
    return {
      notice, drawnPixels, map, panel, ride, first, moved, cancelled, tileRequests, errors: page.errors,
    };
  },

  // With no sign-in, what pages of other sites try (the platform must refuse each):
  // - a page of another site (served here, on a name that leads to this machine) posts a route
  //   file with a "simple" request, which no CORS preflight stops, and tries the WebSocket;
  // - a page on a name rebound to this machine, whose requests the browser sees as same-origin,
  //   starts a ride over REST and over the WebSocket.
  // Reports what each got; the Rust test checks that the platform wrote nothing.
  async foreign() {
    const port = new URL(base).port;
    const browser = await launch([
      // Names of other sites that lead to this machine, as an attacker's DNS makes them.
      '--host-resolver-rules=MAP attacker.test 127.0.0.1, MAP rebound.test 127.0.0.1',
      // Chromium's own guard, which asks the user before a page of the internet reaches this
      // machine: off, to test the platform's guard, which every browser meets.
      '--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessSendPreflights,'
        + 'PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests',
    ]);
    const page = await browser.newPage();
    page.errors = [];
    const html = (title) => `<!doctype html><meta charset="utf-8"><title>${title}</title><p>${title}</p>`;
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(html('another site'));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socketAnswer = (url, frame) => page.evaluate(([url, frame]) => new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.onopen = () => {
        ws.send(JSON.stringify(frame));
        ws.onmessage = (m) => resolve(`open: ${m.data}`);
      };
      ws.onerror = () => resolve('refused');
    }), [url, frame]);
    try {
      await page.goto(`http://attacker.test:${server.address().port}/`);
      const crossSite = await page.evaluate(async (base) => {
        const sent = await fetch(`${base}/api/routes?title=From%20another%20site`, {
          method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' },
          body: '-15.8,-47.9\n-15.81,-47.91\n',
        }).then((r) => r.type, (e) => `failed: ${e}`);
        return { sent };
      }, base);
      crossSite.socket = await socketAnswer(`${base.replace('http', 'ws')}/ws`, { type: 'start', routeId: '1' });

      // The attacker's page, first loaded under the name before it resolves here.
      const rebound = `http://rebound.test:${port}`;
      await page.route(`${rebound}/`, (route) => route.fulfill({ contentType: 'text/html', body: html('rebound') }));
      await page.goto(`${rebound}/`);
      const rebind = await page.evaluate(async () => {
        const start = await fetch('/api/rides', {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ routeId: '1' }),
        });
        return { status: start.status, body: await start.json() };
      });
      rebind.socket = await socketAnswer(`ws://rebound.test:${port}/ws`, { type: 'start', routeId: '1' });
      return { crossSite, rebind, errors: page.errors };
    } finally {
      server.close();
      await browser.close();
    }
  },

  // Tiles served by the test through the configured URL template.
  async tiles(browser) {
    const page = await open(browser, { offPlatform: (route) => route.continue() });
    await page.locator('.leaflet-tile-loaded').first().waitFor();
    const loaded = await page.locator('.leaflet-tile-loaded').count();
    const notice = await page.locator('#tiles-notice').isVisible();
    const attribution = await page.locator('.leaflet-control-attribution').textContent();
    return { loaded, notice, attribution, errors: page.errors };
  },

  // A big fleet (the test lowers the threshold to one ride): the page asks for the rides in its
  // view, again as it pans; rides out of view leave the map and come back with it.
  async viewport(browser) {
    const page = await open(browser);
    const sent = [];
    page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(JSON.parse(f.payload))));
    await page.reload();
    await live(page);
    for (const routeId of ['1', '2', '3']) await rest('POST', '/api/rides', { routeId, speedKmh: 30 });
    const markers = () => page.evaluate(() => [...window.rota.vehicles.layers.values()]
      .filter((layers) => layers.marker && window.rota.map.hasLayer(layers.marker)).length);
    const stats = () => page.locator('#fleet-stats').textContent();
    const settle = async (text, count, what) => {
      await waitUntil(async () => (await stats()) === text && (await markers()) === count, what)
        .catch(async (e) => { throw new Error(`${e.message}: "${await stats()}", ${await markers()} markers`); });
      return { stats: await stats(), markers: await markers() };
    };
    const atStart = await settle('3 driving · 3 in view', 3, 'the three rides in view');
    const home = await page.evaluate(() => {
      const { map } = window.rota;
      return { center: map.getCenter(), zoom: map.getZoom() };
    });
    await shot(page, 'viewport-home');
    await page.evaluate(() => window.rota.map.setView([10, 10], 13));
    const away = await settle('3 driving · 0 in view', 0, 'no ride in view after panning away');
    await page.evaluate(({ center, zoom }) => window.rota.map.setView(center, zoom), home);
    const back = await settle('3 driving · 3 in view', 3, 'the rides back in view');
    // A ride may be watched one by one while the fleet is still one ride (the rides start one
    // after another); once the page watches its view, none is.
    const inView = sent.slice(sent.findIndex((f) => f.type === 'watch-fleet' && f.bounds));
    return {
      atStart, away, back,
      bounds: inView.filter((f) => f.type === 'watch-fleet' && f.bounds).map((f) => f.bounds),
      watchedInView: inView.filter((f) => f.type === 'watch').length,
      errors: page.errors,
    };
  },

  // 250 rides: every one on the map, rows for the first 200, a line for the rest; clicking an
  // unlisted ride's vehicle gives it a row.
  async bigList(browser) {
    const page = await open(browser);
    const rides = ['1', '2', '3'].flatMap((routeId) => Array(84).fill({ routeId, speedKmh: 10 })).slice(0, 250);
    await rest('POST', '/api/rides/batch', { rides });
    const shown = () => page.evaluate(() => ({
      markers: [...window.rota.vehicles.layers.values()]
        .filter((layers) => layers.marker && window.rota.map.hasLayer(layers.marker)).length,
      rows: document.querySelectorAll('#rides li').length,
      more: document.getElementById('rides-more').hidden ? null : document.getElementById('rides-more').textContent,
    }));
    const all = await waitUntil(async () => {
      const now = await shown();
      return now.markers === 250 && now.more !== null && now.rows + Number.parseInt(now.more, 10) === 250 && now;
    }, 'every ride on the map and in the list or its count');
    await shot(page, 'big-list');
    const unlisted = await page.evaluate(() => {
      const listed = new Set([...document.querySelectorAll('#rides li')].map((li) => li.dataset.rideId));
      const id = [...window.rota.fleet.rides.keys()].find((rideId) => !listed.has(rideId));
      window.rota.vehicles.layers.get(id).marker.fire('click');
      return id;
    });
    await rideItem(page, unlisted).waitFor();
    const afterClick = await shown();
    const selectedRow = await page.locator('#rides li.selected').evaluateAll((li) => li.map((e) => e.dataset.rideId));
    return { all, unlisted, afterClick, selectedRow, errors: page.errors };
  },

  // The socket drops (the route refuses it) while a ride finishes; on reconnecting the page gets
  // the ride's end and its full path from the API.
  async reconnect(browser) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(String(e)));
    let down = false;
    const sockets = [];
    await page.routeWebSocket(/\/ws$/, (ws) => {
      if (down) return ws.close({ code: 1006 });
      sockets.push(ws);
      ws.connectToServer();
      return undefined;
    });
    await page.goto(base);
    await live(page);
    const started = await rest('POST', '/api/rides', { routeId: '1', speedKmh: 500 });
    await waitUntil(async () => (await pathLength(page, started.rideId)) > 20, 'the ride on the page');
    down = true;
    for (const ws of sockets) ws.close({ code: 1001 });
    const status = await waitUntil(async () => {
      const text = await page.locator('#connection').textContent();
      return text.startsWith('reconnecting') && text;
    }, 'the page to notice');
    const pathWhenDropped = await pathLength(page, started.rideId);
    const record = await waitUntil(async () => {
      const ride = await rest('GET', `/api/rides/${started.rideId}`);
      return ride.status === 'finished' && ride.path.length === ride.positions && ride;
    }, 'the ride to finish and be recorded while the page is away');
    down = false;
    await live(page);
    const caughtUp = await waitUntil(() => page.evaluate((id) => {
      const ride = window.rota.fleet.rides.get(id);
      return ride.status === 'finished' && { status: ride.status, path: ride.path.length };
    }, started.rideId), 'the page to catch up');
    const item = await rideItem(page, started.rideId).locator('small').textContent();
    return {
      status, pathWhenDropped, positions: record.positions, caughtUp, item,
      connections: sockets.length, errors: page.errors,
    };
  },
};

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
