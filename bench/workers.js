'use strict';
/*
 * What a worker serving costs per batch, with a batch function that costs nothing:
 *
 *   per batch   one caller looping `await dispatch(v)` (so each batch is one value): µs per batch
 *               for an inline serving (BatchServing.new), a worker serving (BatchServing.worker,
 *               partitions 1), piscina's own `run` with no serving around it, and a bare
 *               worker_threads round trip (postMessage and back, nothing else).
 *   outputs     the same loop where each batch returns one 512-float vector: a worker serving
 *               returning a Float32Array (transferred) against a number[] (copied by structured
 *               clone), and the bare round trip with and without a transfer list.
 *
 * Medians of `--rounds` rounds, contenders interleaved. `npm run bench:workers` (builds first).
 *   node bench/workers.js [--quick] [--rounds N] [--batches N]
 */
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { Piscina } = require('piscina');
const { BatchServing } = require('../dist');
const { median, table, machine, numberArg, runMain } = require('./lib/report');

const TRIVIAL = path.join(__dirname, 'fixtures', 'trivial.worker.js');
const BARE = path.join(__dirname, 'fixtures', 'bare-echo.worker.js');

async function loop(batches, call) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < batches; i++) await call(i);
  return Number(process.hrtime.bigint() - start) / 1e3 / batches;
}

function bareCall(worker) {
  let resolve;
  worker.on('message', (m) => resolve(m));
  return (message) => new Promise((r) => ((resolve = r), worker.postMessage(message)));
}

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const rounds = numberArg(argv, '--rounds', quick ? 1 : 5);
  const batches = numberArg(argv, '--batches', quick ? 200 : 2000);

  const inline = BatchServing.start(BatchServing.new((values) => values.map((v) => v.n + 1)), { name: 'inline', batchTimeout: 0 });
  const worker = BatchServing.start(BatchServing.worker(TRIVIAL), { name: 'worker', batchTimeout: 0 });
  await worker.ready();
  const pool = new Piscina({ filename: TRIVIAL.replace('trivial.worker.js', 'piscina-trivial.js'), minThreads: 1, maxThreads: 1, atomics: 'async' });
  const bare = new Worker(BARE);
  const bareSend = bareCall(bare);

  const contenders = {
    'inline serving': (i) => inline.dispatch({ n: i }),
    'worker serving': (i) => worker.dispatch({ n: i }),
    'piscina run, no serving': (i) => pool.run({ n: i }),
    'bare worker_threads round trip': (i) => bareSend({ n: i }),
    'worker serving, Float32Array(512) out (transferred)': () => worker.dispatch({ op: 'vector' }),
    'worker serving, number[512] out (copied)': () => worker.dispatch({ op: 'array' }),
    'bare round trip, Float32Array(512) transferred': () => bareSend({ op: 'vector', transfer: true }),
    'bare round trip, Float32Array(512) copied': () => bareSend({ op: 'vector', transfer: false }),
  };
  const names = Object.keys(contenders);
  const us = Object.fromEntries(names.map((n) => [n, []]));
  for (const name of names) await loop(Math.min(200, batches), contenders[name]); // warm-up
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...names].reverse() : names;
    for (const name of order) us[name].push(await loop(batches, contenders[name]));
  }
  const base = median(us['inline serving']);
  const rows = [['contender', 'µs per batch (median)', 'vs inline serving']];
  for (const name of names) rows.push([name, median(us[name]).toFixed(1), `+${(median(us[name]) - base).toFixed(1)} µs`]);
  console.log(`${machine()}; ${rounds} rounds of ${batches} sequential one-value batches\n`);
  console.log(table(rows));

  await inline.close('drain', 1000);
  await worker.close('drain', 1000);
  await pool.destroy();
  await bare.terminate();
}

runMain(main);
