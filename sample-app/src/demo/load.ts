/*
 * `npm run demo:load`: what write coalescing buys. Starts the built app in a child process (so
 * that the load generator and the app do not share an event loop), fires POST /events at it with
 * autocannon, once with `?batching=off` (one transaction per request) and once with batching on,
 * and prints both runs side by side. DEMO_CONNECTIONS (default 50) and DEMO_DURATION (seconds,
 * default 10) tune it. It only ever talks to 127.0.0.1, and stops by itself.
 */
import autocannon from 'autocannon';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startAppProcess, type AppProcess } from './app-process';
import { scrapeEventsCounters, type EventsCounters } from './events-counters';

const ROOT = resolve(__dirname, '..', '..', '..');
const CONNECTIONS = Number(process.env.DEMO_CONNECTIONS ?? 50);
const DURATION_S = Number(process.env.DEMO_DURATION ?? 10);
const BODY = JSON.stringify({ type: 'page_view', payload: { path: '/pricing', referrer: 'newsletter' } });

interface Run {
  label: string;
  result: autocannon.Result;
  before: EventsCounters;
  after: EventsCounters;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sample-app-load-'));
  const app = await startAppProcess([join(ROOT, 'sample-app', 'dist', 'main.js')], { PORT: '0', DATA_DIR: dataDir }, { cwd: ROOT });
  try {
    console.log(`POST /events against ${app.url}: ${CONNECTIONS} connections, ${DURATION_S} s per run`);
    console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, SQLite in WAL mode, synchronous=FULL, data in ${dataDir}\n`);
    await fire(app, 'on', 2); // warm-up: JIT, the database file, the first WAL pages
    const runs = [await measure(app, 'off'), await measure(app, 'on')];
    console.log(table(runs));
  } finally {
    const exit = await app.stop('SIGTERM');
    console.log(`\napp stopped on SIGTERM (${exit.signal ?? `code ${exit.code}`})`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function measure(app: AppProcess, batching: 'on' | 'off'): Promise<Run> {
  const before = await scrapeEventsCounters(app.url);
  const result = await fire(app, batching, DURATION_S);
  const after = await scrapeEventsCounters(app.url);
  return { label: `batching ${batching}`, result, before, after };
}

function fire(app: AppProcess, batching: 'on' | 'off', duration: number): Promise<autocannon.Result> {
  return autocannon({
    url: `${app.url}/events?batching=${batching}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    connections: CONNECTIONS,
    duration,
  });
}

function table(runs: Run[]): string {
  const rows: Array<[string, (run: Run) => string]> = [
    ['requests/s (mean)', ({ result }) => fixed(result.requests.average, 0)],
    ['requests completed', ({ result }) => String(result.requests.total)],
    ['latency p50 (ms)', ({ result }) => fixed(result.latency.p50, 1)],
    ['latency p90 (ms)', ({ result }) => fixed(result.latency.p90, 1)],
    ['latency p99 (ms)', ({ result }) => fixed(result.latency.p99, 1)],
    ['non-2xx / errors', ({ result }) => `${result.non2xx} / ${result.errors}`],
    ['SQLite transactions', ({ before, after }) => String(after.transactions - before.transactions)],
    ['mean batch size (rows/transaction)', ({ before, after }) => fixed((after.rows - before.rows) / Math.max(1, after.transactions - before.transactions), 1)],
    ['serving batches (mean size)', ({ before, after }) => servingBatches(before, after)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  const header = ''.padEnd(width) + runs.map((r) => r.label.padStart(16)).join('');
  return [header, ...rows.map(([name, cell]) => name.padEnd(width) + runs.map((r) => cell(r).padStart(16)).join(''))].join('\n');
}

function servingBatches(before: EventsCounters, after: EventsCounters): string {
  const batches = after.servingBatches - before.servingBatches;
  if (batches === 0) return 'none (inline)';
  return `${batches} (${fixed((after.servingValues - before.servingValues) / batches, 1)})`;
}

function fixed(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
