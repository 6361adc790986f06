import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

/*
 * The package as it leaves the repository: `npm pack` on a fresh clone (no dist), and the tarball
 * installed in a project set up as `nest new` sets one up (module commonjs, moduleResolution node10).
 */
describe('the packed package', () => {
  let work: string;
  let tarball: string;
  let packed: string[];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'nestjs-batch-serving-pack-'));
    // A fresh clone: the files git knows (with the uncommitted ones), no dist, the same dependencies.
    const clone = join(work, 'clone');
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const file of files.filter((f) => !f.startsWith('dist/'))) {
      mkdirSync(dirname(join(clone, file)), { recursive: true });
      cpSync(join(ROOT, file), join(clone, file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
    const [result] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: clone, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    tarball = join(work, result.filename);
    packed = result.files.map((f) => f.path);
  }, 240_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('npm pack on a fresh clone builds dist first (prepack), and ships dist only', () => {
    expect(packed).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/transports/nats/index.js', 'dist/transports/nats/index.d.ts']));
    expect(packed.filter((path) => !path.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(path))).toEqual([]);
  });

  it("resolves the types of 'nestjs-batch-serving/nats' under module commonjs / moduleResolution node10, and runs", () => {
    const app = join(work, 'app');
    const modules = join(app, 'node_modules');
    mkdirSync(join(modules, 'nestjs-batch-serving'), { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', join(modules, 'nestjs-batch-serving'), '--strip-components=1']);
    // The app's other dependencies are this repository's.
    for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
      if (entry !== '.bin' && entry !== 'nestjs-batch-serving') symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry));
    }
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          // What `nest new` writes; TypeScript 6 wants node10's deprecation acknowledged.
          module: 'commonjs',
          moduleResolution: 'node10',
          ignoreDeprecations: '6.0',
          target: 'ES2021',
          strict: true,
          skipLibCheck: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          outDir: 'dist',
          types: ['node'],
        },
        include: ['main.ts'],
      }),
    );
    writeFileSync(
      join(app, 'main.ts'),
      [
        "import { BatchServing, BatchServingModule } from 'nestjs-batch-serving';",
        "import { natsTransport, type NatsTransportOptions } from 'nestjs-batch-serving/nats';",
        "const options: NatsTransportOptions = { servers: 'nats://127.0.0.1:1' };",
        'const root = BatchServingModule.forRoot({ transport: natsTransport(options), servings: [{ name: "squares", serving: BatchServing.new((v: number[]) => v.map((x) => x * x)) }] });',
        'console.log(typeof natsTransport, root.module.name);',
      ].join('\n'),
    );
    const compiled = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', app], { encoding: 'utf8' });
    expect(compiled.stdout + compiled.stderr).toBe('');
    expect(execFileSync(process.execPath, [join(app, 'dist', 'main.js')], { encoding: 'utf8' }).trim()).toBe('function BatchServingModule');
  }, 120_000);
});
