import { Module } from '@nestjs/common';
import { EventsController } from './events.controller';
import { EventWriterServing } from './events.serving';
import { EventsStore } from './events.store';

/** The @Serving() class is a plain provider: BatchServingModule finds it here and starts it. */
@Module({
  controllers: [EventsController],
  providers: [EventsStore, EventWriterServing],
  exports: [EventsStore],
})
export class EventsModule {}
