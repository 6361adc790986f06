'use strict';
/*
 * Instructions per value, counted by valgrind (callgrind), for the overhead load of overhead.js:
 * 1,000 concurrent callers, identity batch function, batchSize 1,000, batchTimeout 0.
 *
 * Wall-clock figures on a shared machine wander by 10-30% from run to run; instruction counts do
 * not, once V8 is made deterministic (--single-threaded --predictable and fixed seeds: no
 * concurrent compiler or GC threads, no random hashing). Each contender runs three times: with a
 * warm-up only, with the warm-up plus N values and plus 2N. "N values" is the second count less the
 * first, over N: it leaves out start-up, but not what the measured run pays once (the warm-up's
 * serving closed and a second one started: code that V8 compiled for the first is thrown away and
 * compiled again, and the values before that run slower). That part moves with V8's inlining
 * choices: moving a cold branch out of a method moved it by 5% (BENCHMARKS.md). "steady" is the
 * third count less the second, over N: the cost of one more value once everything is compiled.
 * Use it to compare two builds of the core: a change worth making moves both figures.
 * --predictable-gc-schedule fixes V8's heap growing and turns off the memory reducer, whose
 * decisions otherwise follow GC and mutator speeds measured in wall-clock time (which callgrind's
 * slowdown and the machine's load change); --no-incremental-marking does the same for the marking
 * steps, which are paced by wall-clock time. With both, counts of one build run side by side agree
 * to within 0.001% (BENCHMARKS.md, "Instructions per value: incremental marking off..."). The first flag makes collections more
 * frequent (new space fixed at 8 MB, where it grows to 32 MB without), so counts are higher: compare
 * counts made with the same flags only. One decision of ours follows wall-clock time too: a serving
 * starts batches from microtasks for 1 ms of a turn, then waits for the end of the turn (batcher.ts
 * HOLD_MS). Under callgrind's slowdown a batch of 1,000 values outlasts that, so nearly every batch
 * waits for its turn, as before the hold: counts include about one event-loop turn per batch, which
 * a process at full speed pays about once per eight batches (BENCHMARKS.md, 2026-12-02).
 *
 *   node bench/instructions.js [--values N] [--only ours,client,ref,dataloader,bare]
 *   node bench/instructions.js --inlining [--only ...]   (no valgrind: what each caller's loop took in)
 *   (about half a minute per contender; needs valgrind)
 *
 * `ours` is the core (RunningServing.dispatch); `client` is BatchServingClient.dispatch and `ref`
 * a ServingRef's dispatch, each in a Nest application context. BENCH_DIST=path/to/dist counts
 * another build (say, one of the commit before a change) instead of ../dist.
 */
const { execFileSync, spawn } = require('node:child_process');

const CONCURRENCY = 1000;
const DIST = require('./lib/report').distPath();
const SERVING = { name: 'identity', batchSize: 1000, batchTimeout: 0, maxQueueSize: 2_000_000 };
const WARMUP = 100_000;

// ---- child: one contender, warm-up then N values ----------------------------------------------

// One caller loop per contender, written out as in overhead.js, so that each call site sees one target.
async function oursCaller(serving, per, base) {
  for (let i = 0; i < per; i++) await serving.dispatch(base + i);
}

async function clientCaller(client, per, base) {
  for (let i = 0; i < per; i++) await client.dispatch('identity', base + i);
}

async function refCaller(ref, per, base) {
  for (let i = 0; i < per; i++) await ref.dispatch(base + i);
}

/** A Nest application context with one functional serving, as a user would write it. */
async function nestApp() {
  require('reflect-metadata');
  const { Module } = require('@nestjs/common');
  const { NestFactory } = require('@nestjs/core');
  const { BatchServingModule, BatchServingClient } = require(DIST);
  class BenchModule {}
  const { name, ...options } = SERVING;
  Module({ imports: [BatchServingModule.forRoot({ servings: [{ name, serving: (values) => values, ...options }] })] })(BenchModule);
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  return { app, client: app.get(BatchServingClient) };
}

async function dataLoaderCaller(loader, per, base) {
  for (let i = 0; i < per; i++) await loader.load(base + i);
}

async function id(v) {
  return v;
}

async function bareCaller(_, per, base) {
  for (let i = 0; i < per; i++) await id(base + i);
}

const contenders = {
  ours: {
    caller: oursCaller,
    setup() {
      const { BatchServing } = require(DIST);
      return BatchServing.start(BatchServing.new((values) => values), SERVING);
    },
    teardown: (serving) => serving.close('drain', 1000),
  },
  client: {
    caller: clientCaller,
    setup: nestApp,
    target: (context) => context.client,
    teardown: (context) => context.app.close(),
  },
  // The core's own dispatch, in the same Nest process: what the client adds, apart from the process.
  nestcore: {
    caller: oursCaller,
    setup: nestApp,
    target: (context) => context.app.get(require(DIST).BatchServingRegistry).get('identity'),
    teardown: (context) => context.app.close(),
  },
  ref: {
    caller: refCaller,
    setup: nestApp,
    target: (context) => context.client.ref('identity'),
    teardown: (context) => context.app.close(),
  },
  dataloader: {
    caller: dataLoaderCaller,
    setup() {
      const DataLoader = require('dataloader');
      return new DataLoader(async (keys) => keys, { cache: false, maxBatchSize: 1000 });
    },
    teardown: () => undefined,
  },
  bare: { caller: bareCaller, setup: () => undefined, teardown: () => undefined },
};

async function child(name, n) {
  const contender = contenders[name];
  const run = async (total) => {
    const context = await contender.setup();
    const target = contender.target ? contender.target(context) : context;
    const per = Math.ceil(total / CONCURRENCY);
    const callers = [];
    for (let c = 0; c < CONCURRENCY; c++) callers.push(contender.caller(target, per, c * per));
    await Promise.all(callers);
    await contender.teardown(context);
  };
  await run(WARMUP);
  if (n > 0) await run(n);
}

// ---- parent: count each contender under callgrind ---------------------------------------------

function count(contender, n) {
  const argv = [
    '--tool=callgrind',
    '--callgrind-out-file=/dev/null',
    process.execPath,
    '--single-threaded',
    '--predictable',
    '--hash-seed=1',
    '--random-seed=1',
    // Fixes V8's heap growing and turns off its memory reducer and idle-time collection: without
    // it, heap growth follows the measured GC and mutator speeds, in wall-clock time that
    // callgrind's 50x slowdown and the machine's load change, and so the number of collections.
    '--predictable-gc-schedule',
    // Incremental marking paces its steps by the time since marking began (wall clock), so a
    // callgrind run slowed by load marks in other steps: counts of one build moved by 5-20% when
    // two ran side by side (2026-12, load 3 to 4). Marking all at once removes that input.
    '--no-incremental-marking',
    __filename,
    '--child',
    contender,
    String(n),
  ];
  return new Promise((resolve, reject) => {
    const proc = spawn('valgrind', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (chunk) => (stderr += chunk));
    proc.on('error', reject);
    proc.on('close', (code) => {
      const match = /Collected\s*:\s*(\d+)/.exec(stderr);
      if (code !== 0 || !match) return reject(new Error(`valgrind run of ${contender} failed (exit ${code}):\n${stderr.slice(-2000)}`));
      resolve(Number(match[1]));
    });
  });
}

async function parent(n, only) {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    console.error('valgrind is not installed (apt-get install valgrind)');
    process.exit(1);
  }
  const results = {};
  const slopes = {};
  // Counts do not depend on load: a contender's three counts run side by side.
  for (const contender of only ?? Object.keys(contenders)) {
    const [base, full, twice] = await Promise.all([count(contender, 0), count(contender, n), count(contender, 2 * n)]);
    results[contender] = (full - base) / n;
    slopes[contender] = (twice - full) / n;
    process.stderr.write(`${contender}: ${results[contender].toFixed(0)} instructions/value, ${slopes[contender].toFixed(0)} steady\n`);
  }
  console.log(`\ninstructions per value (callgrind, after a ${WARMUP.toLocaleString('en-US')}-value warm-up)`);
  console.log(`${''.padEnd(12)} ${'N values'.padStart(9)} ${'steady'.padStart(7)}`);
  for (const contender of Object.keys(results)) {
    const ratio = (of) => (of.dataloader ? `  ${(of[contender] / of.dataloader).toFixed(2)}x` : '');
    console.log(`${contender.padEnd(12)} ${results[contender].toFixed(0).padStart(9)} ${slopes[contender].toFixed(0).padStart(7)}${ratio(results)}${ratio(slopes)}`);
  }
  console.log(`(N = ${n.toLocaleString('en-US')}: (count(warm-up + N) - count(warm-up)) / N; steady: (count(warm-up + 2N) - count(warm-up + N)) / N; ratios: to DataLoader, N then steady)`);
}

// ---- --inlining: did V8 compile the whole dispatch path into the caller's loop? ---------------

/**
 * What each library contender's caller loop took in, by `--trace-turbo-inlining` of its warm-up
 * under the flags of the counts: the path is whole when `writeSlice` (the slab) is in it. A change
 * on the dispatch path that makes a loop call into it costs 20 to 70 instructions per value
 * (ARCHITECTURE.md, "Inlining").
 */
function inlining(only) {
  const library = (only ?? Object.keys(contenders)).filter((name) => !['dataloader', 'bare'].includes(name));
  for (const name of library) {
    const loop = contenders[name].caller.name;
    const trace = execFileSync(process.execPath, ['--single-threaded', '--predictable', '--hash-seed=1', '--random-seed=1', '--trace-turbo-inlining', __filename, '--child', name, '0'], { maxBuffer: 256 * 1024 * 1024 }).toString();
    const into = new RegExp(`Inlining .*?<SharedFunctionInfo ([^>]*)>\\} into .*?<SharedFunctionInfo ${loop}>`, 'g');
    const taken = [...trace.matchAll(into)].map((m) => m[1]);
    const whole = taken.includes('writeSlice');
    console.log(`${name.padEnd(10)} ${loop}: ${whole ? 'the whole path, down to writeSlice' : 'NOT the whole path'} (${taken.join(', ') || 'nothing'})`);
  }
}

const argv = process.argv.slice(2);
if (argv.includes('--inlining')) {
  const o = argv.indexOf('--only');
  inlining(o >= 0 ? argv[o + 1].split(',') : undefined);
} else if (argv[0] === '--child') {
  child(argv[1], Number(argv[2])).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  const i = argv.indexOf('--values');
  const o = argv.indexOf('--only');
  parent(i >= 0 ? Number(argv[i + 1]) : 200_000, o >= 0 ? argv[o + 1].split(',') : undefined).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
