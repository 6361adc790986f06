import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

/*
 * Reads the ```ts blocks of a Markdown file, type-checks each as a module of its own in strict
 * mode, and turns each into something Jest can run. The convention is at the top of
 * readme-snippets.spec.ts.
 */

const ROOT = resolve(__dirname, '..', '..');

/** The comment that, on the line right before a block, says it is type-checked but not run. */
export const NO_RUN_MARKER = '<!-- snippet: no-run -->';

export interface Snippet {
  /** 1-based line of the opening fence. */
  line: number;
  /** The nearest heading above the block. */
  heading: string;
  code: string;
  run: boolean;
}

/** The ```ts (or ```typescript) blocks of `markdown`, in order. */
export function extractSnippets(markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const snippets: Snippet[] = [];
  let heading = '(top)';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '');
    const fence = /^(\s*)(```+)\s*(\S*)/.exec(line);
    if (!fence) continue;
    const end = lines.findIndex((candidate, j) => j > i && candidate.trim() === fence[2]);
    if (end < 0) throw new Error(`README line ${i + 1}: a code block that never closes`);
    if (fence[3] === 'ts' || fence[3] === 'typescript') {
      const previous = lines.slice(0, i).reverse().find((candidate) => candidate.trim() !== '');
      snippets.push({ line: i + 1, heading, code: lines.slice(i + 1, end).join('\n'), run: previous?.trim() !== NO_RUN_MARKER });
    }
    i = end;
  }
  return snippets;
}

/** Compiler options of the check: strict, Nest's decorators, top-level await, the package as its users import it. */
const OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  skipLibCheck: true,
  types: ['node', 'jest'],
  paths: {
    'nestjs-batch-serving': [join(ROOT, 'lib/index.ts')],
    'nestjs-batch-serving/nats': [join(ROOT, 'lib/transports/nats/index.ts')],
  },
};

/** The path a snippet's module pretends to have: in the repository, so that node_modules resolve. */
const virtualPath = (index: number) => join(ROOT, 'test', 'readme', `readme-snippet-${index}.ts`);

/**
 * The type errors of each snippet, one program for all (so the libraries are checked once). Each
 * snippet is a module of its own: it sees nothing of another one.
 */
export function typeErrors(snippets: readonly Snippet[]): string[][] {
  const sources = new Map(snippets.map((snippet, i) => [virtualPath(i), asModule(snippet.code)]));
  const host = ts.createCompilerHost(OPTIONS);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (file) => sources.has(file) || fileExists(file);
  host.readFile = (file) => sources.get(file) ?? readFile(file);
  host.getSourceFile = (file, language, ...rest) =>
    sources.has(file) ? ts.createSourceFile(file, sources.get(file)!, language) : getSourceFile(file, language, ...rest);
  const program = ts.createProgram([...sources.keys()], OPTIONS, host);
  return snippets.map((_, i) => {
    const file = program.getSourceFile(virtualPath(i))!;
    return [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((d) => {
      const where = d.start === undefined ? '' : `line ${file.getLineAndCharacterOfPosition(d.start).line + 1}: `;
      return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
    });
  });
}

/** A block with neither import nor export is a script to TypeScript; `export {}` makes it a module, as written. */
const asModule = (code: string) => `${code}\nexport {};\n`;

/**
 * Writes `code` as a CommonJS-friendly module that Jest can require: the imports stay on top, the
 * rest runs inside an async function (so that top-level `await` works), and `done` is its promise.
 */
export function writeRunnable(code: string, file: string): string {
  const source = ts.createSourceFile('snippet.ts', code, ts.ScriptTarget.ES2022, true);
  const imports: string[] = [];
  const body: string[] = [];
  for (const statement of source.statements) {
    const text = statement.getFullText(source);
    if (ts.isImportDeclaration(statement) || ts.isImportEqualsDeclaration(statement)) imports.push(text);
    else if (ts.isExportDeclaration(statement) || ts.isExportAssignment(statement)) continue;
    // Declarations lose `export`: inside the function they are local, which is all a run needs.
    else body.push(withoutExport(statement, source));
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${imports.join('')}\nexport const done = (async () => {${body.join('')}\n})();\n`);
  return file;
}

/** The statement's text less its `export` (and `default`) keywords. */
function withoutExport(statement: ts.Statement, source: ts.SourceFile): string {
  const start = statement.getFullStart();
  let text = statement.getFullText(source);
  const keywords = ts.canHaveModifiers(statement) ? (ts.getModifiers(statement) ?? []) : [];
  for (const keyword of [...keywords].reverse()) {
    if (keyword.kind !== ts.SyntaxKind.ExportKeyword && keyword.kind !== ts.SyntaxKind.DefaultKeyword) continue;
    text = text.slice(0, keyword.getStart(source) - start) + text.slice(keyword.getEnd() - start);
  }
  return text;
}

/**
 * What each `console.log(...)` line of `code` says it prints, in source order: the JSON after
 * `// prints `, or undefined for a line that says nothing.
 */
export function expectedPrints(code: string): Array<string | undefined> {
  return code
    .split('\n')
    .filter((line) => /^\s*console\.log\(/.test(line))
    .map((line) => /\/\/ prints (.+)$/.exec(line)?.[1]);
}

/** A printed value and a `// prints` text are the same when they match as JSON, spaces aside. */
export const samePrint = (printed: unknown, expected: string): boolean => JSON.stringify(printed) === JSON.stringify(JSON.parse(expected));

/**
 * Top-level statements that start work and drop its promise (`void main();`): the run ends before
 * that work does, so what it logs is not checked, and lands in another block's capture. Write
 * `await main();` (top-level `await` is allowed).
 */
export function unawaitedCalls(code: string): string[] {
  const source = ts.createSourceFile('snippet.ts', code, ts.ScriptTarget.ES2022, true);
  return source.statements
    .filter((s) => ts.isExpressionStatement(s) && ts.isVoidExpression(s.expression) && ts.isCallExpression(s.expression.expression))
    .map((s) => `line ${source.getLineAndCharacterOfPosition(s.getStart(source)).line + 1}: ${s.getText(source)} (write await instead of void)`);
}
