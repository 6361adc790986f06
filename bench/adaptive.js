'use strict';
/*
 * The adaptive window against fixed windows, in one process and one run (short: about 10 s).
 *
 *   lone caller   one caller in a loop, `await dispatch(v)`, identity batch function: latency per
 *                 dispatch (µs) with batchTimeout 0, batchTimeout 10 adaptive, batchTimeout 10 fixed.
 *                 Goal: adaptive p50 within 50 µs of batchTimeout 0.
 *   saturation    64 callers in a loop against batchSize 32, 2 partitions, a batch function that
 *                 takes 2 ms (a timer, as a model call would): mean batch size, adaptive / fixed.
 *                 Goal: at least 95%.
 *   steady rate   an open-loop source of 2 values per ms for 600 ms, batchSize 32, batchTimeout
 *                 10, the same 2 ms batch function: mean batch size and mean wait, adaptive / fixed.
 *
 *   npm run bench:build && node bench/adaptive.js [--rounds N]
 */
const { BatchServing } = require('../dist');
const { median, percentile, table, machine, numberArg } = require('./lib/report');

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const model = async (values) => {
  await sleep(2);
  return values;
};

async function loneCaller(options, n) {
  const serving = BatchServing.start(BatchServing.new((values) => values), { name: 'lone', batchSize: 32, ...options });
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

/** Starts of batches while `load` runs: their mean size and the reasons they closed. */
async function batchesUnder(window, options, load) {
  const serving = BatchServing.start(BatchServing.new(model), { name: 'load', batchSize: 32, batchTimeout: 10, window, ...options });
  const starts = [];
  serving.telemetry().subscribe((e) => e.type === 'start' && starts.push(e));
  await load(serving);
  await serving.close('drain', 5000);
  const size = starts.reduce((sum, e) => sum + e.size, 0) / starts.length;
  const wait = starts.reduce((sum, e) => sum + e.waitMs, 0) / starts.length;
  const closedBy = {};
  for (const e of starts) closedBy[e.closedBy] = (closedBy[e.closedBy] ?? 0) + 1;
  return { size, wait, batches: starts.length, closedBy };
}

async function saturate(serving) {
  const until = now() + 600;
  const caller = async () => {
    while (now() < until) await serving.dispatch(1);
  };
  await Promise.all(Array.from({ length: 64 }, caller));
}

async function steady(serving) {
  const rate = 2; // values per ms
  const start = now();
  let sent = 0;
  const pending = [];
  while (now() - start < 600) {
    const due = Math.floor((now() - start) * rate);
    for (; sent < due; sent++) pending.push(serving.dispatch(sent));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(pending);
}

const describe = (r) => `${Object.entries(r.closedBy).map(([k, v]) => `${k} ${v}`).join(', ')}`;

async function main() {
  const rounds = numberArg(process.argv.slice(2), '--rounds', 3);
  const lone = { zero: [], adaptive: [], fixed: [] };
  const load = { satFixed: [], satAdaptive: [], steadyFixed: [], steadyAdaptive: [] };
  let last;
  for (let r = 0; r < rounds; r++) {
    lone.zero.push(await loneCaller({ batchTimeout: 0 }, 3000));
    lone.adaptive.push(await loneCaller({ batchTimeout: 10, window: 'adaptive' }, 3000));
    lone.fixed.push(await loneCaller({ batchTimeout: 10 }, 30));
    last = {
      satFixed: await batchesUnder('fixed', { partitions: 2 }, saturate),
      satAdaptive: await batchesUnder('adaptive', { partitions: 2 }, saturate),
      steadyFixed: await batchesUnder('fixed', {}, steady),
      steadyAdaptive: await batchesUnder('adaptive', {}, steady),
    };
    for (const k of Object.keys(load)) load[k].push(last[k]);
    process.stderr.write(`adaptive round ${r + 1}/${rounds}\n`);
  }
  const us = (xs, key) => median(xs.map((x) => x[key])).toFixed(0);
  console.log(`\n${machine()}\n${rounds} rounds, medians\n`);
  console.log(
    table([
      ['lone caller, identity batch function', 'p50 µs', 'p99 µs'],
      ['batchTimeout 0', us(lone.zero, 'p50'), us(lone.zero, 'p99')],
      ["batchTimeout 10, window 'adaptive'", us(lone.adaptive, 'p50'), us(lone.adaptive, 'p99')],
      ["batchTimeout 10, window 'fixed'", us(lone.fixed, 'p50'), us(lone.fixed, 'p99')],
    ]),
  );
  const size = (k) => median(load[k].map((x) => x.size));
  const wait = (k) => median(load[k].map((x) => x.wait));
  console.log(
    `\n${table([
      ['load (batchSize 32, batchTimeout 10, 2 ms batches)', 'mean batch size', 'mean wait ms', 'closedBy (last round)'],
      ['saturation, 64 callers, 2 partitions, fixed', size('satFixed').toFixed(1), wait('satFixed').toFixed(2), describe(last.satFixed)],
      ['saturation, 64 callers, 2 partitions, adaptive', size('satAdaptive').toFixed(1), wait('satAdaptive').toFixed(2), describe(last.satAdaptive)],
      ['steady 2 values/ms, 1 partition, fixed', size('steadyFixed').toFixed(1), wait('steadyFixed').toFixed(2), describe(last.steadyFixed)],
      ['steady 2 values/ms, 1 partition, adaptive', size('steadyAdaptive').toFixed(1), wait('steadyAdaptive').toFixed(2), describe(last.steadyAdaptive)],
    ])}`,
  );
  console.log(
    `\nadaptive / fixed mean batch size: saturation ${((100 * size('satAdaptive')) / size('satFixed')).toFixed(1)}%, steady ${((100 * size('steadyAdaptive')) / size('steadyFixed')).toFixed(1)}%`,
  );
  console.log(`lone caller p50, adaptive minus batchTimeout 0: ${(median(lone.adaptive.map((x) => x.p50)) - median(lone.zero.map((x) => x.p50))).toFixed(0)} µs`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
