import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { APP_CONFIG, type AppConfig } from '../config';
import type { NewEvent, SavedEvent } from './event';

/**
 * The events table in a SQLite file under the data directory. Every write is a transaction, and
 * with `synchronous = FULL` every commit waits for the disk: that sync is what batching shares
 * out, one per batch instead of one per request.
 */
@Injectable()
export class EventsStore implements OnApplicationShutdown {
  private readonly db: Database.Database;
  private readonly insertAll: (events: readonly NewEvent[]) => SavedEvent[];
  private readonly countRows: Database.Statement<[], { count: number }>;
  private readonly transactions: Counter;
  private readonly rows: Counter;

  constructor(@Inject(APP_CONFIG) config: AppConfig, metrics: Registry) {
    mkdirSync(config.dataDir, { recursive: true });
    this.db = new Database(join(config.dataDir, 'events.db'));
    // WAL: GET /events/count reads while a batch writes, and a commit appends instead of rewriting pages.
    this.db.pragma('journal_mode = WAL');
    // WAL's usual NORMAL would skip the sync per commit, and with it the cost this app compares.
    this.db.pragma('synchronous = FULL');
    this.db.exec('CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, type TEXT NOT NULL, payload TEXT, created_at INTEGER NOT NULL)');
    const insert = this.db.prepare<[string, string | null, number]>('INSERT INTO events (type, payload, created_at) VALUES (?, ?, ?)');
    this.insertAll = this.db.transaction((events: readonly NewEvent[]) => {
      const now = Date.now();
      return events.map((e) => ({ id: Number(insert.run(e.type, e.payload === undefined ? null : JSON.stringify(e.payload), now).lastInsertRowid) }));
    });
    this.countRows = this.db.prepare('SELECT COUNT(*) AS count FROM events');
    this.transactions = new Counter({ name: 'events_sqlite_transactions_total', help: 'Transactions committed by POST /events', registers: [metrics] });
    this.rows = new Counter({ name: 'events_sqlite_rows_total', help: 'Events written by POST /events', registers: [metrics] });
  }

  /** Writes `events` in one transaction: one commit, one disk sync, however many there are. */
  insertMany(events: readonly NewEvent[]): SavedEvent[] {
    const saved = this.insertAll(events);
    this.transactions.inc();
    this.rows.inc(events.length);
    return saved;
  }

  count(): number {
    return this.countRows.get()!.count;
  }

  /** Throws when the database cannot answer: what the health check asks. */
  ping(): void {
    this.db.prepare('SELECT 1').get();
  }

  // Not onModuleDestroy: that runs before the servings drain, and draining still writes here.
  onApplicationShutdown(): void {
    this.db.close();
  }
}
