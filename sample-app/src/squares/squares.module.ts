import { Module } from '@nestjs/common';
import { BatchServingModule } from 'nestjs-batch-serving';
import { SquaresController } from './squares.controller';
import { SQUARES } from './squares.serving';

/**
 * The squares serving itself is declared in AppModule's `forRootAsync({ servings })`; forFeature
 * provides its ServingRef here, for `@InjectServing('squares')`.
 */
@Module({
  imports: [BatchServingModule.forFeature([SQUARES.name])],
  controllers: [SquaresController],
})
export class SquaresModule {}
