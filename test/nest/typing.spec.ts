import { Test, type TestingModule } from '@nestjs/testing';
import type { Observable } from 'rxjs';
import {
  BatchServing,
  BatchServingClient,
  BatchServingModule,
  BatchServingRegistry,
  Serving,
  type BatchContext,
  type DispatchResult,
  type RunningServing,
  type ServingEvent,
  type ServingHandler,
  type ServingRef,
  type ServingRefOf,
} from '../../lib';

/* These tests are mostly for the compiler: `npm run typecheck` fails when an inferred type changes. */

/** True when A and B are the same type (not merely assignable). */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(): T => true as T;

@Serving({ name: 'embed', batchTimeout: 0 })
class EmbedServing implements ServingHandler<string, number[]> {
  async handleBatch(texts: string[], _ctx: BatchContext): Promise<number[][]> {
    return texts.map((t) => [t.length]);
  }
}

/** Callers pass sentences and get booleans; the batch function sees token ids and returns labels. */
@Serving({ batchTimeout: 0 })
class Classifier {
  mapInputs(sentences: string[]): number[] {
    return sentences.map((s) => s.length);
  }
  handleBatch(ids: number[]): string[] {
    return ids.map((id) => (id > 3 ? 'long' : 'short'));
  }
  mapResults(labels: string[], _sentences: string[]): boolean[] {
    return labels.map((label) => label === 'long');
  }
}

/** An `Error` output fails its caller: it is never a result. */
@Serving({ batchTimeout: 0 })
class Fallible {
  handleBatch(values: number[]): Array<number | Error> {
    return values.map((v) => (v < 0 ? new Error('negative') : Math.sqrt(v)));
  }
}

describe('Types inferred from a @Serving() class', () => {
  let app: TestingModule;
  let client: BatchServingClient;

  beforeAll(async () => {
    app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot()], providers: [EmbedServing, Classifier, Fallible] }).compile();
    await app.init();
    client = app.get(BatchServingClient);
  });
  afterAll(() => app.close());

  it('dispatch(EmbedServing, text) is a Promise<number[]> and refuses a number', async () => {
    const one = client.dispatch(EmbedServing, 'text');
    assertType<Equals<typeof one, Promise<number[]>>>();
    // @ts-expect-error EmbedServing takes strings
    await expect(client.dispatch(EmbedServing, 42).catch(() => 'refused')).resolves.toBeDefined();
    expect(await one).toEqual([4]);

    const many = client.dispatchMany(EmbedServing, ['a', 'bb']);
    assertType<Equals<typeof many, Promise<number[][]>>>();
    const tried = client.tryDispatch(EmbedServing, 'a');
    assertType<Equals<typeof tried, Promise<DispatchResult<number[]>>>>();
    const stream = client.stream(EmbedServing, ['a']);
    assertType<Equals<typeof stream, Observable<ServingEvent<number[]>>>>();
    expect(await many).toEqual([[1], [2]]);
  });

  it('mapInputs decides the input, mapResults the result, handleBatch the raw stream outputs', async () => {
    const result = client.dispatch(Classifier, 'hello');
    assertType<Equals<typeof result, Promise<boolean>>>();
    const stream = client.stream(Classifier, ['hello']);
    assertType<Equals<typeof stream, Observable<ServingEvent<string>>>>();
    expect(await result).toBe(true);
    expect(await client.inline(Classifier, 'hi')).toBe(false);
  });

  it('Error outputs are not part of the result type', async () => {
    const root = client.dispatch(Fallible, 9);
    assertType<Equals<typeof root, Promise<number>>>();
    expect(await root).toBe(3);
  });

  it('by name the result is unknown unless the caller says what it is', async () => {
    const untyped = client.dispatch('embed', 'text');
    assertType<Equals<typeof untyped, Promise<unknown>>>();
    const typed = client.dispatch<number[]>('embed', 'text');
    assertType<Equals<typeof typed, Promise<number[]>>>();
    expect(await typed).toEqual([4]);
  });

  it('refs are typed from the class, or by hand for a name', async () => {
    const ref = client.ref(EmbedServing);
    assertType<Equals<typeof ref, ServingRefOf<typeof EmbedServing>>>();
    assertType<Equals<typeof ref, ServingRef<string, number[], number[]>>>();
    const result = ref.dispatch('abc');
    assertType<Equals<typeof result, Promise<number[]>>>();
    const byName = client.ref<string, number[]>('embed');
    assertType<Equals<ReturnType<typeof byName.dispatch>, Promise<number[]>>>();
    expect(await result).toEqual([3]);
  });

  it('ServingRefOf<typeof squares> types the ref of a BatchServing value, mapped or not', async () => {
    const squares = BatchServing.new((values: number[]) => values.map((v) => v * v));
    const labelled = squares.mapInputs((texts: string[]) => texts.map(Number)).mapResults((outputs) => outputs.map(String));
    assertType<Equals<ServingRefOf<typeof squares>, ServingRef<number, number, number>>>();
    assertType<Equals<ServingRefOf<typeof labelled>, ServingRef<string, string, number>>>();
    await app.get(BatchServingRegistry).register('squares', squares);
    const ref: ServingRefOf<typeof squares> = client.ref('squares');
    const result = ref.dispatch(3);
    assertType<Equals<typeof result, Promise<number>>>();
    expect(await result).toBe(9);
  });

  it('register() gives a RunningServing typed from the BatchServing', async () => {
    const lengths = BatchServing.new((values: string[]) => values.map((v) => v.length));
    const running = await app.get(BatchServingRegistry).register('lengths', lengths);
    assertType<Equals<typeof running, RunningServing<string, number, number>>>();
    expect(await running.dispatch('four')).toBe(4);
  });
});
