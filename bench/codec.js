'use strict';
/*
 * The default codec (MessagePack, msgpackr) against jsonCodec on what an embedding serving sends
 * back: outputs of 1,536 floats. In one run, on a nats-server of its own (free loopback port):
 *
 *   codec alone   encode + decode of one reply of 64 outputs: outputs/s and bytes, for
 *                 JSON (arrays of numbers), MessagePack (arrays of numbers) and MessagePack
 *                 (Float32Array, binary).
 *   through NATS  64 concurrent callers, each looping `await dispatch(v)`, for a fixed time,
 *                 against a member in another process that answers a 1,536-float embedding:
 *                 values/s, and bytes on the wire per value (counted by a subscriber on the
 *                 replies' subjects).
 *
 * Every figure is the median of `--rounds` rounds; ratios are against JSON in the same run.
 *
 *   npm run bench:build && node bench/codec.js [--quick] [--seconds S] [--rounds N]
 */
const { fork } = require('node:child_process');
const { connect } = require('@nats-io/transport-node');
const { BatchServing } = require('../dist');
const { natsTransport, jsonCodec, msgpackCodec } = require('../dist/transports/nats');
const { machine, median, numberArg, table, markdownTable, revision, runMain } = require('./lib/report');
const { startServer } = require('./lib/nats-server');

const DIM = 1536;
const quiet = { log() {}, warn() {}, error: (m) => console.error(m) };
const VARIANTS = {
  json: { codec: jsonCodec, binary: false, label: 'JSON, number[]' },
  msgpackArray: { codec: msgpackCodec, binary: false, label: 'MessagePack, number[]' },
  msgpackF32: { codec: msgpackCodec, binary: true, label: 'MessagePack, Float32Array' },
};

function embedding(seed, binary) {
  const out = new Float32Array(DIM);
  for (let i = 0; i < DIM; i++) out[i] = Math.sin(seed + i) / 3;
  return binary ? out : Array.from(out);
}

// ---- member process -------------------------------------------------------------------------------

async function member(servers, variant) {
  const { codec, binary } = VARIANTS[variant];
  const running = BatchServing.start(
    BatchServing.new((values) => values.map((v) => embedding(v, binary))),
    { name: 'embed', batchSize: 64, batchTimeout: 0 },
  );
  const transport = natsTransport({ servers, codec, subjectPrefix: variant, logger: quiet });
  await transport.start();
  await transport.host(running);
  process.send({ type: 'ready' });
  process.on('message', async () => {
    await transport.unhost('embed');
    await running.close('drain', 5000);
    await transport.close();
    process.exit(0);
  });
}

// ---- the run --------------------------------------------------------------------------------------

function codecAlone(variant, seconds) {
  const { codec, binary } = VARIANTS[variant];
  const reply = { v: 1, k: 'res', from: 'bench', r: Array.from({ length: 64 }, (_, i) => [i, 0, [embedding(i, binary)]]) };
  const bytes = codec.encode(reply).length;
  const until = performance.now() + seconds * 1000;
  let outputs = 0;
  const start = performance.now();
  while (performance.now() < until) {
    codec.decode(codec.encode(reply));
    outputs += 64;
  }
  return { rate: outputs / ((performance.now() - start) / 1000), bytesPerValue: bytes / 64 };
}

async function throughNats(url, variant, seconds) {
  const { codec } = VARIANTS[variant];
  const child = fork(__filename, ['--member', url, variant], { stdio: 'inherit' });
  await new Promise((resolve) => child.once('message', resolve));
  const transport = natsTransport({ servers: url, codec, subjectPrefix: variant, logger: quiet });
  await transport.start();
  const remote = transport.remote('embed');
  const sniffer = await connect({ servers: url });
  let wire = 0;
  sniffer.subscribe(`${variant}.in.${transport.self}.r`, { callback: (_, msg) => void (wire += msg.data.length) });
  await sniffer.flush();
  for (let i = 0; i < 200; i++) await remote.dispatch(i); // warm-up
  wire = 0;
  let values = 0;
  const until = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async (_, c) => {
      for (let i = 0; performance.now() < until; i++) {
        await remote.dispatch(c * 1e6 + i);
        values++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await sniffer.flush();
  const result = { rate: values / elapsed, bytesPerValue: wire / values };
  await sniffer.close();
  await transport.close();
  await new Promise((resolve) => {
    child.once('exit', resolve);
    child.send({ type: 'close' });
  });
  return result;
}

async function main() {
  const quick = process.argv.includes('--quick');
  const seconds = numberArg(process.argv, '--seconds', quick ? 0.5 : 2);
  const rounds = numberArg(process.argv, '--rounds', quick ? 1 : 3);
  const server = await startServer();
  const figures = {};
  try {
    for (const variant of Object.keys(VARIANTS)) {
      const alone = [];
      const nats = [];
      for (let r = 0; r < rounds; r++) {
        alone.push(codecAlone(variant, seconds));
        nats.push(await throughNats(server.url, variant, seconds));
      }
      figures[variant] = {
        alone: median(alone.map((x) => x.rate)),
        aloneBytes: median(alone.map((x) => x.bytesPerValue)),
        nats: median(nats.map((x) => x.rate)),
        natsBytes: median(nats.map((x) => x.bytesPerValue)),
      };
    }
  } finally {
    server.child.kill('SIGKILL');
  }
  const base = figures.json;
  const n = (x) => Math.round(x).toLocaleString('en-US');
  const rows = [['codec, outputs as', 'codec alone (outputs/s)', 'vs JSON', 'bytes per output', 'through NATS (values/s)', 'vs JSON', 'wire bytes per value']];
  for (const [variant, f] of Object.entries(figures)) {
    rows.push([VARIANTS[variant].label, n(f.alone), `${(f.alone / base.alone).toFixed(2)}x`, n(f.aloneBytes), n(f.nats), `${(f.nats / base.nats).toFixed(2)}x`, n(f.natsBytes)]);
  }
  console.log(`machine: ${machine()}; revision ${revision()}; ${DIM}-float outputs; median of ${rounds} round(s) of ${seconds} s\n`);
  console.log(table(rows));
  console.log(`\n${markdownTable(rows)}`);
}

if (process.argv[2] === '--member') member(process.argv[3], process.argv[4]);
else runMain(main);
