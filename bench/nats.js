'use strict';
/*
 * The NATS transport against a local dispatch, in one run, on a nats-server of its own (Debian's
 * package; a free loopback port):
 *
 *   latency     one caller, `await dispatch(v)` in a loop: p50 and p99 of a local dispatch, of a
 *               dispatch through a member in another process, and the difference (added latency).
 *   throughput  1,000 concurrent callers, each looping `await dispatch(v)`, for a fixed time:
 *               values/s locally, and through 2 member processes.
 *
 * Every serving is the identity with batchSize 1,000 and batchTimeout 0, so that what is measured is
 * the dispatch path (and the network hop), not a batch window.
 *
 *   npm run build && node bench/nats.js            full run
 *   node bench/nats.js --quick                     short run for CI
 *   node bench/nats.js --json                      also one BENCH_JSON line, for bench/run.js (npm run bench)
 *   options: --calls N (latency samples)  --seconds S (throughput)  --concurrency N
 *            --remote-only (skip the local figures, to profile the remote path alone)
 */
const { fork } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { BatchServing } = require('../dist');
const { natsTransport } = require('../dist/transports/nats');

const SERVING = { name: 'echo', batchSize: 1000, batchTimeout: 0 };
const echo = BatchServing.new((values) => values);
const { emitJson } = require('./lib/report');
const { startServer } = require('./lib/nats-server');
const quiet = { log() {}, warn() {}, error: (m) => console.error(m) };

function arg(flag, fallback) {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

// ---- member process -------------------------------------------------------------------------------

async function member(servers) {
  const running = BatchServing.start(echo, SERVING);
  const transport = natsTransport({ servers, logger: quiet });
  await transport.start();
  await transport.host(running);
  process.send({ type: 'ready', id: transport.self });
  process.on('message', async () => {
    await transport.unhost(SERVING.name);
    await running.close('drain', 5000);
    await transport.close();
    process.exit(0);
  });
}

// ---- the run --------------------------------------------------------------------------------------

function startMember(servers) {
  const child = fork(__filename, ['--member', servers], { stdio: 'inherit' });
  return new Promise((resolve) => child.once('message', () => resolve(child)));
}

function stopMember(child) {
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.send({ type: 'close' });
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function lone(serving, calls) {
  const samples = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const start = process.hrtime.bigint();
    await serving.dispatch(i);
    samples[i] = Number(process.hrtime.bigint() - start) / 1e6;
  }
  samples.sort();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function throughput(serving, concurrency, seconds) {
  const until = performance.now() + seconds * 1000;
  let values = 0;
  const caller = async (base) => {
    for (let i = 0; performance.now() < until; i++) {
      await serving.dispatch(base + i);
      values++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, c) => caller(c * 1e6)));
  return values / ((performance.now() - start) / 1000);
}

const ms = (x) => `${x.toFixed(3)} ms`;
const rate = (x) => `${Math.round(x).toLocaleString('en-US')} values/s`;

async function main() {
  const quick = process.argv.includes('--quick');
  const calls = arg('--calls', quick ? 500 : 10_000);
  const seconds = arg('--seconds', quick ? 1 : 5);
  const concurrency = arg('--concurrency', 1000);
  const server = await startServer();
  const members = [await startMember(server.url), await startMember(server.url)];
  const local = BatchServing.start(echo, SERVING);
  const transport = natsTransport({ servers: server.url, logger: quiet });
  await transport.start();
  const remote = transport.remote(SERVING.name);
  try {
    console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, Node ${process.version}; members: ${transport.members(SERVING.name).length}`);
    // Warm-up of both paths (JIT, connections), then the measured rounds.
    await lone(local, Math.min(calls, 2000));
    await lone(remote, Math.min(calls, 2000));
    const l = await lone(local, calls);
    const r = await lone(remote, calls);
    console.log(`lone caller, ${calls} calls:  local p50 ${ms(l.p50)} p99 ${ms(l.p99)}  |  through a member p50 ${ms(r.p50)} p99 ${ms(r.p99)}`);
    console.log(`added latency:               p50 ${ms(r.p50 - l.p50)}  p99 ${ms(r.p99 - l.p99)}   (target: p50 <= 0.5 ms)`);
    await throughput(remote, concurrency, Math.min(1, seconds));
    const tl = process.argv.includes('--remote-only') ? NaN : await throughput(local, concurrency, seconds);
    const tr = await throughput(remote, concurrency, seconds);
    console.log(`${concurrency} concurrent callers, ${seconds} s:  local ${rate(tl)}  |  through 2 members ${rate(tr)}   (target: >= 100,000 values/s)`);
    if (process.argv.includes('--json')) {
      emitJson({ calls, seconds, concurrency, local: { p50Ms: l.p50, p99Ms: l.p99, rate: tl }, remote: { p50Ms: r.p50, p99Ms: r.p99, rate: tr }, addedP50Ms: r.p50 - l.p50, addedP99Ms: r.p99 - l.p99 });
    }
  } finally {
    await transport.close();
    await local.close('drain', 5000);
    await Promise.all(members.map(stopMember));
    server.child.kill();
  }
}

if (process.argv[2] === '--member') {
  member(process.argv[3]).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
