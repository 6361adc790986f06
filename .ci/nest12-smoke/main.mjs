// An ESM Nest 12 application using the packed package as a user would. Plain JavaScript: the
// decorators are applied as calls, and constructor types are given as design:paramtypes metadata.
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BatchServing, BatchServingClient, BatchServingModule, BatchServingRegistry, Serving, ServingShutdownError } from 'nestjs-batch-serving';

const nestVersion = JSON.parse(readFileSync(new URL('./node_modules/@nestjs/core/package.json', import.meta.url))).version;

class ModelService {
  factor = 2;
}
Injectable()(ModelService);

/** A discovered serving with a constructor-injected dependency. */
class DoubleServing {
  constructor(model) {
    this.model = model;
    this.batches = [];
  }
  handleBatch(values) {
    this.batches.push(values.length);
    return values.map((v) => v * this.model.factor);
  }
}
Reflect.defineMetadata('design:paramtypes', [ModelService], DoubleServing);
Reflect.decorate([Serving({ name: 'double', batchSize: 4, batchTimeout: 5 }), Injectable()], DoubleServing);

class AppModule {}
Module({
  imports: [
    BatchServingModule.forRoot({
      servings: [{ name: 'squares', serving: BatchServing.new((values) => values.map((v) => v * v)) }],
    }),
  ],
  providers: [ModelService, DoubleServing],
})(AppModule);

try {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  const client = app.get(BatchServingClient);
  deepStrictEqual(await Promise.all([1, 2, 3, 4, 5].map((v) => client.dispatch('double', v))), [2, 4, 6, 8, 10]);
  deepStrictEqual(app.get(DoubleServing).batches, [4, 1]);
  strictEqual(await client.dispatch(DoubleServing, 21), 42);
  deepStrictEqual(await client.dispatchMany('squares', [1, 2, 3]), [1, 4, 9]);
  deepStrictEqual(app.get(BatchServingRegistry).list(), ['squares', 'double']);
  await app.close();
  await client.dispatch('double', 1).then(
    () => { throw new Error('a dispatch after close() succeeded'); },
    (error) => strictEqual(error instanceof ServingShutdownError, true),
  );
  console.log(`nest12-smoke: OK with @nestjs/core ${nestVersion} (ESM): discovered and functional servings answered, app closed`);
} catch (error) {
  console.error(`nest12-smoke: FAILED with @nestjs/core ${nestVersion}:`, error);
  process.exit(1);
}
