// Drives the web map in headless Chromium against a running platform: the page loads with the
// route list, a click starts a ride, a vehicle marker appears and moves, the rides list shows the
// ride, and a toast says it finished. Every request off the platform (map tiles) is refused, as
// offline, so this also proves the page works without tiles.
//
// Usage: node smoke.cjs BASE_URL ARTIFACT_DIR   (prints a JSON summary; exits non-zero on failure)
// CommonJS so NODE_PATH finds playwright-core in the test environment.
const { chromium } = require('playwright-core');

async function main() {
  const [, , base, artifacts] = process.argv;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    let refused = 0;
    await page.route('**/*', (route) => {
      if (route.request().url().startsWith(base)) return route.continue();
      refused += 1;
      return route.abort('internetdisconnected');
    });

    await page.goto(base);
    await page.getByText('live', { exact: true }).waitFor();
    const routes = await page.locator('#routes li strong').allTextContents();
    await page.getByRole('button', { name: 'Start a ride on Terceiro' }).click();
    const ride = page.locator('#rides .ride').first();
    await ride.waitFor();
    const marker = page.locator('.leaflet-marker-icon').first();
    await marker.waitFor();
    const first = await marker.evaluate((e) => e.style.transform);
    await page.waitForFunction((t) => document.querySelector('.leaflet-marker-icon').style.transform !== t, first);
    await page.screenshot({ path: `${artifacts}/map-driving.png` });
    const toast = page.locator('.toast', { hasText: 'finished' });
    await toast.waitFor({ timeout: 30000 });
    const status = await ride.locator('small').textContent();
    const rideTitle = await ride.locator('strong').textContent();
    const toastText = await toast.textContent();
    await page.screenshot({ path: `${artifacts}/map-finished.png` });

    // A ride started elsewhere (REST), then a page refresh mid-ride: the page shows it with the
    // whole path driven so far, not just what arrives after the refresh.
    const started = await fetch(`${base}/api/rides`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ routeId: '1', speedKmh: 400 }),
    }).then((r) => r.json());
    const rideState = () => fetch(`${base}/api/rides/${started.rideId}`).then((r) => r.json());
    while ((await rideState()).positions < 50) await page.waitForTimeout(100);
    const before = (await rideState()).positions;
    await page.reload();
    await page.getByText('live', { exact: true }).waitFor();
    const trailPoints = () => page.evaluate((id) => window.rota.rides.get(id)?.trail.getLatLngs().length ?? 0, started.rideId);
    await page.waitForFunction((id) => window.rota.rides.get(id)?.trail.getLatLngs().length > 0, started.rideId);
    const afterRefresh = { positionsBefore: before, trailPoints: await trailPoints(),
      title: await page.locator('#rides .ride strong').first().textContent(), status: (await rideState()).status };
    await page.waitForTimeout(500); // let the map's fit-to-routes zoom settle for the picture
    await page.screenshot({ path: `${artifacts}/map-after-refresh.png` });

    console.log(JSON.stringify({
      routes, rideTitle, status,
      toast: toastText, afterRefresh, refused, errors,
    }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
