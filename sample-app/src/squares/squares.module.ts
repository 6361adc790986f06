import { Module } from '@nestjs/common';
import { SquaresController } from './squares.controller';

/**
 * The squares serving itself is declared in AppModule's `forRootAsync({ servings })`; the
 * controller's `@InjectServing('squares')` gets its ref from there, with no import here.
 */
@Module({
  controllers: [SquaresController],
})
export class SquaresModule {}
