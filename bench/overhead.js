'use strict';
/*
 * Overhead of the core, side by side with its peers, in one run:
 *
 *   throughput  1,000 concurrent callers, each looping `await call(v)`, identity batch function,
 *               batchSize 1,000, batchTimeout 0: ns per value through the public Nest client
 *               (BatchServingClient.dispatch in a Nest application context), through the core
 *               (RunningServing.dispatch), DataLoader 2.x (cache off, maxBatchSize 1,000),
 *               @yornaath/batshit (windowedFiniteBatchScheduler: maxBatchSize 1,000, windowMs 0) and a
 *               bare `await` of an async function.
 *   memory      heap bytes per queued value with 1,000,000 values waiting, ours (one value per
 *               dispatch, and dispatchMany of 1,000 x 1,000) against DataLoader's queued keys.
 *
 * The machine is shared and noisy, so every figure is a median of several rounds, the contenders
 * run interleaved in an order that changes every round, and the ratio to DataLoader is taken per
 * round (both ran seconds apart) before its median is taken.
 *
 * Each throughput figure comes from a process of its own (as JMH forks per benchmark): set up,
 * warm up, then three measured bursts, each after a full collection, and their median. In one
 * shared process the contenders taxed each other: batshit's million timers a round made Node's
 * timer code, which ours shares (setImmediate), polymorphic and threw it away every round, and its
 * garbage changed the next contender's heap; with batshit in the process the core measured
 * 1.14-1.16x DataLoader, without it 0.93-0.98x (BENCHMARKS.md).
 *
 *   node --expose-gc bench/overhead.js               full run, prints its tables
 *   node --expose-gc bench/overhead.js --quick       small sizes for CI
 *   options: --rounds N  --values N  --queued N  --warmup N  --json (one BENCH_JSON line, for bench/run.js)
 *            --best-of K (K passes over the contenders per round; each figure the fastest of its K processes)
 *            --only nest,ours,... (throughput of these contenders only, DataLoader always among them; no memory table)
 *   BENCH_DIST=path/to/dist measures another build (say, one of the commit before a change) instead
 *   of ../dist; BENCH_BEFORE=path/to/dist adds that build's client and core as two more contenders,
 *   in the same rounds (a before/after comparison that the machine's drift does not skew).
 * `npm run bench` runs it as part of the suite (bench/run.js), which writes BENCHMARKS.md.
 */
require('reflect-metadata');
const DataLoader = require('dataloader');
const batshit = require('@yornaath/batshit');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { execFileSync } = require('node:child_process');
const { PerformanceObserver, constants } = require('node:perf_hooks');
const { distPath, median, percentile, peakRss, mib, table, machine, numberArg, emitJson, runMain } = require('./lib/report');
const { BatchServing, BatchServingModule, BatchServingClient } = require(distPath());

const CONCURRENCY = 1000;
const BATCH_SIZE = 1000;

function parseArgs(argv) {
  const quick = argv.includes('--quick');
  return {
    quick,
    json: argv.includes('--json'),
    rounds: numberArg(argv, '--rounds', quick ? 1 : 7),
    values: numberArg(argv, '--values', quick ? 20_000 : 1_000_000),
    queued: numberArg(argv, '--queued', quick ? 100_000 : 1_000_000),
    warmup: numberArg(argv, '--warmup', quick ? 5_000 : 200_000),
    bestOf: numberArg(argv, '--best-of', 1),
    only: onlyArg(argv),
  };
}

/** `--only a,b`: the contenders to run, DataLoader always among them (every ratio is to it). */
function onlyArg(argv) {
  const i = argv.indexOf('--only');
  if (i < 0) return undefined;
  return new Set(['dataloader', ...argv[i + 1].split(',')]);
}

const gc = typeof global.gc === 'function' ? () => (global.gc(), global.gc()) : () => {};

// ---- throughput ---------------------------------------------------------------------------------
// One caller loop per contender, written out, so that no call site is shared between contenders
// (a shared site would turn polymorphic and tax them all alike, blurring the comparison).

async function nestCaller(client, per, base) {
  let sum = 0;
  for (let i = 0; i < per; i++) sum += await client.dispatch('identity', base + i);
  return sum;
}

async function oursCaller(serving, per, base) {
  let sum = 0;
  for (let i = 0; i < per; i++) sum += await serving.dispatch(base + i);
  return sum;
}

async function dataLoaderCaller(loader, per, base) {
  let sum = 0;
  for (let i = 0; i < per; i++) sum += await loader.load(base + i);
  return sum;
}

async function batshitCaller(batcher, per, base) {
  let sum = 0;
  for (let i = 0; i < per; i++) sum += await batcher.fetch(base + i);
  return sum;
}

async function id(v) {
  return v;
}

async function bareCaller(_, per, base) {
  let sum = 0;
  for (let i = 0; i < per; i++) sum += await id(base + i);
  return sum;
}

const identity = BatchServing.new((values) => values);
const SERVING_OPTIONS = { batchSize: BATCH_SIZE, batchTimeout: 0, maxQueueSize: 2_000_000 };

/** A Nest application context with one functional serving, as a user would write it. */
async function nestContext() {
  class BenchModule {}
  Module({ imports: [BatchServingModule.forRoot({ servings: [{ name: 'identity', serving: identity, ...SERVING_OPTIONS }] })] })(BenchModule);
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  return { app, client: app.get(BatchServingClient) };
}

const contenders = [
  {
    name: 'ours, BatchServingClient.dispatch (Nest)',
    key: 'nest',
    caller: nestCaller,
    setup: nestContext,
    target: (context) => context.client,
    teardown: (context) => context.app.close(),
  },
  {
    name: 'ours, RunningServing.dispatch (core)',
    key: 'ours',
    caller: oursCaller,
    setup: () => BatchServing.start(identity, { name: 'identity', ...SERVING_OPTIONS }),
    teardown: (serving) => serving.close('drain', 1000),
  },
  {
    name: 'DataLoader 2.x (cache off)',
    key: 'dataloader',
    caller: dataLoaderCaller,
    setup: () => new DataLoader(async (keys) => keys, { cache: false, maxBatchSize: BATCH_SIZE }),
  },
  {
    // batshit has no end-of-turn window: windowMs 0 is a setTimeout(0), re-armed on every fetch
    // (its own design), and a full batch of maxBatchSize goes at once. Its resolver finds each
    // caller's item in the fetcher's result, so the identity fetcher returns a Map by key (the
    // `indexedResolver` pattern of its README; `keyResolver` would scan the array per value).
    name: '@yornaath/batshit 0.x',
    key: 'batshit',
    caller: batshitCaller,
    setup: () =>
      batshit.create({
        fetcher: async (queries) => {
          const byKey = new Map();
          for (const q of queries) byKey.set(q, q);
          return byKey;
        },
        resolver: (byKey, query) => byKey.get(query),
        scheduler: batshit.windowedFiniteBatchScheduler({ windowMs: 0, maxBatchSize: BATCH_SIZE }),
      }),
  },
  {
    name: 'bare await of an async fn',
    key: 'bare',
    caller: bareCaller,
    setup: () => undefined,
  },
];

// BENCH_BEFORE: the client and the core of another build, measured in the same rounds; a child of
// one of these loads that build (forked() sets its BENCH_DIST).
if (process.env.BENCH_BEFORE) {
  for (const key of ['nest', 'ours']) {
    const base = contenders.find((c) => c.key === key);
    contenders.push({ ...base, key: `${key}-before`, name: `${base.name}, BENCH_BEFORE`, dist: process.env.BENCH_BEFORE });
  }
}

/**
 * ns per value of `total` values through `contender` (set up already), CONCURRENCY callers at a
 * time, after a full collection: as the memory reducer runs after an idle spell, it frees all that
 * earlier bursts made (lib/core/shapes.ts).
 */
async function runLoad(contender, target, total) {
  const per = Math.ceil(total / CONCURRENCY);
  const n = per * CONCURRENCY;
  gc();
  const callers = new Array(CONCURRENCY);
  const t0 = process.hrtime.bigint();
  for (let c = 0; c < CONCURRENCY; c++) callers[c] = contender.caller(target, per, c * per);
  const sums = await Promise.all(callers);
  const t1 = process.hrtime.bigint();
  // Every value came back as itself: a contender that dropped or mixed up values would show here.
  const sum = sums.reduce((a, b) => a + b, 0);
  if (sum !== (n * (n - 1)) / 2) throw new Error(`${contender.name}: wrong results (sum ${sum}, expected ${(n * (n - 1)) / 2})`);
  return Number(t1 - t0) / n;
}

/**
 * In a process of its own (`--child KEY`): set up, warm up, one burst unmeasured, BURSTS measured
 * bursts; prints the median's ns per value. The unmeasured burst because a process fresh from
 * warm-up was still growing its young generation and finishing compiles: every contender measured
 * about 1.6x its figure in a process that had run longer.
 */
async function child(key, args) {
  const contender = contenders.find((c) => c.key === key);
  const made = await contender.setup();
  const target = contender.target ? contender.target(made) : made;
  await runLoad(contender, target, args.warmup);
  await runLoad(contender, target, args.values);
  // Young-generation collections during the measured bursts: V8 starts one early (a task, at about
  // 80% of the young generation) when the process returns to the event loop, which ours does once
  // a batch and DataLoader's microtask loop never does (BENCHMARKS.md).
  let scavenges = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
  });
  observer.observe({ entryTypes: ['gc'] });
  const bursts = [];
  for (let b = 0; b < BURSTS; b++) bursts.push(await runLoad(contender, target, args.values));
  // Node reports a collection from the event loop, and the observer a turn later: DataLoader's
  // loop never returns to it during a burst, so its entries all arrive here.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  const ns = median(bursts);
  if (contender.teardown) await contender.teardown(made);
  const perMillion = (scavenges / (BURSTS * Math.ceil(args.values / CONCURRENCY) * CONCURRENCY)) * 1e6;
  process.stdout.write(`${CHILD_PREFIX}${ns} ${peakRss()} ${perMillion}\n`);
}

const CHILD_PREFIX = 'OVERHEAD_NS ';
const BURSTS = 3;

/** One figure of `contender` (and the peak RSS of its process), from a fresh process running this file with `--child`. */
function forked(contender, args) {
  const flags = process.execArgv.includes('--expose-gc') ? process.execArgv : ['--expose-gc', ...process.execArgv];
  const argv = [...flags, __filename, '--child', contender.key, '--values', String(args.values), '--warmup', String(args.warmup)];
  const env = { ...process.env, BENCH_DIST: contender.dist ?? process.env.BENCH_DIST ?? '' };
  const out = execFileSync(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  const line = out.split('\n').find((l) => l.startsWith(CHILD_PREFIX));
  if (!line) throw new Error(`${contender.name}: no figure from its process:\n${out}`);
  const [ns, rss, scavenges] = line.slice(CHILD_PREFIX.length).split(' ').map(Number);
  return { ns, rss, scavenges };
}

/** Round r runs the contenders rotated by r, reversed every other round, so none always goes first. */
function order(r) {
  const k = contenders.length;
  const rotated = Array.from({ length: k }, (_, i) => (i + r) % k);
  return Math.floor(r / k) % 2 ? rotated.reverse() : rotated;
}

function throughput(args) {
  const samples = Object.fromEntries(contenders.map((c) => [c.key, []]));
  const peakRssOf = Object.fromEntries(contenders.map((c) => [c.key, 0]));
  const scavengesOf = Object.fromEntries(contenders.map((c) => [c.key, []]));
  for (let r = 0; r < args.rounds; r++) {
    // `--best-of K`: K passes over the contenders, each in its own order, and each contender's
    // fastest process is its figure. The machine has slow spells that last seconds, a whole process
    // or more (the mutator's time between two young collections 1.7x for the same allocation, for
    // DataLoader alike: `--trace-gc-nvp`); passes spread over the round keep one spell from taking
    // all K processes of one contender. K = 1 (the default): one process each.
    const best = new Map();
    for (let k = 0; k < args.bestOf; k++) {
      for (const i of order(r * args.bestOf + k)) {
        const figure = forked(contenders[i], args);
        if (!best.has(i) || figure.ns < best.get(i).ns) best.set(i, figure);
      }
    }
    const line = [];
    for (const i of order(r)) {
      const { ns, rss, scavenges } = best.get(i);
      scavengesOf[contenders[i].key].push(scavenges);
      peakRssOf[contenders[i].key] = Math.max(peakRssOf[contenders[i].key], rss);
      samples[contenders[i].key].push(ns);
      line.push(`${contenders[i].key} ${ns.toFixed(1)}`);
    }
    process.stderr.write(`overhead round ${r + 1}/${args.rounds}: ${line.join(', ')} ns/value\n`);
  }
  // Each round's figures were measured seconds apart, so a ratio within a round is the least noisy.
  const ratios = Object.fromEntries(contenders.map((c) => [c.key, samples[c.key].map((ns, r) => ns / samples.dataloader[r])]));
  return { samples, ratios, peakRssOf, scavengesOf };
}

// ---- memory -------------------------------------------------------------------------------------

/** Holds what a memory reading must count until the reading is taken (else V8 may collect it early). */
let keep = [];

function heapUsed() {
  gc();
  return process.memoryUsage().heapUsed;
}

/** A slot array made before the baseline reading, so that holding the promises costs nothing measured. */
function slots(n) {
  const array = [];
  for (let i = 0; i < n; i++) array.push(0);
  return array;
}

const never = () => new Promise(() => {});

/**
 * Ours, one value per dispatch. The batch function never settles, and everything is measured in
 * the turn that dispatched: the values are queued (waiting for the window), none is executing.
 */
async function oursQueuedSingles(n) {
  const serving = BatchServing.start(BatchServing.new(never), {
    name: 'stuck',
    batchSize: BATCH_SIZE,
    batchTimeout: 60_000,
    maxQueueSize: n + 1,
  });
  const promises = slots(n);
  const before = heapUsed();
  for (let i = 0; i < n; i++) promises[i] = serving.dispatch(i);
  keep = [serving, promises];
  const after = heapUsed();
  const { queued, executing } = serving.stats();
  if (queued !== n || executing !== 0) throw new Error(`expected ${n} queued, 0 executing; got ${queued}, ${executing}`);
  keep = [];
  await closeRejecting(serving, promises);
  return (after - before) / n;
}

/** Ours, dispatchMany of arrays of BATCH_SIZE values; the caller's input arrays exist before the baseline. */
async function oursQueuedMany(n) {
  const serving = BatchServing.start(BatchServing.new(never), {
    name: 'stuck',
    batchSize: BATCH_SIZE,
    batchTimeout: 60_000,
    maxQueueSize: n + 1,
  });
  const arrays = Math.ceil(n / BATCH_SIZE);
  const inputs = [];
  for (let a = 0; a < arrays; a++) inputs.push(Array.from({ length: BATCH_SIZE }, (_, i) => a * BATCH_SIZE + i));
  const promises = slots(arrays);
  const before = heapUsed();
  for (let a = 0; a < arrays; a++) promises[a] = serving.dispatchMany(inputs[a]);
  keep = [serving, promises, inputs];
  const after = heapUsed();
  const { queued } = serving.stats();
  if (queued !== arrays * BATCH_SIZE) throw new Error(`expected ${arrays * BATCH_SIZE} queued, got ${queued}`);
  keep = [];
  await closeRejecting(serving, promises);
  return (after - before) / (arrays * BATCH_SIZE);
}

/** Shutdown in reject mode fails every queued dispatch; each must reject with SERVING_SHUTDOWN. */
async function closeRejecting(serving, promises) {
  let rejected = 0;
  const settled = promises.map((p) =>
    p.then(
      () => {
        throw new Error('a queued dispatch resolved although its batch function never returns');
      },
      (error) => {
        if (error.code !== 'SERVING_SHUTDOWN') throw error;
        rejected++;
      },
    ),
  );
  await serving.close('reject', 100);
  await Promise.all(settled);
  if (rejected !== promises.length) throw new Error(`${promises.length - rejected} queued dispatches did not reject at shutdown`);
}

/** DataLoader holds keys until its batch is scheduled: a schedule that never fires holds them all. */
function dataLoaderQueued(n) {
  // The schedule keeps its callbacks, as process.nextTick would: a full batch stays reachable.
  const scheduled = [];
  const loader = new DataLoader(async (keys) => keys, {
    cache: false,
    maxBatchSize: BATCH_SIZE,
    batchScheduleFn: (callback) => scheduled.push(callback),
  });
  const promises = slots(n);
  const before = heapUsed();
  for (let i = 0; i < n; i++) promises[i] = loader.load(i);
  keep = [loader, promises, scheduled];
  const after = heapUsed();
  keep = [];
  return (after - before) / n; // nothing to close: the promises never settle and are dropped
}

/** The floor any promise-returning API pays: one pending promise per value, its resolvers kept. */
function barePromiseQueued(n) {
  const promises = slots(n);
  const resolvers = slots(n);
  const before = heapUsed();
  for (let i = 0; i < n; i++) promises[i] = new Promise((resolve) => (resolvers[i] = resolve));
  keep = [promises, resolvers];
  const after = heapUsed();
  keep = [];
  return (after - before) / n;
}

async function memory(args) {
  const n = args.queued;
  return {
    oursSingles: await oursQueuedSingles(n),
    oursMany: await oursQueuedMany(n),
    dataloader: dataLoaderQueued(n),
    bare: barePromiseQueued(n),
  };
}

// ---- report -------------------------------------------------------------------------------------

function figures(args, tp, mem) {
  return {
    machine: machine(),
    concurrency: CONCURRENCY,
    batchSize: BATCH_SIZE,
    values: Math.ceil(args.values / CONCURRENCY) * CONCURRENCY,
    rounds: args.rounds,
    bestOf: args.bestOf,
    queued: args.queued,
    contenders: contenders.map((c) => {
      const s = tp.samples[c.key];
      return {
        key: c.key,
        name: c.name,
        ns: median(s),
        min: Math.min(...s),
        max: Math.max(...s),
        ratio: median(tp.ratios[c.key]),
        ratios: tp.ratios[c.key],
        /** Young-generation collections per 1,000,000 values, median of the rounds. */
        scavenges: median(tp.scavengesOf[c.key]),
      };
    }),
    memory: mem,
    /** Peak RSS of each contender's round processes. */
    peakRssOf: tp.peakRssOf,
    peakRssEnd: peakRss(),
  };
}

function print(f) {
  const overhead = [['contender', 'ns/value (median)', 'min', 'max', 'vs DataLoader', 'its quartiles', 'scavenges / 1M values']];
  for (const c of f.contenders) {
    const sorted = [...c.ratios].sort((a, b) => a - b);
    const quartiles = `${percentile(sorted, 25).toFixed(2)}-${percentile(sorted, 75).toFixed(2)}x`;
    overhead.push([c.name, c.ns.toFixed(1), c.min.toFixed(1), c.max.toFixed(1), `${c.ratio.toFixed(2)}x`, quartiles, c.scavenges.toFixed(0)]);
  }
  const memRows = f.memory && [
    ['queued values', 'bytes/value'],
    [`ours, ${f.queued.toLocaleString('en-US')} x dispatch(v)`, f.memory.oursSingles.toFixed(0)],
    [`ours, dispatchMany of ${BATCH_SIZE}-value arrays`, f.memory.oursMany.toFixed(1)],
    ['DataLoader, load(k)', f.memory.dataloader.toFixed(0)],
    ['floor: a pending promise + its resolve', f.memory.bare.toFixed(0)],
  ];
  process.stdout.write(
    `\n${f.machine}\n${CONCURRENCY} concurrent callers, ${f.values} values per round, ${f.rounds} rounds, batchSize ${BATCH_SIZE}, batchTimeout 0\n\n` +
      `${table(overhead)}\n\n${memRows ? `${table(memRows)}\n\n` : ''}peak RSS of a throughput round's process: ${contenders.map((c) => `${c.key} ${mib(f.peakRssOf[c.key])}`).join(', ')}; of this one at the end ${mib(f.peakRssEnd)}\n`,
  );
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (typeof global.gc !== 'function') process.stderr.write('note: run with node --expose-gc for exact memory figures\n');
  const childKey = process.argv.indexOf('--child');
  if (childKey > 0) return child(process.argv[childKey + 1], args);
  if (args.only) {
    const kept = contenders.filter((c) => args.only.has(c.key.replace(/-before$/, '')));
    contenders.splice(0, contenders.length, ...kept);
  }
  const tp = throughput(args);
  const mem = args.only ? undefined : await memory(args);
  const f = figures(args, tp, mem);
  if (args.json) emitJson(f);
  else print(f);
}

runMain(main);
