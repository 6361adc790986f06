'use strict';
/*
 * Latency, in one process and one run:
 *
 *   lone caller   one caller, `await dispatch(v)` in a loop, identity batch function, batchTimeout 0:
 *                 p50 of each call through the core (RunningServing.dispatch) and through the Nest
 *                 client (BatchServingClient.dispatch), minus the p50 of a bare `await` of an async
 *                 function measured in the same round: the time batching adds to a caller who has
 *                 nobody to batch with. Median over rounds; contenders interleaved.
 *   queue wait    batchTimeout 10 under saturation: the event loop is kept busy by a stream of
 *                 dispatches (an open-loop producer dispatching a burst on every setImmediate, far
 *                 more than the identity batch function needs to keep up with, never enough to fill
 *                 a batch by size), so every batch closes on its 10 ms timer while the loop is
 *                 loaded. Queue wait = what the serving reports as `waitMs` (and stats().queueWaitMs):
 *                 the wait of each batch's first value, from its dispatch to the batch's start,
 *                 stamped by the producer (the serving's own waitMs is printed as a check). Peer:
 *                 a minimal batcher (an array and one setTimeout(10) per window) under the same
 *                 load, which shows what the loop and GC of the machine add to any 10 ms timer.
 *
 *   node bench/latency.js [--quick] [--json] [--rounds N] [--calls N] [--seconds S]
 */
require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { BatchServing, BatchServingModule, BatchServingClient } = require('../dist');
const { median, percentile, table, numberArg, emitJson, runMain } = require('./lib/report');

const identity = BatchServing.new((values) => values);

// ---- lone caller --------------------------------------------------------------------------------
// One loop per contender, so that each call site sees one target.

async function id(v) {
  return v;
}

async function loneBare(_, samples) {
  for (let i = 0; i < samples.length; i++) {
    const t0 = process.hrtime.bigint();
    await id(i);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
}

async function loneCore(serving, samples) {
  for (let i = 0; i < samples.length; i++) {
    const t0 = process.hrtime.bigint();
    await serving.dispatch(i);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
}

async function loneNest(client, samples) {
  for (let i = 0; i < samples.length; i++) {
    const t0 = process.hrtime.bigint();
    await client.dispatch('identity', i);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
}

/** p50 (ns) of `calls` calls. */
async function p50(loop, target, calls) {
  const samples = new Float64Array(calls);
  await loop(target, samples);
  samples.sort();
  return percentile(samples, 50);
}

async function loneCaller(rounds, calls) {
  class BenchModule {}
  Module({ imports: [BatchServingModule.forRoot({ servings: [{ name: 'identity', serving: identity, batchSize: 1000, batchTimeout: 0 }] })] })(BenchModule);
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  const client = app.get(BatchServingClient);
  const serving = BatchServing.start(identity, { name: 'identity', batchSize: 1000, batchTimeout: 0 });
  const contenders = [
    ['bare', loneBare, undefined],
    ['core', loneCore, serving],
    ['nest', loneNest, client],
  ];
  try {
    for (const [, loop, target] of contenders) await p50(loop, target, Math.min(calls, 2000)); // warm-up
    const p = { bare: [], core: [], nest: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [...contenders].reverse() : contenders;
      for (const [key, loop, target] of order) p[key].push(await p50(loop, target, calls));
      process.stderr.write(`lone caller round ${r + 1}/${rounds}: p50 bare ${(p.bare[r] / 1000).toFixed(1)} µs, core ${(p.core[r] / 1000).toFixed(1)} µs, nest ${(p.nest[r] / 1000).toFixed(1)} µs\n`);
    }
    const us = (xs) => median(xs) / 1000;
    const added = (key) => median(p[key].map((x, r) => x - p.bare[r])) / 1000;
    return { calls, rounds, bareP50Us: us(p.bare), coreP50Us: us(p.core), nestP50Us: us(p.nest), coreAddedUs: added('core'), nestAddedUs: added('nest') };
  } finally {
    await serving.close('drain', 1000);
    await app.close();
  }
}

// ---- queue wait under saturation ----------------------------------------------------------------

const BURST = 100;
const WINDOW_MS = 10;

/**
 * The peer of the queue-wait figure: the least a window batcher can do, an array of resolvers and
 * one setTimeout(10) per window. Under the same load it shows what the event loop and the GC of
 * this machine add to any 10 ms timer, apart from the serving.
 */
function minimalBatcher(onBatch) {
  let queue = [];
  let timer;
  const flush = () => {
    const batch = queue;
    queue = [];
    timer = undefined;
    const values = batch.map((d) => d.value);
    onBatch(values);
    for (let i = 0; i < batch.length; i++) batch[i].resolve(values[i]);
  };
  return {
    dispatch: (value) =>
      new Promise((resolve) => {
        if (timer === undefined) timer = setTimeout(flush, WINDOW_MS);
        queue.push({ value, resolve });
      }),
    close: () => new Promise((resolve) => (timer === undefined ? resolve() : setTimeout(resolve, WINDOW_MS + 5))),
  };
}

/**
 * An open-loop producer dispatches BURST values on every setImmediate for `seconds`; queue wait =
 * from the dispatch of each batch's first value (stamped by the producer) to the start of its batch
 * function. Same measurement for both contenders; ours also reports its own waitMs, as a check.
 */
async function queueWait(kind, seconds) {
  const dispatchedAt = new Float64Array(16_000_000);
  const waits = [];
  const onBatch = (values) => waits.push(performance.now() - dispatchedAt[values[0]]);
  let target;
  const reported = [];
  let subscription;
  if (kind === 'ours') {
    const serving = BatchServing.start(
      BatchServing.new((values) => (onBatch(values), values)),
      { name: 'saturated', batchSize: 1_000_000, batchTimeout: WINDOW_MS, maxQueueSize: 2_000_000 },
    );
    subscription = serving.telemetry().subscribe((event) => event.type === 'start' && reported.push(event.waitMs));
    target = { dispatch: (v) => serving.dispatch(v), close: () => serving.close('drain', 5000), serving };
  } else {
    target = minimalBatcher(onBatch);
  }
  let dispatched = 0;
  let settled = 0;
  const until = performance.now() + seconds * 1000;
  const count = () => settled++;
  await new Promise((resolve, reject) => {
    const burst = () => {
      if (performance.now() >= until) return resolve();
      for (let i = 0; i < BURST; i++) {
        dispatchedAt[dispatched] = performance.now();
        target.dispatch(dispatched++).then(count, reject);
      }
      setImmediate(burst);
    };
    burst();
  });
  await target.close();
  await new Promise((resolve) => setImmediate(resolve));
  if (subscription) subscription.unsubscribe();
  if (settled !== dispatched) throw new Error(`${kind}: ${dispatched - settled} of ${dispatched} dispatches did not settle`);
  waits.sort((a, b) => a - b);
  reported.sort((a, b) => a - b);
  return {
    values: dispatched,
    batches: waits.length,
    meanBatchSize: dispatched / waits.length,
    waitP50Ms: percentile(waits, 50),
    waitP99Ms: percentile(waits, 99),
    waitMaxMs: waits[waits.length - 1],
    reportedP99Ms: reported.length ? percentile(reported, 99) : undefined,
  };
}

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const lone = await loneCaller(numberArg(argv, '--rounds', quick ? 1 : 5), numberArg(argv, '--calls', quick ? 1_000 : 20_000));
  const rounds = quick ? 1 : 3;
  const seconds = numberArg(argv, '--seconds', quick ? 0.3 : 2);
  const runs = { ours: [], minimal: [] };
  for (let r = 0; r < rounds; r++) {
    for (const kind of r % 2 ? ['minimal', 'ours'] : ['ours', 'minimal']) {
      const w = await queueWait(kind, seconds);
      runs[kind].push(w);
      process.stderr.write(`queue wait ${kind} round ${r + 1}/${rounds}: ${w.batches} batches of ${w.meanBatchSize.toFixed(0)} values, wait p50 ${w.waitP50Ms.toFixed(2)} ms, p99 ${w.waitP99Ms.toFixed(2)} ms, max ${w.waitMaxMs.toFixed(2)} ms\n`);
    }
  }
  const wait = {
    seconds,
    rounds,
    burst: BURST,
    oursP99Ms: median(runs.ours.map((w) => w.waitP99Ms)),
    oursP50Ms: median(runs.ours.map((w) => w.waitP50Ms)),
    oursReportedP99Ms: median(runs.ours.map((w) => w.reportedP99Ms)),
    minimalP99Ms: median(runs.minimal.map((w) => w.waitP99Ms)),
    minimalP50Ms: median(runs.minimal.map((w) => w.waitP50Ms)),
    meanBatchSize: median(runs.ours.map((w) => w.meanBatchSize)),
    valuesPerSecond: median(runs.ours.map((w) => w.values / seconds)),
  };
  const figures = { lone, wait };
  if (argv.includes('--json')) return emitJson(figures);
  console.log(
    `\n${table([
      ['figure', 'value'],
      ['bare await p50', `${lone.bareP50Us.toFixed(1)} µs`],
      ['added by RunningServing.dispatch, p50', `${lone.coreAddedUs.toFixed(1)} µs`],
      ['added by BatchServingClient.dispatch, p50', `${lone.nestAddedUs.toFixed(1)} µs`],
      ['queue wait p99 at batchTimeout 10, saturated', `${wait.oursP99Ms.toFixed(2)} ms (its own stats: ${wait.oursReportedP99Ms.toFixed(2)} ms)`],
      ['same, minimal setTimeout(10) batcher', `${wait.minimalP99Ms.toFixed(2)} ms`],
    ])}`,
  );
}

module.exports={queueWait};if(require.main===module)runMain(main);
