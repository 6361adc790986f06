'use strict';
/*
 * End to end: the sample app's POST /events under autocannon, batching off (`?batching=off`: one
 * SQLite transaction per request) and on (the `events` serving coalesces the writes), in one run
 * against one app process. The same code as `npm run demo:load` (sample-app/src/demo/), taken from
 * its build: the app runs in a child process, so load generator and app do not share a loop. Runs
 * alternate off/on, several rounds; requests/s and p99 are medians over the rounds.
 *
 *   node bench/e2e.js [--quick] [--json] [--rounds N] [--seconds S] [--connections N]
 * Needs the built app: `tsc -p sample-app/tsconfig.json` (npm run bench does it).
 */
const autocannon = require('autocannon');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');
const { ROOT, median, table, numberArg, emitJson, runMain } = require('./lib/report');
const { startAppProcess } = require('../sample-app/dist/demo/app-process');
const { scrapeEventsCounters } = require('../sample-app/dist/demo/events-counters');

const BODY = JSON.stringify({ type: 'page_view', payload: { path: '/pricing', referrer: 'newsletter' } });

function fire(url, batching, connections, duration) {
  return autocannon({
    url: `${url}/events?batching=${batching}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    connections,
    duration,
  });
}

async function measure(url, batching, connections, duration) {
  const before = await scrapeEventsCounters(url);
  const result = await fire(url, batching, connections, duration);
  const after = await scrapeEventsCounters(url);
  const transactions = after.transactions - before.transactions;
  return {
    rps: result.requests.average,
    p99Ms: result.latency.p99,
    p50Ms: result.latency.p50,
    failed: result.non2xx + result.errors,
    rowsPerTransaction: (after.rows - before.rows) / Math.max(1, transactions),
  };
}

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const rounds = numberArg(argv, '--rounds', quick ? 1 : 3);
  const seconds = numberArg(argv, '--seconds', quick ? 1 : 5);
  const connections = numberArg(argv, '--connections', 50);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-e2e-'));
  const app = await startAppProcess([path.join(ROOT, 'sample-app', 'dist', 'main.js')], { PORT: '0', DATA_DIR: dataDir }, { cwd: ROOT });
  const runs = { off: [], on: [] };
  try {
    await fire(app.url, 'on', connections, quick ? 1 : 2); // warm-up: JIT, the database file, the first WAL pages
    for (let r = 0; r < rounds; r++) {
      for (const batching of r % 2 ? ['on', 'off'] : ['off', 'on']) {
        const m = await measure(app.url, batching, connections, seconds);
        runs[batching].push(m);
        process.stderr.write(`e2e round ${r + 1}/${rounds} batching ${batching}: ${m.rps.toFixed(0)} req/s, p99 ${m.p99Ms} ms, ${m.rowsPerTransaction.toFixed(1)} rows/transaction, ${m.failed} failed\n`);
      }
    }
  } finally {
    await app.stop('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
  const summary = (xs) => ({
    rps: median(xs.map((x) => x.rps)),
    p99Ms: median(xs.map((x) => x.p99Ms)),
    p50Ms: median(xs.map((x) => x.p50Ms)),
    failed: xs.reduce((a, x) => a + x.failed, 0),
    rowsPerTransaction: median(xs.map((x) => x.rowsPerTransaction)),
  });
  const figures = {
    rounds,
    seconds,
    connections,
    off: summary(runs.off),
    on: summary(runs.on),
    rpsRatio: median(runs.on.map((on, r) => on.rps / runs.off[r].rps)),
  };
  if (figures.off.failed + figures.on.failed > 0) throw new Error(`${figures.off.failed + figures.on.failed} requests failed`);
  if (argv.includes('--json')) return emitJson(figures);
  const rows = [['POST /events', 'requests/s', 'p50 ms', 'p99 ms', 'rows/transaction']];
  for (const k of ['off', 'on']) rows.push([`batching ${k}`, figures[k].rps.toFixed(0), figures[k].p50Ms, figures[k].p99Ms, figures[k].rowsPerTransaction.toFixed(1)]);
  console.log(`\n${table(rows)}\n\nbatching on / off: ${figures.rpsRatio.toFixed(2)}x requests/s`);
}

runMain(main);
