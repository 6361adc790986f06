'use strict';
/*
 * Interactive dispatches sharing a serving with a bulk backfill (short: about 10 s).
 *
 * One serving, batchSize 32, batchTimeout 5, 1 partition, a batch function that takes 2 ms (a
 * timer, as a model call would). An interactive caller dispatches one value every 5 ms, 150
 * times, and its latency is measured:
 *   idle          nothing else runs;
 *   bulk, p 10    a backfill keeps 2,000 values queued at priority 0 (dispatchMany of 500-value
 *                 chunks, topped up as they finish); the interactive values have priority 10;
 *   bulk, p 0     the same backfill, the interactive values without a priority.
 * Goal: under the backfill, the interactive p99 stays close to the idle serving's.
 *
 *   npm run bench:build && node bench/priority.js [--rounds N]
 */
const { BatchServing } = require('../dist');
const { median, percentile, table, machine, numberArg } = require('./lib/report');

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function scenario(bulk, priority) {
  const serving = BatchServing.start(
    BatchServing.new(async (values) => {
      await sleep(2);
      return values;
    }),
    { name: 'embed', batchSize: 32, batchTimeout: 5, maxQueueSize: 1_000_000 },
  );
  let running = bulk;
  const backfill = async () => {
    while (running) await serving.dispatchMany(Array.from({ length: 500 }, (_, i) => -i));
  };
  const fillers = bulk ? Array.from({ length: 4 }, backfill) : [];
  await sleep(20);
  const latencies = [];
  const pending = [];
  for (let i = 0; i < 150; i++) {
    const t0 = now();
    pending.push(serving.dispatch(i, { priority }).then(() => latencies.push(now() - t0)));
    await sleep(5);
  }
  await Promise.all(pending);
  running = false;
  await Promise.all(fillers);
  await serving.close('drain', 5000);
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function main() {
  const rounds = numberArg(process.argv.slice(2), '--rounds', 3);
  const results = { idle: [], high: [], plain: [] };
  for (let r = 0; r < rounds; r++) {
    results.idle.push(await scenario(false, 0));
    results.high.push(await scenario(true, 10));
    results.plain.push(await scenario(true, 0));
    process.stderr.write(`priority round ${r + 1}/${rounds}\n`);
  }
  const ms = (key, p) => median(results[key].map((x) => x[p])).toFixed(1);
  console.log(`\n${machine()}\n${rounds} rounds, medians; batchSize 32, batchTimeout 5, 1 partition, 2 ms batches\n`);
  console.log(
    table([
      ['interactive dispatch, one every 5 ms', 'p50 ms', 'p99 ms'],
      ['idle serving', ms('idle', 'p50'), ms('idle', 'p99')],
      ['under a backfill, priority 10', ms('high', 'p50'), ms('high', 'p99')],
      ['under a backfill, no priority', ms('plain', 'p50'), ms('plain', 'p99')],
    ]),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
