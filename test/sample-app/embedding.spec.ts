import { EMBEDDING_DIMENSIONS, MODEL_COST, embed, modelCostUsd, modelTimeMs, tokensOf } from '../../sample-app/src/index-jobs/embedding';

describe('sample app: the stand-in embedding model', () => {
  it('gives the same unit vector for the same text, every time', () => {
    const vector = embed('Dynamic batching for NestJS');
    expect(vector).toHaveLength(EMBEDDING_DIMENSIONS);
    expect(embed('Dynamic batching for NestJS')).toEqual(vector);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 12);
  });

  it('points texts that share words closer together than texts that do not', () => {
    const dot = (a: number[], b: number[]) => a.reduce((sum, v, i) => sum + v * b[i], 0);
    const base = embed('batch the writes to the database');
    expect(dot(base, embed('batch the writes to sqlite'))).toBeGreaterThan(dot(base, embed('a quiet afternoon in spring')));
  });

  it('charges the fixed part of a call once: one call over many tokens costs less than many calls', () => {
    expect(tokensOf('three short words')).toBe(3);
    expect(modelTimeMs(100)).toBe(MODEL_COST.callMs + 100 * MODEL_COST.tokenMs);
    expect(modelCostUsd(16 * 10)).toBeLessThan(16 * modelCostUsd(10));
  });
});
