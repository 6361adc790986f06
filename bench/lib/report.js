'use strict';
/* Helpers shared by the benchmarks: statistics, tables, the machine, and the JSON line a part of the
 * suite hands to bench/run.js. */
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..', '..');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function peakRss() {
  return process.resourceUsage().maxRSS * 1024; // maxRSS is in KiB
}

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** A Markdown table; the first `left` columns (labels) align left, the rest (figures) right. */
function markdownTable(rows, left = 1) {
  const escape = (cell) => String(cell).replace(/\|/g, '\\|');
  return [
    `| ${rows[0].map(escape).join(' | ')} |`,
    `| ${rows[0].map((_, c) => (c < left ? '---' : '---:')).join(' | ')} |`,
    ...rows.slice(1).map((r) => `| ${r.map(escape).join(' | ')} |`),
  ].join('\n');
}

function machine() {
  const cpus = os.cpus();
  return `${cpus[0].model.trim()}, ${cpus.length} cores, Node ${process.version}, ${os.platform()} ${os.arch()}`;
}

/** The commit measured, and whether lib/ differs from it (read-only git calls). */
function revision() {
  const git = (...argv) => execFileSync('git', ['--no-optional-locks', ...argv], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  try {
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', 'lib') ? `${head} + uncommitted changes in lib/` : head;
  } catch {
    return 'unknown';
  }
}

/** The build a benchmark measures: BENCH_DIST=path/to/dist, else this checkout's dist. */
function distPath() {
  return process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(ROOT, 'dist');
}

/** Value of `--flag N`, or `fallback`. */
function numberArg(argv, flag, fallback) {
  const i = argv.indexOf(flag);
  return i >= 0 && i + 1 < argv.length ? Number(argv[i + 1]) : fallback;
}

/** The prefix of the one stdout line by which a part of the suite hands its figures to bench/run.js. */
const JSON_PREFIX = 'BENCH_JSON ';

function emitJson(figures) {
  process.stdout.write(`${JSON_PREFIX}${JSON.stringify(figures)}\n`);
}

/** Exits by itself once main() resolves; a handle left open (a timer, a socket) fails the run. */
function runMain(main) {
  main().then(
    () => {
      setTimeout(() => {
        console.error(`still open after the benchmark: ${process.getActiveResourcesInfo().join(', ')}`);
        process.exit(1);
      }, 5000).unref();
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

module.exports = { ROOT, distPath, median, percentile, peakRss, mib, table, markdownTable, machine, revision, numberArg, JSON_PREFIX, emitJson, runMain };
