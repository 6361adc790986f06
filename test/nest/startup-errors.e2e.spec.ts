import { Injectable, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BatchServingClient, BatchServingModule, Serving, ServingConfigurationError, type BatchServingModuleOptions } from '../../lib';
import { rejectionOf } from './helpers';

/** Compiles and inits a module that must fail at init, and gives the error. */
async function initError(options: BatchServingModuleOptions, providers: unknown[] = []): Promise<Error> {
  const app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot(options)], providers: providers as never[] }).compile();
  const error = (await rejectionOf(app.init())) as Error;
  // Nest's close() after a failed init re-throws that error; the module released what it had started.
  await expect(app.close()).rejects.toBe(error);
  return error;
}

@Serving({ name: 'embed' })
class EmbedServing {
  handleBatch(values: string[]): number[] {
    return values.map((v) => v.length);
  }
}

describe('BatchServingModule: configuration that cannot work fails at start-up', () => {
  it('refuses a @Serving() class without handleBatch, naming the class', async () => {
    @Serving()
    class NotAServing {
      handle(values: string[]): string[] {
        return values;
      }
    }
    const error = await initError({}, [NotAServing]);
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect(error.message).toContain('@Serving() class NotAServing');
    expect(error.message).toContain('no handleBatch(values, ctx) method');
  });

  it('refuses two servings with one name, naming both', async () => {
    @Serving({ name: 'embed' })
    class OtherEmbed {
      handleBatch(values: string[]): number[] {
        return values.map(() => 0);
      }
    }
    const error = await initError({}, [EmbedServing, OtherEmbed]);
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect(error.message).toMatch(/Two servings are named 'embed': @Serving\(\) class EmbedServing .* and @Serving\(\) class OtherEmbed/);
  });

  it('refuses a forRoot serving whose name a @Serving() class also uses', async () => {
    const error = await initError({ servings: [{ name: 'embed', serving: (v: string[]) => v }] }, [EmbedServing]);
    expect(error.message).toContain("Two servings are named 'embed': forRoot servings[0] and @Serving() class EmbedServing");
  });

  it('refuses bad options, naming the serving, and starts none of the others', async () => {
    const app = await Test.createTestingModule({
      imports: [BatchServingModule.forRoot({ servings: [{ name: 'ok', serving: (v: number[]) => v }, { name: 'bad', serving: (v: number[]) => v, batchSize: 0 }] })],
    }).compile();
    const error = (await rejectionOf(app.init())) as Error;
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect(error.message).toBe("Serving 'bad' has an invalid batchSize: 0. It must be a whole number of at least 1.");
    // A dispatch made now gets the start-up error instead of waiting for a start that will not come.
    await expect(app.get(BatchServingClient).dispatch('ok', 1)).rejects.toBe(error);
    await expect(app.close()).rejects.toBe(error);
  });

  it('refuses bad decorator options and bad defaults', async () => {
    @Serving({ batchTimeout: -1 })
    class Impatient {
      handleBatch(values: number[]): number[] {
        return values;
      }
    }
    expect((await initError({}, [Impatient])).message).toContain("Serving 'Impatient' has an invalid batchTimeout: -1");
    expect((await initError({ defaults: { partitions: 1.5 } }, [EmbedServing])).message).toBe(
      "Serving 'embed' has an invalid partitions: 1.5. It must be a whole number of at least 1.",
    );
  });

  it('refuses a bad shutdown option', async () => {
    const mode = await initError({ shutdown: { mode: 'later' as never } });
    expect(mode.message).toBe("BatchServingModule has an invalid shutdown.mode: \"later\". It must be 'drain' or 'reject'.");
    const timeout = await initError({ shutdown: { timeout: -5 } });
    expect(timeout.message).toContain('invalid shutdown.timeout: -5');
  });

  it('refuses a forRoot serving without a name or without handleBatch', async () => {
    expect((await initError({ servings: [{ name: '', serving: (v: number[]) => v }] })).message).toContain('forRoot servings[0] has an invalid name: ""');
    expect((await initError({ servings: [{ name: 'x', serving: {} as never }] })).message).toContain("forRoot servings[0] cannot serve 'x'");
  });

  it('refuses a request-scoped @Serving() class', async () => {
    @Serving()
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      handleBatch(values: number[]): number[] {
        return values;
      }
    }
    const error = await initError({}, [PerRequest]);
    expect(error.message).toContain("@Serving() class PerRequest ('PerRequest') is request-scoped or transient");
  });
});
