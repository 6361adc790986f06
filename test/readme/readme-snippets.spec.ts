import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expectedPrints, extractSnippets, NO_RUN_MARKER, samePrint, typeErrors, unawaitedCalls, writeRunnable, type Snippet } from './snippets';

/*
 * The README is a contract: every ```ts block of README.md compiles and runs, as written.
 *
 * Convention, for whoever adds a block:
 * - Every ```ts (or ```typescript) block is picked up automatically. Each one is a module of its
 *   own: it imports what it uses (`nestjs-batch-serving`, `@nestjs/common`, …) and defines every
 *   name it uses. Nothing is shared between blocks.
 * - It is type-checked with `strict`, Nest's decorators and top-level `await` allowed.
 * - Then it runs, in Jest, from top to bottom: a block that throws or rejects fails the test. A
 *   block that starts something (a serving, an application) closes it before it ends, and listens
 *   on port 0 if it listens at all. Declarations alone run too: their decorators are evaluated.
 * - It awaits what it starts: `await main();`, not `void main();` (refused: the run would end first,
 *   and what it logs would land unchecked in another block's test).
 * - A `console.log(x)` line (at the start of a line, one argument) may end with `// prints <JSON>`:
 *   the value it logs must equal that JSON. The n-th such line of the block is matched with the
 *   n-th value the block logs, so a block with a `// prints` logs from straight-line code only.
 * - The one way out: `<!-- snippet: no-run -->` on the line right before the block. The block is
 *   still type-checked, but not run. Use it only for a block that cannot run alone, such as one
 *   that needs a server the test does not have (a NATS cluster at a made-up address).
 */

const README = resolve(__dirname, '..', '..', 'README.md');
const GENERATED = join(__dirname, '.generated');

const snippets = extractSnippets(readFileSync(README, 'utf8'));
const label = (snippet: Snippet) => `the block at README.md:${snippet.line} (${snippet.heading})`;

/** Runs one block as Jest's own module, isolated from the others, waits for its end, and gives what it logged. */
async function run(code: string, name: string): Promise<unknown[]> {
  const file = writeRunnable(code, join(GENERATED, `${name}.ts`));
  const printed: unknown[] = [];
  // Their output (console and Nest's logger) is not the test's: kept out of the report.
  const quiet = [
    jest.spyOn(console, 'log').mockImplementation((...values: unknown[]) => void printed.push(values.length === 1 ? values[0] : values)),
    jest.spyOn(process.stdout, 'write').mockImplementation(() => true),
  ];
  try {
    let done: Promise<void> | undefined;
    jest.isolateModules(() => {
      done = (require(file) as { done: Promise<void> }).done;
    });
    await done;
    return printed;
  } finally {
    quiet.forEach((spy) => spy.mockRestore());
  }
}

/** The `// prints` lines whose value differs from what the block logged, as "line: expected / printed". */
function wrongPrints(code: string, printed: unknown[]): string[] {
  const expected = expectedPrints(code);
  if (expected.some((e) => e !== undefined) && expected.length !== printed.length) {
    return [`${expected.length} console.log line(s), but ${printed.length} value(s) logged`];
  }
  return expected.flatMap((text, i) => (text === undefined || samePrint(printed[i], text) ? [] : [`says it prints ${text}, printed ${JSON.stringify(printed[i])}`]));
}

afterAll(() => rmSync(GENERATED, { recursive: true, force: true }));

describe('README.md: every TypeScript block compiles in strict mode and runs', () => {
  const errors = typeErrors(snippets);

  it('has TypeScript blocks to check', () => {
    expect(snippets.length).toBeGreaterThan(3);
  });

  it.each(snippets.map((snippet, i) => [label(snippet), i] as const))('%s compiles in strict mode, on its own', (_, i) => {
    expect(errors[i]).toEqual([]);
  });

  const runnable = snippets.map((snippet, i) => [label(snippet), snippet, i] as const).filter(([, snippet]) => snippet.run);
  it.each(runnable)('%s runs, and prints what it says', async (_, snippet, i) => {
    expect(unawaitedCalls(snippet.code)).toEqual([]);
    const printed = await run(snippet.code, `readme-${i}-line-${snippet.line}`);
    expect(wrongPrints(snippet.code, printed)).toEqual([]);
  }, 30_000);
});

describe('the README check itself', () => {
  const readme = [
    '# Title',
    '```ts',
    "import { BatchServing } from 'nestjs-batch-serving';",
    'export const squares = BatchServing.new((values: number[]) => values.map((v) => v * v));',
    '```',
    '## Uses another block',
    NO_RUN_MARKER,
    '```ts',
    'console.log(squares);',
    '```',
    '```bash',
    'npm start',
    '```',
    '```ts',
    "import { BatchServing } from 'nestjs-batch-serving';",
    'const serving = BatchServing.start(BatchServing.new((values: number[]) => values), { name: "x" });',
    'await serving.close("drain", 1000);',
    "throw new Error('the README is wrong');",
    '```',
  ].join('\n');
  const blocks = extractSnippets(readme);

  it('refuses a block that starts work without awaiting it (void main()), whose logs would go unchecked', () => {
    const code = ['async function main() {', '  console.log(1); // prints 1', '}', 'void main();', 'void 0;', 'await main();'].join('\n');
    expect(unawaitedCalls(code)).toEqual(['line 4: void main(); (write await instead of void)']);
  });

  it('finds the ts blocks, their lines and headings, and the no-run marker', () => {
    expect(blocks.map(({ line, heading, run }) => ({ line, heading, run }))).toEqual([
      { line: 2, heading: 'Title', run: true },
      { line: 8, heading: 'Uses another block', run: false },
      { line: 14, heading: 'Uses another block', run: true },
    ]);
  });

  it('fails a block that uses a name from another block, and a block with a type error', () => {
    const [first, second, third] = typeErrors([...blocks.slice(0, 2), { ...blocks[0], code: 'const n: number = "one";' }]).map((e) => e.join(' '));
    expect(first).toBe('');
    expect(second).toContain("Cannot find name 'squares'");
    expect(third).toContain("Type 'string' is not assignable to type 'number'");
  });

  it('fails a block that throws when it runs, after its awaits', async () => {
    await expect(run(blocks[2].code, 'self-check-throws')).rejects.toThrow('the README is wrong');
    await expect(run(blocks[0].code, 'self-check-runs')).resolves.toEqual([]);
  });

  it('fails a block that does not print what it says', async () => {
    const code = ['console.log([1, 2].map((n) => n * 2)); // prints [2, 4]', "console.log('a' + 'b');               // prints \"ab\"", 'console.log(1 + 1); // prints 3'].join('\n');
    expect(wrongPrints(code, await run(code, 'self-check-prints'))).toEqual(['says it prints 3, printed 2']);
    expect(wrongPrints('console.log(1); // prints 1\nconsole.log(2);', [1])).toEqual(['2 console.log line(s), but 1 value(s) logged']);
  });
});
