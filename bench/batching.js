'use strict';
/*
 * Batching efficiency: what dynamic batching delivers against its ideal, on a batch function that
 * behaves like a remote API: a fixed 2 ms per call plus 20 µs per value, spent waiting (the event
 * loop stays free, so partitions overlap), not computing.
 *
 *   load        1,000 concurrent callers, each looping `await dispatch(v)`, 20,000 values,
 *               batchSize 100, batchTimeout 0, partitions 1 and 4.
 *   ideal       partitions x batchSize / (2 ms + batchSize x 20 µs): every partition always busy
 *               with a full batch.
 *   no batching the same serving at batchSize 1 (fewer values: at 2.02 ms a value it is slow).
 *
 * Modelling 2 ms + 20 µs x n with timers: setTimeout has a 1 ms granularity and fires up to a
 * millisecond late, so `setTimeout(2 + 0.02 n)` would cost 3-5 ms for 4 ms. The batch function
 * therefore waits on setTimeout for the whole milliseconds below its cost minus one, then polls
 * `performance.now()` from setImmediate until the exact deadline: the cost is 2 ms + 20 µs x n to
 * within a few µs, and the event loop stays free throughout (a busy-wait would serialize partitions).
 *
 *   node bench/batching.js [--quick] [--json] [--rounds N] [--values N] [--unbatched N]
 */
const { BatchServing } = require('../dist');
const { median, table, numberArg, emitJson, runMain } = require('./lib/report');

const CONCURRENCY = 1000;
const BATCH_SIZE = 100;
const FIXED_MS = 2;
const PER_VALUE_MS = 0.02;

/** Resolves FIXED_MS + n x PER_VALUE_MS after the call, waiting the way a remote call does. */
function remoteCost(n) {
  const cost = FIXED_MS + n * PER_VALUE_MS;
  const deadline = performance.now() + cost;
  return new Promise((resolve) => {
    const poll = () => (performance.now() >= deadline ? resolve() : setImmediate(poll));
    const whole = Math.floor(cost) - 1;
    if (whole >= 1) setTimeout(poll, whole);
    else setImmediate(poll);
  });
}

/** Time actually spent in batch functions of a full batch: on a loaded machine timers run late. */
const spent = { ms: 0, calls: 0 };

const remote = BatchServing.new(async (values) => {
  const t0 = performance.now();
  await remoteCost(values.length);
  if (values.length === BATCH_SIZE) {
    spent.ms += performance.now() - t0;
    spent.calls++;
  }
  return values;
});

async function caller(serving, next) {
  let v;
  while ((v = next()) !== undefined) if ((await serving.dispatch(v)) !== v) throw new Error('wrong result');
}

/** values/s of `total` values through the remote serving, CONCURRENCY callers at a time. */
async function run(batchSize, partitions, total) {
  const serving = BatchServing.start(remote, { name: 'remote', batchSize, partitions, batchTimeout: 0, maxQueueSize: 100_000 });
  let issued = 0;
  const next = () => (issued < total ? issued++ : undefined);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, total) }, () => caller(serving, next)));
  const seconds = (performance.now() - t0) / 1000;
  const stats = serving.stats();
  await serving.close('drain', 1000);
  if (stats.values !== total) throw new Error(`expected ${total} values executed, got ${stats.values}`);
  return { rate: total / seconds, meanBatchSize: stats.meanBatchSize };
}

const ideal = (batchSize, partitions) => (partitions * batchSize) / ((FIXED_MS + batchSize * PER_VALUE_MS) / 1000);

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const rounds = numberArg(argv, '--rounds', quick ? 1 : 3);
  const values = numberArg(argv, '--values', quick ? 2_000 : 20_000);
  const unbatched = numberArg(argv, '--unbatched', quick ? 100 : 2_000);
  await run(BATCH_SIZE, 4, Math.min(values, 2_000)); // warm-up
  const results = [];
  for (const partitions of [1, 4]) {
    const batched = [];
    const single = [];
    const sizes = [];
    spent.ms = 0;
    spent.calls = 0;
    for (let r = 0; r < rounds; r++) {
      const b = await run(BATCH_SIZE, partitions, values);
      const s = await run(1, partitions, unbatched);
      batched.push(b.rate);
      sizes.push(b.meanBatchSize);
      single.push(s.rate);
      process.stderr.write(`batching partitions ${partitions} round ${r + 1}/${rounds}: batched ${b.rate.toFixed(0)} values/s (mean batch ${b.meanBatchSize.toFixed(1)}), unbatched ${s.rate.toFixed(0)} values/s\n`);
    }
    const rate = median(batched);
    results.push({
      partitions,
      values,
      unbatchedValues: unbatched,
      rate,
      ideal: ideal(BATCH_SIZE, partitions),
      ofIdeal: rate / ideal(BATCH_SIZE, partitions),
      unbatchedRate: median(single),
      unbatchedIdeal: ideal(1, partitions),
      vsUnbatched: median(batched.map((b, r) => b / single[r])),
      meanBatchSize: median(sizes),
      // What the batch function of a full batch really took (model: 2 ms + batchSize x 20 µs).
      measuredCostMs: spent.ms / spent.calls,
      modelCostMs: FIXED_MS + BATCH_SIZE * PER_VALUE_MS,
    });
  }
  const figures = { concurrency: CONCURRENCY, batchSize: BATCH_SIZE, rounds, results };
  if (argv.includes('--json')) return emitJson(figures);
  const rows = [['partitions', 'values/s', 'ideal', 'of ideal', 'batchSize 1 values/s', 'batched / unbatched', 'mean batch']];
  for (const r of results) {
    rows.push([r.partitions, r.rate.toFixed(0), r.ideal.toFixed(0), `${(100 * r.ofIdeal).toFixed(1)}%`, r.unbatchedRate.toFixed(0), `${r.vsUnbatched.toFixed(1)}x`, r.meanBatchSize.toFixed(1)]);
  }
  console.log(`\n${table(rows)}`);
}

runMain(main);
