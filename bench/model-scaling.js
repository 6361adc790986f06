'use strict';
/*
 * Why 2 worker partitions of the real model do not reach 2x of 1, without the serving in the way:
 * threads that each load USE-lite and call embedTexts directly (batches of 16 short texts), one
 * thread alone against two at once, next to the same comparison for a pure-JavaScript CPU-bound
 * loop (no WebAssembly, no memory traffic to speak of). Every thread loads and warms up before the
 * measured rounds; the contenders are interleaved round by round; medians, with the load average.
 * The process CPU time over wall time shows how many cores a contender actually held, and units per
 * CPU-second whether a second thread makes each unit dearer (memory bandwidth, shared caches) or
 * only finds no free core (other processes): the latter leaves units per CPU-second unchanged.
 *
 * Run it also as `node --single-threaded bench/model-scaling.js`: with default flags one model
 * thread holds about 1.1 cores (V8's background threads work next to it) and two reach about 1.65x;
 * with no background tasks one holds 1.0 and two about 1.87x (BENCHMARKS.md, after the merge).
 * Needs the sample app built (`npm run bench:build`).
 *
 *   node bench/model-scaling.js [--quick] [--rounds N] [--batches N]
 */
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { median, table, machine, numberArg, runMain } = require('./lib/report');

const USE_LITE = path.resolve(__dirname, '..', 'sample-app', 'dist', 'index-jobs', 'use-lite.js');

/** The thread: loads its work once, then runs `batches` units per 'go' and reports when done. */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const texts = (n, o) => Array.from({ length: n }, (_, i) => 'the quick brown fox number ' + (i + o) + ' jumps again');
let unit;
async function setup() {
  if (workerData.kind === 'model') {
    const { embedTexts, loadModel } = require(workerData.useLite);
    const model = await loadModel();
    let o = 0;
    unit = () => embedTexts(model, texts(16, (o += 16)));
  } else {
    // About as long as one model batch, and nothing but integer arithmetic on the stack.
    unit = async () => { let x = 0; for (let i = 0; i < 3e7; i++) x = (x * 31 + i) | 0; return x; };
  }
  for (let i = 0; i < 3; i++) await unit(); // warm-up: compile, first allocations
}
setup().then(() => parentPort.postMessage('ready'));
parentPort.on('message', async (batches) => {
  for (let i = 0; i < batches; i++) await unit();
  parentPort.postMessage('done');
});
`;

function spawn(kind) {
  const worker = new Worker(THREAD, { eval: true, workerData: { kind, useLite: USE_LITE } });
  let settle;
  worker.on('message', (m) => settle.resolve(m));
  worker.on('error', (e) => settle.reject(e));
  const next = () => new Promise((resolve, reject) => (settle = { resolve, reject }));
  return { worker, ready: next(), run: (batches) => (worker.postMessage(batches), next()) };
}

/** Units per second of `threads` running `batches` units each at once, and cores held. */
async function round(threads, batches) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(threads.map((t) => t.run(batches)));
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { rate: (threads.length * batches) / seconds, cores: cpuSeconds / seconds, perCpu: (threads.length * batches) / cpuSeconds };
}

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const rounds = numberArg(argv, '--rounds', quick ? 1 : 5);
  const batches = numberArg(argv, '--batches', quick ? 3 : 6);
  const rows = [];
  for (const kind of ['model', 'js']) {
    const threads = [spawn(kind), spawn(kind)];
    await Promise.all(threads.map((t) => t.ready));
    const one = [];
    const two = [];
    for (let r = 0; r < rounds; r++) {
      one.push(await round(threads.slice(0, 1), batches));
      two.push(await round(threads, batches));
    }
    await Promise.all(threads.map((t) => t.worker.terminate()));
    const m = (xs, f) => median(xs.map((x) => x[f]));
    rows.push([kind === 'model' ? 'USE-lite embedTexts (16 texts)' : 'pure-JS loop', m(one, 'rate'), m(two, 'rate'), m(one, 'cores'), m(two, 'cores'), m(one, 'perCpu'), m(two, 'perCpu')]);
  }
  console.log(`${machine()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${rounds} rounds of ${batches} units per thread\n`);
  console.log(
    table([
      ['work, on bare worker threads', 'units/s, 1 thread', 'units/s, 2 threads', '2 vs 1', 'cores held, 1', 'cores held, 2', 'units per CPU-s, 1', 'units per CPU-s, 2'],
      ...rows.map(([name, a, b, ca, cb, pa, pb]) => [name, a.toFixed(1), b.toFixed(1), `${(b / a).toFixed(2)}x`, ca.toFixed(2), cb.toFixed(2), pa.toFixed(1), pb.toFixed(1)]),
    ]),
  );
}

runMain(main);
