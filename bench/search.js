'use strict';
/*
 * GET /search of the sample app, on the real model: latency p50/p99 of sequential queries, idle
 * and while an indexing job of the whole corpus runs on the same `embed` serving; each with the
 * app's search priority (10, over indexing's 0) and again with the search's priority set to 0, to
 * show what priority buys. The second is the app unchanged but for its BatchServingClient, whose
 * dispatch this bench wraps to pass priority 0 (what the app did before priority existed).
 *
 * The app runs in this process (the compiled sample app, port 0, a temporary data directory); the
 * corpus is indexed once first, so that every query searches 230 documents or more.
 * `npm run bench:search` (builds the package and the sample app first).
 * The indexing job's own rate (documents/s) is reported next to it: what a search's latency costs
 * the backfill. `--batch-size N` and `--max-batch-cost N` run the app with the embed serving's
 * batchSize or maxBatchCost set to N instead of its own (EMBED is read when the app starts): a
 * smaller batch holds a partition for less time, which is what a search waits for under indexing.
 *   node bench/search.js [--quick] [--queries N] [--copies N] [--batch-size N] [--max-batch-cost TOKENS]
 */
require('reflect-metadata');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { NestFactory } = require('@nestjs/core');
const { AppModule } = require('../sample-app/dist/app.module');
const { EMBED } = require('../sample-app/dist/index-jobs/embed.serving');
const { readCorpus } = require('../sample-app/dist/search/corpus');
const { BatchServingClient } = require('../dist');
const { percentile, table, machine, numberArg, runMain } = require('./lib/report');

const QUERIES = ['cats asleep in the sun', 'share prices fell', 'rockets and planets', 'how to bake bread', 'a slow database query'];

async function post(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}

/** Resolves when the job's SSE stream ends (its last event is done or failed). */
async function finished(url) {
  const res = await fetch(url);
  await res.text();
}

async function latencies(base, count) {
  const ms = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const res = await fetch(`${base}/search?q=${encodeURIComponent(QUERIES[i % QUERIES.length])}&k=5`);
    await res.json();
    ms.push(performance.now() - start);
  }
  return ms.sort((a, b) => a - b);
}

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const queries = numberArg(argv, '--queries', quick ? 10 : 100);
  const copies = numberArg(argv, '--copies', quick ? 2 : 8);
  Object.assign(EMBED, { batchSize: numberArg(argv, '--batch-size', EMBED.batchSize), maxBatchCost: numberArg(argv, '--max-batch-cost', EMBED.maxBatchCost) });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-search-'));
  const app = await NestFactory.create(AppModule.register({ port: 0, dataDir, eventsBatching: true, shutdownTimeoutMs: 30_000 }), { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  try {
    const corpus = readCorpus();
    const first = await post(`${base}/index-jobs`, { userId: 'bench', documents: corpus });
    await finished(`${base}${first.events}`);
    await latencies(base, 5); // warm-up

    // Without priority: every dispatch of the app at priority 0, searches and indexing alike.
    const client = app.get(BatchServingClient);
    const dispatch = client.dispatch;
    const withPriority = (on) => (client.dispatch = on ? dispatch : (name, value, options) => dispatch.call(client, name, value, { ...options, priority: 0 }));

    const rows = [];
    for (const on of [true, false]) {
      withPriority(on);
      const label = on ? 'search at priority 10' : 'search at priority 0';
      const idle = await latencies(base, queries);
      // Under load: the corpus again, `copies` times over (1,840 documents by default: long enough
      // to outlast the queries), as jobs of at most 4 copies (a request body is at most 100 kB),
      // indexing while the queries run.
      const jobs = Array.from({ length: Math.ceil(copies / 4) }, (_, j) => Array.from({ length: Math.min(4, copies - 4 * j) }, () => corpus).flat());
      const documents = jobs.flat();
      const jobStart = performance.now();
      const posted = await Promise.all(jobs.map((job, j) => post(`${base}/index-jobs`, { userId: `bulk-${j}`, documents: job })));
      const indexing = Promise.all(posted.map((job) => finished(`${base}${job.events}`))).then(() => performance.now() - jobStart);
      const busy = await latencies(base, queries);
      const jobStillRan = await Promise.race([indexing.then(() => false), new Promise((r) => setTimeout(() => r(true), 0))]);
      const jobMs = await indexing;
      rows.push([`${label}, idle`, percentile(idle, 50).toFixed(1), percentile(idle, 99).toFixed(1), '']);
      rows.push([`${label}, during indexing jobs of ${documents.length} documents${jobStillRan ? '' : ' (ended before the last query)'}`, percentile(busy, 50).toFixed(1), percentile(busy, 99).toFixed(1), ((documents.length / jobMs) * 1000).toFixed(1)]);
    }
    withPriority(true);

    console.log(`${machine()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${queries} sequential queries, k 5; embed batchSize ${EMBED.batchSize}, maxBatchCost ${EMBED.maxBatchCost}\n`);
    console.log(table([['GET /search', 'p50 (ms)', 'p99 (ms)', 'indexing job (documents/s)'], ...rows]));
  } finally {
    await app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

runMain(main);
