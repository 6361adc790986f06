'use strict';
/*
 * The benchmark suite: `npm run bench` (full, writes BENCHMARKS.md) and `npm run bench:quick`
 * (tiny sizes for CI: checks that every part runs; no assertion on time; writes nothing).
 *
 * Each part runs in a child process of its own (its own heap and peak RSS, no JIT state shared with
 * another part) and hands its figures back as one BENCH_JSON line; every figure is compared with a
 * peer measured in the same child, in the same run. This prints one table.
 *
 *   overhead.js   cost per value against DataLoader, batshit and a bare await; bytes per queued value
 *   batching.js   values/s against the ideal and against batchSize 1, partitions 1 and 4
 *   latency.js    time added to a lone caller; queue wait p99 at batchTimeout 10 under saturation
 *   nats.js       added latency and throughput across processes (needs nats-server)
 *   e2e.js        the sample app's POST /events under autocannon, batching on and off
 *
 *   node bench/run.js [--quick] [--only overhead,latency,...] [--no-markdown]
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT, table, markdownTable, machine, revision, mib, JSON_PREFIX } = require('./lib/report');

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? argv[onlyAt + 1].split(',') : undefined;
const MARKDOWN = path.join(ROOT, 'BENCHMARKS.md');

const PARTS = [
  // The full run takes each overhead figure as the fastest of 3 processes (overhead.js --best-of).
  { key: 'overhead', file: 'overhead.js', node: ['--expose-gc'], full: ['--best-of', '3'], timeoutS: 900 },
  { key: 'batching', file: 'batching.js', timeoutS: 200 },
  { key: 'latency', file: 'latency.js', timeoutS: 200 },
  { key: 'nats', file: 'nats.js', timeoutS: 200 },
  { key: 'e2e', file: 'e2e.js', timeoutS: 200 },
];

/** Children alive now, by pid: each leads its own process group (nats-server, members, the app). */
const children = new Set();

function killGroups(signal) {
  for (const pid of children) {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killGroups('SIGTERM');
    process.exit(130);
  });
}

/** Runs one part; its progress goes to stderr, its figures come back from its BENCH_JSON line. */
function runPart(part) {
  const args = [...(part.node ?? []), path.join(__dirname, part.file), '--json', ...(quick ? ['--quick'] : (part.full ?? []))];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    children.add(child.pid);
    let figures;
    let pending = '';
    child.stdout.on('data', (chunk) => {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith(JSON_PREFIX)) figures = JSON.parse(line.slice(JSON_PREFIX.length));
        else process.stderr.write(`${line}\n`);
      }
    });
    const timer = setTimeout(() => {
      process.stderr.write(`${part.file}: no result after ${part.timeoutS} s, stopping it\n`);
      killGroups('SIGKILL');
    }, part.timeoutS * 1000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child.pid);
      // Whatever the part started (a server, members, an app) must be gone with it.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is empty: nothing was left behind
      }
      if (code === 0 && figures) resolve({ ...figures, elapsedS: (Date.now() - started) / 1000 });
      else reject(new Error(`${part.file} failed (${signal ?? `exit code ${code}`}${figures ? '' : ', no figures'})`));
    });
  });
}

// ---- the table ----------------------------------------------------------------------------------

const int = (x) => Math.round(x).toLocaleString('en-US');
const x2 = (r) => `${r.toFixed(2)}x`;
const status = (ok) => (ok ? 'MET' : 'MISSED');

/** Rows of [part, figure, ours, peer, ratio, target, status]; `targets` collects the verdicts. */
function rows(f, targets) {
  const out = [['#', 'figure', 'measured', 'peer, same run', 'ratio', 'target', 'status']];
  const target = (name, ok, measured) => {
    targets.push({ name, ok, measured });
    return status(ok);
  };
  if (f.overhead) {
    const o = f.overhead;
    const by = Object.fromEntries(o.contenders.map((c) => [c.key, c]));
    const dl = by.dataloader;
    const row = (c, withTarget) => [
      '1',
      `ns/value, ${c.name}`,
      c.ns.toFixed(0),
      `DataLoader ${dl.ns.toFixed(0)}`,
      x2(c.ratio),
      withTarget ? '<= 1.00x DataLoader' : '',
      withTarget ? target('overhead, BatchServingClient vs DataLoader', c.ratio <= 1, x2(c.ratio)) : '',
    ];
    out.push(row(by.nest, true), row(by.ours, false), row(by.batshit, false), row(by.bare, false));
  }
  if (f.batching) {
    for (const r of f.batching.results) {
      out.push([
        '2',
        `values/s, partitions ${r.partitions}, batchSize ${f.batching.batchSize}`,
        int(r.rate),
        `ideal ${int(r.ideal)}`,
        `${(100 * r.ofIdeal).toFixed(1)}%`,
        '>= 90% of ideal',
        target(`batching efficiency, partitions ${r.partitions}`, r.ofIdeal >= 0.9, `${(100 * r.ofIdeal).toFixed(1)}%`),
      ]);
      out.push(['2', '  batch function of a full batch, mean time per call', `${r.measuredCostMs.toFixed(2)} ms`, `model ${r.modelCostMs.toFixed(2)} ms`, x2(r.measuredCostMs / r.modelCostMs), '', '']);
      out.push(['2', `  same, against no batching (batchSize 1)`, int(r.rate), `batchSize 1: ${int(r.unbatchedRate)}`, `${r.vsUnbatched.toFixed(1)}x`, '', '']);
    }
  }
  if (f.latency) {
    const { lone, wait } = f.latency;
    out.push([
      '3',
      'added to a lone caller, p50, BatchServingClient',
      `${lone.nestAddedUs.toFixed(1)} µs`,
      `bare await p50 ${lone.bareP50Us.toFixed(2)} µs`,
      '',
      '<= 20 µs',
      target('lone caller added p50 (BatchServingClient)', lone.nestAddedUs <= 20, `${lone.nestAddedUs.toFixed(1)} µs`),
    ]);
    out.push(['3', '  same, RunningServing.dispatch', `${lone.coreAddedUs.toFixed(1)} µs`, `bare await p50 ${lone.bareP50Us.toFixed(2)} µs`, '', '', '']);
    out.push([
      '3',
      'queue wait p99, batchTimeout 10, saturated',
      `${wait.oursP99Ms.toFixed(2)} ms`,
      `minimal setTimeout batcher ${wait.minimalP99Ms.toFixed(2)} ms`,
      x2(wait.oursP99Ms / wait.minimalP99Ms),
      '<= 11 ms',
      target('queue wait p99 at batchTimeout 10', wait.oursP99Ms <= 11, `${wait.oursP99Ms.toFixed(2)} ms`),
    ]);
    out.push(['3', '  same, p50', `${wait.oursP50Ms.toFixed(2)} ms`, `minimal ${wait.minimalP50Ms.toFixed(2)} ms`, x2(wait.oursP50Ms / wait.minimalP50Ms), '', '']);
  }
  if (f.overhead) {
    const m = f.overhead.memory;
    out.push([
      '4',
      `bytes per queued value, ${int(f.overhead.queued)} x dispatch(v)`,
      `${m.oursSingles.toFixed(0)} B`,
      `DataLoader ${m.dataloader.toFixed(0)} B`,
      x2(m.oursSingles / m.dataloader),
      '<= 300 B',
      target('bytes per queued value', m.oursSingles <= 300, `${m.oursSingles.toFixed(0)} B`),
    ]);
    out.push(['4', '  same, dispatchMany of 1,000-value arrays', `${m.oursMany.toFixed(1)} B`, `pending promise ${m.bare.toFixed(0)} B`, '', '', '']);
    out.push(['4', 'peak RSS of an overhead round, BatchServingClient (one contender per process)', mib(f.overhead.peakRssOf.nest), `DataLoader ${mib(f.overhead.peakRssOf.dataloader)}`, '', '', '']);
  }
  if (f.nats) {
    const n = f.nats;
    out.push([
      '5',
      'added latency through a NATS member, p50',
      `${n.addedP50Ms.toFixed(3)} ms`,
      `local p50 ${n.local.p50Ms.toFixed(3)} ms`,
      '',
      '<= 0.5 ms (scale-out issue)',
      target('NATS added latency p50', n.addedP50Ms <= 0.5, `${n.addedP50Ms.toFixed(3)} ms`),
    ]);
    out.push(['5', '  same, p99', `${n.addedP99Ms.toFixed(3)} ms`, `local p99 ${n.local.p99Ms.toFixed(3)} ms`, '', '', '']);
    out.push([
      '5',
      `values/s through 2 members, ${n.concurrency} callers`,
      int(n.remote.rate),
      `local ${int(n.local.rate)}`,
      x2(n.remote.rate / n.local.rate),
      '>= 100,000 (scale-out issue)',
      target('NATS throughput through 2 members', n.remote.rate >= 100_000, int(n.remote.rate)),
    ]);
  }
  if (f.e2e) {
    const e = f.e2e;
    out.push(['6', `POST /events requests/s, batching on, ${e.connections} connections`, int(e.on.rps), `batching off ${int(e.off.rps)}`, x2(e.rpsRatio), '', '']);
    out.push(['6', '  same, latency p99', `${e.on.p99Ms} ms`, `batching off ${e.off.p99Ms} ms`, x2(e.on.p99Ms / e.off.p99Ms), '', '']);
    out.push(['6', '  same, rows per SQLite transaction', e.on.rowsPerTransaction.toFixed(1), `batching off ${e.off.rowsPerTransaction.toFixed(1)}`, '', '', '']);
  }
  return out;
}

function loads(f) {
  const lines = [];
  if (f.overhead) lines.push(`1, 4. ${f.overhead.concurrency} concurrent callers, identity batch function, batchSize ${f.overhead.batchSize}, batchTimeout 0, ${int(f.overhead.values)} values per round, median of ${f.overhead.rounds} rounds, contenders interleaved, each figure from a process of its own (set up, warm up, one burst unmeasured, then the median of three bursts, each after gc())${f.overhead.bestOf > 1 ? `, the fastest of ${f.overhead.bestOf} such processes (the machine's slow spells last a whole process)` : ''}; ratio = median of per-round ratios. batshit: windowedFiniteBatchScheduler(maxBatchSize ${f.overhead.batchSize}, windowMs 0). Memory: heap bytes after gc() with ${int(f.overhead.queued)} values queued.`);
  if (f.batching) lines.push(`2. batch function = 2 ms + 20 µs per value of waiting (setTimeout for whole ms, then setImmediate polling to the exact deadline), ${f.batching.concurrency} callers, ${int(f.batching.results[0].values)} values (batchSize 1: ${int(f.batching.results[0].unbatchedValues)}), batchTimeout 0, median of ${f.batching.rounds} rounds.`);
  if (f.latency) lines.push(`3. lone caller: ${int(f.latency.lone.calls)} sequential calls, p50 minus a bare await's p50 in the same round, median of ${f.latency.lone.rounds} rounds. Queue wait: open-loop producer, ${f.latency.wait.burst} dispatches per setImmediate for ${f.latency.wait.seconds} s (~${int(f.latency.wait.valuesPerSecond)} values/s), batches of ~${int(f.latency.wait.meanBatchSize)} close on the timer; wait of each batch's first value, median of ${f.latency.wait.rounds} rounds' p99.`);
  if (f.nats) lines.push(`5. bench/nats.js: ${int(f.nats.calls)} lone calls, ${f.nats.seconds} s of ${f.nats.concurrency} callers, identity serving on 2 member processes via a local nats-server.`);
  if (f.e2e) lines.push(`6. autocannon, ${f.e2e.connections} connections, ${f.e2e.seconds} s per run, off/on alternating, median of ${f.e2e.rounds} rounds (SQLite WAL, synchronous=FULL).`);
  return lines;
}

// ---- BENCHMARKS.md ------------------------------------------------------------------------------

const SECTION = /<!-- bench:(?:suite|overhead) -->[\s\S]*?<!-- \/bench:(?:suite|overhead) -->/;
const HISTORY = /<!-- bench:history -->[\s\S]*?<!-- \/bench:history -->/;

function readFigures(text) {
  const match = /<!-- bench:figures (.*?) -->/.exec(text);
  try {
    return match ? JSON.parse(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function writeMarkdown(body, figures) {
  const header = '# Benchmarks\n\nFigures measured by `npm run bench`; each table says the machine and the command that made it.\n';
  let text = fs.existsSync(MARKDOWN) ? fs.readFileSync(MARKDOWN, 'utf8') : header;
  const previous = readFigures(text);
  const section = ['<!-- bench:suite -->', body, `<!-- bench:figures ${JSON.stringify(figures)} -->`, '<!-- /bench:suite -->'].join('\n');
  text = SECTION.test(text) ? text.replace(SECTION, () => section) : `${text.trimEnd()}\n\n${section}\n`;
  if (previous) {
    const clientPart = previous.client ? `BatchServingClient / DataLoader ${previous.client}x, ` : '';
    const entry = `- ${previous.date}, ${previous.revision}: ${clientPart}RunningServing / DataLoader ${previous.ratio}x, ${previous.bytes} B per queued value (${previous.machine})`;
    const old = HISTORY.exec(text);
    const lines = old ? old[0].split('\n') : [];
    // Only lines this function wrote are entries; anything written by hand inside the block is
    // kept, after it (a hand-written section there was once lost, its bullets taken for entries).
    const isEntry = (line) => /^- \d{4}-\d{2}-\d{2}, /.test(line);
    const own = new Set(['<!-- bench:history -->', '<!-- /bench:history -->', '## Earlier overhead figures']);
    const handWritten = lines.filter((line) => !isEntry(line) && !own.has(line)).join('\n').trim();
    const entries = lines.filter(isEntry);
    const block = ['<!-- bench:history -->', '## Earlier overhead figures', '', entry, ...entries.slice(0, 19), '<!-- /bench:history -->'];
    const history = [...block, ...(handWritten ? ['', handWritten] : [])].join('\n');
    text = old ? text.replace(HISTORY, () => history) : `${text.trimEnd()}\n\n${history}\n`;
  }
  fs.writeFileSync(MARKDOWN, text.endsWith('\n') ? text : `${text}\n`);
}

async function main() {
  const loadBefore = os.loadavg();
  const started = Date.now();
  const f = {};
  for (const part of PARTS) {
    if (only && !only.includes(part.key)) continue;
    process.stderr.write(`\n== ${part.file}${quick ? ' --quick' : ''}\n`);
    f[part.key] = await runPart(part);
  }
  const loadAfter = os.loadavg();
  const targets = [];
  const t = rows(f, targets);
  const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
  const command = quick ? 'npm run bench:quick' : only ? `node bench/run.js --only ${only.join(',')}` : 'npm run bench';
  const head = [
    `${quick ? 'QUICK RUN: sizes far too small for the figures to mean anything; it only checks that every part runs.\n' : ''}` +
      `Machine: ${machine()}. Load average (1, 5, 15 min): ${load(loadBefore)} at the start, ${load(loadAfter)} at the end. ` +
      `Revision ${revision()}. Command: \`${command}\`. Took ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  ];
  const verdict = `Targets: ${targets.filter((x) => x.ok).length} MET, ${targets.filter((x) => !x.ok).length} MISSED` + (targets.some((x) => !x.ok) ? ` (${targets.filter((x) => !x.ok).map((x) => `${x.name}: ${x.measured}`).join('; ')})` : '');
  process.stdout.write(`\n${head.join('\n')}\n\n${table(t)}\n\n${loads(f).join('\n')}\n\n${verdict}\n`);
  if (quick || only || argv.includes('--no-markdown')) return;
  const date = new Date().toISOString().slice(0, 10);
  const body = [
    '## The suite (`npm run bench`)',
    '',
    `Run on ${date}. ${head.join(' ')}`,
    '',
    markdownTable(t, 2),
    '',
    ...loads(f).map((l) => `- ${l}`),
    '',
    verdict,
  ].join('\n');
  const by = f.overhead ? Object.fromEntries(f.overhead.contenders.map((c) => [c.key, c])) : {};
  writeMarkdown(body, {
    date,
    revision: revision(),
    machine: machine(),
    client: by.nest ? +by.nest.ratio.toFixed(2) : undefined,
    ratio: by.ours ? +by.ours.ratio.toFixed(2) : undefined,
    bytes: f.overhead ? Math.round(f.overhead.memory.oursSingles) : undefined,
  });
  process.stdout.write(`\nwrote ${path.relative(process.cwd(), MARKDOWN)}\n`);
}

main().catch((error) => {
  console.error(error);
  killGroups('SIGKILL');
  process.exit(1);
});
