import { Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  BatchServing,
  BatchServingClient,
  BatchServingModule,
  BatchServingRegistry,
  InjectServing,
  ServingRef,
  type BatchServingModuleOptions,
} from '../../lib';

/** Stands for an application's configuration service. */
@Injectable()
class AppConfig {
  readonly batchSize = 5;
  readonly factor = 3;
}

@Module({ providers: [AppConfig], exports: [AppConfig] })
class ConfigModule {}

const timesFrom = (config: AppConfig) => BatchServing.new((values: number[]) => values.map((v) => v * config.factor));

@Injectable()
class OptionsFactory {
  constructor(private readonly config: AppConfig) {}
  createBatchServingOptions(): BatchServingModuleOptions {
    return { defaults: { batchSize: this.config.batchSize }, servings: [{ name: 'times', serving: timesFrom(this.config) }] };
  }
}

@Injectable()
class Multiplier {
  constructor(@InjectServing('times') readonly times: ServingRef<number, number>) {}
}

@Module({ imports: [BatchServingModule.forFeature(['times'])], providers: [Multiplier] })
class MultiplierModule {}

describe('BatchServingModule.forRootAsync', () => {
  let app: TestingModule;
  afterEach(() => app.close());

  async function start(imports: unknown[]): Promise<BatchServingClient> {
    app = await Test.createTestingModule({ imports: imports as never[] }).compile();
    await app.init();
    return app.get(BatchServingClient);
  }

  it('useFactory with an injected config provider', async () => {
    const client = await start([
      BatchServingModule.forRootAsync({
        imports: [ConfigModule],
        inject: [AppConfig],
        useFactory: (config: AppConfig) => ({ defaults: { batchSize: config.batchSize }, servings: [{ name: 'times', serving: timesFrom(config) }] }),
      }),
    ]);
    expect(await client.dispatch('times', 2)).toBe(6);
    expect(app.get(BatchServingRegistry).get('times')!.options.batchSize).toBe(5);
  });

  it('useClass builds the options with createBatchServingOptions()', async () => {
    const client = await start([BatchServingModule.forRootAsync({ imports: [ConfigModule], useClass: OptionsFactory })]);
    expect(await client.dispatch('times', 4)).toBe(12);
  });

  it('useExisting reuses a factory provided elsewhere', async () => {
    @Module({ imports: [ConfigModule], providers: [OptionsFactory], exports: [OptionsFactory] })
    class OptionsModule {}
    const client = await start([BatchServingModule.forRootAsync({ imports: [OptionsModule], useExisting: OptionsFactory })]);
    expect(await client.dispatch('times', 5)).toBe(15);
  });

  it('isGlobal, and ServingRefs through forFeature (forRootAsync servings are not known statically)', async () => {
    await start([
      BatchServingModule.forRootAsync({ isGlobal: true, imports: [ConfigModule], useClass: OptionsFactory }),
      MultiplierModule,
    ]);
    expect(await app.get(Multiplier).times.dispatch(7)).toBe(21);
  });
});
