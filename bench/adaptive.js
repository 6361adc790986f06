'use strict';
/*
 * The adaptive window against fixed windows and batchTimeout 0, in one process and one run,
 * contenders interleaved within every round (about 8 s a round).
 *
 *   contenders   zero      batchTimeout 0 (a batch per turn)
 *                fixed     batchTimeout 10, window 'fixed'
 *                adaptive  batchTimeout 10, window 'adaptive'
 *
 *   The rules measured for `window: 'adaptive'` before one was kept (BENCHMARKS.md, issue 11) run
 *   side by side in this file at commit c65cf08: `git checkout c65cf08 && npm run bench:build &&
 *   node bench/adaptive.js` (arrivals, linear, linear+fill; the last is the rule kept).
 *
 *   lone caller   one caller in a loop, `await dispatch(v)`, identity batch function: latency per
 *                 dispatch (µs). Goal: adaptive p50 within 50 µs of batchTimeout 0.
 *   saturation    64 callers in a loop against batchSize 32, 2 partitions, a batch function that
 *                 takes 2 ms (a timer, as a model call would): mean batch size, adaptive / fixed.
 *                 Goal: at least 95%.
 *   steady        an open-loop source for 600 ms, batchSize 32: a batch of 2 ms at
 *                 2 values/ms (on 1 and on 2 partitions), and a batch of 1 ms + 0.2 ms per value
 *                 at 2 and at 3.5 values/ms.
 *                 Mean batch size, wait of a batch's oldest value (mean, p99), latency of a value
 *                 (dispatch to result: mean, p99), throughput (values per ms, first dispatch to
 *                 last result), busy (the partitions' time in batches over the run's).
 *
 *   npm run bench:build && node bench/adaptive.js [--rounds N]
 */
const os = require('node:os');
const { BatchServing } = require('../dist');
const { median, percentile, table, machine, numberArg, revision } = require('./lib/report');

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits `ms` to the tenth of a millisecond: a timer for the whole milliseconds, then turns of the loop. */
async function hold(ms) {
  const until = now() + ms;
  if (ms >= 1) await sleep(Math.floor(ms));
  while (now() < until) await new Promise((resolve) => setImmediate(resolve));
}
const fixedModel = async (values) => {
  await hold(2);
  return values;
};
const linearModel = async (values) => {
  await hold(1 + 0.2 * values.length);
  return values;
};

const CONTENDERS = {
  zero: { batchTimeout: 0 },
  fixed: { batchTimeout: 10, window: 'fixed' },
  adaptive: { batchTimeout: 10, window: 'adaptive' },
};

function start(fn, contender, options) {
  return BatchServing.start(BatchServing.new(fn), { name: contender, batchSize: 32, ...CONTENDERS[contender], ...options });
}

async function loneCaller(contender, n) {
  const serving = start((values) => values, contender, {});
  const latencies = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await serving.dispatch(i);
    latencies.push((now() - t0) * 1000);
  }
  await serving.close('drain', 1000);
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Batches and values while `load` runs: sizes, waits, latencies, throughput, why batches closed. */
async function under(contender, fn, options, load) {
  const serving = start(fn, contender, options);
  const starts = [];
  let runMs = 0;
  serving.telemetry().subscribe((e) => (e.type === 'start' ? starts.push(e) : (runMs += e.runMs)));
  const latencies = [];
  const dispatch = (v) => {
    const t0 = now();
    return serving.dispatch(v).then(() => latencies.push(now() - t0));
  };
  const t0 = now();
  await load(dispatch);
  const elapsed = now() - t0;
  await serving.close('drain', 5000);
  const waits = starts.map((e) => e.waitMs).sort((a, b) => a - b);
  latencies.sort((a, b) => a - b);
  const mean = (xs) => xs.reduce((sum, x) => sum + x, 0) / xs.length;
  const closedBy = {};
  for (const e of starts) closedBy[e.closedBy] = (closedBy[e.closedBy] ?? 0) + 1;
  return {
    size: mean(starts.map((e) => e.size)),
    wait: mean(waits),
    wait99: percentile(waits, 99),
    latency: mean(latencies),
    latency99: percentile(latencies, 99),
    throughput: latencies.length / elapsed,
    busy: (100 * runMs) / (elapsed * (options.partitions ?? 1)),
    batches: starts.length,
    closedBy,
  };
}

const saturate = async (dispatch) => {
  const until = now() + 600;
  const caller = async () => {
    while (now() < until) await dispatch(1);
  };
  await Promise.all(Array.from({ length: 64 }, caller));
};

/** An open-loop source of `rate` values per ms for 600 ms; resolves when every value has its result. */
const steady = (rate) => async (dispatch) => {
  const begin = now();
  let sent = 0;
  const pending = [];
  while (now() - begin < 600) {
    const due = Math.floor((now() - begin) * rate);
    for (; sent < due; sent++) pending.push(dispatch(sent));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(pending);
};

const LOADS = [
  { name: 'saturation, 64 callers, 2 partitions, 2 ms batches', fn: fixedModel, options: { partitions: 2 }, load: saturate },
  { name: 'steady 2 values/ms, 2 ms batches', fn: fixedModel, options: {}, load: steady(2) },
  { name: 'steady 2 values/ms, 2 ms batches, 2 partitions', fn: fixedModel, options: { partitions: 2 }, load: steady(2) },
  { name: 'steady 2 values/ms, 1 ms + 0.2 ms/value', fn: linearModel, options: {}, load: steady(2) },
  { name: 'steady 3.5 values/ms, 1 ms + 0.2 ms/value', fn: linearModel, options: {}, load: steady(3.5) },
];

/** The contenders in a different order each round, so that none always runs first or last. */
const rotate = (xs, r) => xs.map((_, i) => xs[(i + r) % xs.length]);

async function main() {
  const rounds = numberArg(process.argv.slice(2), '--rounds', 5);
  const names = Object.keys(CONTENDERS);
  const lone = Object.fromEntries(names.map((c) => [c, []]));
  const loads = LOADS.map(() => Object.fromEntries(names.map((c) => [c, []])));
  const loadBefore = os.loadavg()[0];
  for (let r = 0; r < rounds; r++) {
    for (const c of rotate(names, r)) lone[c].push(await loneCaller(c, c === 'fixed' ? 30 : 3000));
    for (let l = 0; l < LOADS.length; l++) {
      const { fn, options, load } = LOADS[l];
      for (const c of rotate(names, r)) loads[l][c].push(await under(c, fn, options, load));
    }
    process.stderr.write(`adaptive round ${r + 1}/${rounds}, load ${os.loadavg()[0].toFixed(2)}\n`);
  }
  const med = (xs, key, digits) => median(xs.map((x) => x[key])).toFixed(digits);
  console.log(`\n${machine()}, ${revision()}\n${rounds} rounds, medians; load average (1 min) ${loadBefore.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} after\n`);
  console.log(
    table([
      ['lone caller, identity batch function', 'p50 µs', 'p99 µs'],
      ...names.map((c) => [c, med(lone[c], 'p50', 0), med(lone[c], 'p99', 0)]),
    ]),
  );
  for (let l = 0; l < LOADS.length; l++) {
    const runs = loads[l];
    const last = (c) => Object.entries(runs[c].at(-1).closedBy).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(
      `\n${table([
        [LOADS[l].name, 'batch size', 'wait ms', 'wait p99', 'latency ms', 'latency p99', 'values/ms', 'busy %', 'closedBy (last round)'],
        ...names.map((c) => [
          c,
          med(runs[c], 'size', 1),
          med(runs[c], 'wait', 2),
          med(runs[c], 'wait99', 2),
          med(runs[c], 'latency', 2),
          med(runs[c], 'latency99', 2),
          med(runs[c], 'throughput', 2),
          med(runs[c], 'busy', 0),
          last(c),
        ]),
      ])}`,
    );
  }
  const size = (l, c) => median(loads[l][c].map((x) => x.size));
  const p50 = median(lone.adaptive.map((x) => x.p50)) - median(lone.zero.map((x) => x.p50));
  console.log(`\nadaptive: lone caller p50 minus batchTimeout 0: ${p50.toFixed(0)} µs; saturation batch size / fixed: ${((100 * size(0, 'adaptive')) / size(0, 'fixed')).toFixed(1)}%`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
