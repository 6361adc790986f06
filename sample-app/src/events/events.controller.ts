import { Body, Controller, Get, HttpCode, Inject, Post, Query } from '@nestjs/common';
import { BatchServingClient } from 'nestjs-batch-serving';
import { APP_CONFIG, type AppConfig } from '../config';
import { switchQuery } from '../switch-query';
import type { NewEvent } from './event';
import { EventWriterServing } from './events.serving';
import { EventsStore } from './events.store';

@Controller('events')
export class EventsController {
  constructor(
    private readonly client: BatchServingClient,
    private readonly store: EventsStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * POST /events { type, payload? } → 201 { id, batched }. Batched, the event shares a transaction
   * with its neighbours; with `?batching=off` (or EVENTS_BATCHING=off) it runs the same handler
   * inline, at once, in a transaction of its own: the comparison `npm run demo:load` makes.
   */
  @Post()
  @HttpCode(201)
  async create(@Body() event: NewEvent, @Query('batching') batching?: string): Promise<{ id: number; batched: boolean }> {
    const batched = this.batching(batching);
    // The body is typed by declaration only: the serving's validate() checks it, on both paths.
    const { id } = batched ? await this.client.dispatch(EventWriterServing, event) : await this.client.inline(EventWriterServing, event);
    return { id, batched };
  }

  /** GET /events/count → { count }. */
  @Get('count')
  count(): { count: number } {
    return { count: this.store.count() };
  }

  private batching(query: string | undefined): boolean {
    return switchQuery('batching', query, this.config.eventsBatching);
  }
}
