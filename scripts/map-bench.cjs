// Measures the web map in headless Chromium while RIDES rides drive (see scripts/map-bench).
// Usage: node map-bench.cjs BASE_URL RIDES SECONDS
const { chromium } = require('playwright-core');

const [, , base, rides, seconds] = process.argv;

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--enable-precise-memory-info'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(base);
  await page.locator('#connection.live').waitFor();
  const routes = ['1', '2', '3'];
  const asked = Date.now();
  for (let i = 0; i < Number(rides); i += 1000) {
    const batch = Array.from({ length: Math.min(1000, rides - i) }, (_, k) => ({ routeId: routes[(i + k) % 3] }));
    const response = await fetch(`${base}/api/rides/batch`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rides: batch }),
    });
    if (response.status !== 202) throw new Error(`starting rides: ${response.status} ${await response.text()}`);
  }
  const started = Date.now() - asked;
  // Every ride driving, as the server counts them (a big fleet's page holds only those in view).
  await page.waitForFunction((n) => window.rota.fleet.counts.running >= n, Number(rides), { timeout: 300000 });
  await page.waitForTimeout(5000); // warm-up
  const figures = await page.evaluate((ms) => new Promise((resolve) => {
    const frames = [];
    const ages = [];
    const draws = [];
    const longTasks = [];
    let drawn = 0;
    const observer = new PerformanceObserver((list) => longTasks.push(...list.getEntries().map((e) => e.duration)));
    observer.observe({ type: 'longtask' });
    const { fleet } = window.rota;
    const draw = fleet.draw;
    fleet.draw = (changed) => {
      const start = performance.now();
      draw(changed);
      draws.push(performance.now() - start);
      const now = Date.now();
      for (const ride of changed) if (ride.timestamp) ages.push(now - ride.timestamp);
      drawn += changed.length;
    };
    let last = performance.now();
    const end = last + ms;
    const frame = (t) => {
      frames.push(t - last);
      last = t;
      if (t < end) return requestAnimationFrame(frame);
      observer.disconnect();
      fleet.draw = draw;
      const pct = (xs, p) => {
        const s = [...xs].sort((a, b) => a - b);
        return Math.round(s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0);
      };
      return resolve({
        fps: Math.round(frames.length / (ms / 1000)),
        frameMs: { p50: pct(frames, 0.5), p99: pct(frames, 0.99), max: pct(frames, 1) },
        drawMs: { p50: pct(draws, 0.5), p99: pct(draws, 0.99), max: pct(draws, 1) },
        positionAgeOnScreenMs: { p50: pct(ages, 0.5), p99: pct(ages, 0.99), max: pct(ages, 1) },
        ridesRedrawnPerSecond: Math.round(drawn / (ms / 1000)),
        longTasks: longTasks.length,
        longTaskMsTotal: Math.round(longTasks.reduce((a, b) => a + b, 0)),
        heapMiB: Math.round(performance.memory.usedJSHeapSize / 2 ** 20),
        domNodes: document.getElementsByTagName('*').length,
        ridesInView: fleet.counts.inView,
      });
    };
    return requestAnimationFrame(frame);
  }), Number(seconds) * 1000);
  console.log(JSON.stringify({ rides: Number(rides), seconds: Number(seconds), startedMs: started, ...figures }, null, 2));
  await browser.close();
}

// Exits once done: an idle keep-alive connection to the api must not hold the process open.
main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
