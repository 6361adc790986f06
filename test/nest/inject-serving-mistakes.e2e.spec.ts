import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BatchServingModule, InjectServing, ServingConfigurationError, type ServingRef } from '../../lib';
import { rejectionOf } from './helpers';

/*
 * Its own file: @InjectServing records its target for the whole process (here, this test file),
 * so a mistaken target would fail every other app built beside it, which is the point.
 */

/** Forgot its @Serving(): it has handleBatch, but nothing starts it as a serving. */
class Undecorated {
  handleBatch(values: number[]): number[] {
    return values;
  }
}

@Injectable()
class Consumer {
  constructor(@InjectServing(Undecorated) readonly ref: ServingRef) {}
}

@Module({ providers: [Consumer] })
class ConsumerModule {}

describe('@InjectServing of a class that is not a @Serving()', () => {
  it('fails at start-up, naming the class and the fix', async () => {
    const error = (await rejectionOf(Test.createTestingModule({ imports: [BatchServingModule.forRoot(), ConsumerModule] }).compile())) as Error;
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect(error.message).toBe(
      '@InjectServing(Undecorated) or forFeature([Undecorated]) names class Undecorated, which is not a @Serving(). ' +
        "Decorate Undecorated with @Serving(), or name a serving by its string: @InjectServing('name').",
    );
  });
});
