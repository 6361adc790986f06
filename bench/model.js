'use strict';
/*
 * The sample app's real model (USE-lite) through a serving, on this machine:
 *
 *   throughput   values/s embedding short texts (about 8 tokens) with no batching (batchSize 1,
 *                one worker partition), batching on one worker partition (batchSize 16) and on
 *                two (partitions 2). Goals: batching >= 2.5x no batching; 2 partitions >= 1.7x 1.
 *   event loop   p99 of the main thread's event-loop delay (perf_hooks.monitorEventLoopDelay,
 *                resolution 1 ms) while the model computes, batching inline (BatchServing.new
 *                running the model on the main thread) against the worker serving with 2
 *                partitions. Goal p99 < 20 ms with workers.
 *
 * Every contender embeds the same texts, after a warm-up pass; medians of `--rounds` rounds.
 * `npm run bench:model` (builds the package and the sample app first).
 *   node bench/model.js [--quick] [--rounds N] [--values N]
 */
const os = require('node:os');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { BatchServing } = require('../dist');
const { embed } = require('../sample-app/dist/index-jobs/embed.serving');
const { embedTexts, loadModel } = require('../sample-app/dist/index-jobs/use-lite');
const { median, table, machine, numberArg, runMain } = require('./lib/report');

/** Short texts, distinct so that nothing could be cached: about 8 tokens each. */
const texts = (n) => Array.from({ length: n }, (_, i) => `the quick brown fox number ${i} jumps again`);

async function measure(running, values, rounds) {
  await running.dispatchMany(texts(32)); // warm-up: the first calls of a thread compile kernels
  const rates = [];
  const delays = [];
  for (let r = 0; r < rounds; r++) {
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const start = performance.now();
    // Every value dispatched at once, each its own caller, as concurrent requests would.
    await Promise.all(texts(values).map((t) => running.dispatch(t)));
    rates.push(values / ((performance.now() - start) / 1000));
    // A run that never yields to the timer phase has no sample yet: the first timer after it is one.
    await new Promise((resolve) => setTimeout(resolve, 5));
    histogram.disable();
    delays.push(histogram.percentile(99) / 1e6);
  }
  return { rate: median(rates), p99: median(delays) };
}

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const rounds = numberArg(argv, '--rounds', quick ? 1 : 3);
  const values = numberArg(argv, '--values', quick ? 32 : 96);

  const model = await loadModel();
  const contenders = [
    ['no batching, 1 worker partition (batchSize 1)', embed, { batchSize: 1, partitions: 1 }],
    ['batching, 1 worker partition (batchSize 16)', embed, { batchSize: 16, partitions: 1 }],
    ['batching, 2 worker partitions (batchSize 16)', embed, { batchSize: 16, partitions: 2 }],
    ['batching inline, main thread (batchSize 16)', BatchServing.new((batch) => embedTexts(model, batch)), { batchSize: 16, partitions: 1 }],
  ];
  const results = [];
  for (const [name, serving, options] of contenders) {
    const running = BatchServing.start(serving, { name: 'embed', batchTimeout: 10, ...options });
    await running.ready();
    results.push({ name, ...(await measure(running, values, rounds)) });
    await running.close('drain', 10_000);
  }
  const [unbatched, one, two, inline] = results;
  console.log(`${machine()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${rounds} rounds of ${values} short texts\n`);
  console.log(
    table([
      ['contender', 'values/s', 'event-loop p99 (ms)'],
      ...results.map((r) => [r.name, r.rate.toFixed(1), r.p99.toFixed(1)]),
    ]),
  );
  console.log(`\nbatching vs no batching: ${(one.rate / unbatched.rate).toFixed(2)}x (goal >= 2.5x)`);
  console.log(`2 partitions vs 1: ${(two.rate / one.rate).toFixed(2)}x (goal >= 1.7x)`);
  console.log(`event-loop p99, workers ${two.p99.toFixed(1)} ms against inline ${inline.p99.toFixed(1)} ms (goal < 20 ms with workers)`);
}

runMain(main);
