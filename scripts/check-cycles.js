'use strict';
/*
 * Fails when lib/ has an import cycle. Type-only imports count too: a cycle through a type is
 * still a sign that a type or a role sits in the wrong file (STYLE.md). Uses the TypeScript
 * compiler to read imports, so nothing is guessed from text.
 *
 *   node scripts/check-cycles.js [dir]      (run by `npm test`)
 */
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'lib'));

function sourceFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The files of `dir` that `file` imports or re-exports from. */
function importsOf(file) {
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  const targets = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const base = path.resolve(path.dirname(file), fileName);
    const found = [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => fs.existsSync(candidate));
    if (found) targets.push(found);
  }
  return targets;
}

/** Strongly connected components of more than one file (or a file importing itself): the cycles. */
function cycles(graph) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v).includes(v)) found.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = new Map(sourceFiles(root).map((file) => [file, importsOf(file)]));
const found = cycles(graph);
if (found.length) {
  const name = (file) => path.relative(process.cwd(), file);
  console.error(`Import cycles in ${name(root)} (each line is a set of files that import each other):`);
  for (const component of found) console.error(`  ${component.map(name).sort().join(' <-> ')}`);
  console.error('Move the shared type or role into a file that both sides import.');
  process.exit(1);
}
console.log(`No import cycles among ${graph.size} files of ${path.relative(process.cwd(), root) || '.'}.`);
