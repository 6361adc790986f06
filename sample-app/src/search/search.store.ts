import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as sqliteVec from 'sqlite-vec';
import { APP_CONFIG, type AppConfig } from '../config';
import { EMBEDDING_DIMENSIONS } from '../index-jobs/use-lite';

/** A document found by a search, with its cosine similarity to the query (1 = same direction). */
export interface SearchHit {
  id: number;
  text: string;
  score: number;
}

/**
 * The indexed documents and their vectors, in a SQLite file under the data directory. The
 * vectors live in a `vec0` table of the sqlite-vec extension (loaded from its npm package), which
 * finds the k nearest by cosine distance inside SQLite: no vector leaves the database to be compared.
 */
@Injectable()
export class SearchStore implements OnApplicationShutdown {
  private readonly db: Database.Database;
  private readonly addAll: (jobId: string, userId: string, texts: readonly string[], vectors: readonly Float32Array[]) => number[];
  private readonly knn: Database.Statement<[Float32Array, number], SearchHit>;
  private readonly countRows: Database.Statement<[], { count: number }>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    mkdirSync(config.dataDir, { recursive: true });
    this.db = new Database(join(config.dataDir, 'search.db'));
    this.db.pragma('journal_mode = WAL');
    sqliteVec.load(this.db);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS documents (id INTEGER PRIMARY KEY, job_id TEXT NOT NULL, user_id TEXT NOT NULL, text TEXT NOT NULL);
      CREATE VIRTUAL TABLE IF NOT EXISTS document_vectors USING vec0(embedding float[${EMBEDDING_DIMENSIONS}] distance_metric=cosine);
    `);
    const insertDocument = this.db.prepare<[string, string, string]>('INSERT INTO documents (job_id, user_id, text) VALUES (?, ?, ?)');
    const insertVector = this.db.prepare<[bigint, Float32Array]>('INSERT INTO document_vectors (rowid, embedding) VALUES (?, ?)');
    this.addAll = this.db.transaction((jobId: string, userId: string, texts: readonly string[], vectors: readonly Float32Array[]) =>
      texts.map((text, i) => {
        const id = insertDocument.run(jobId, userId, text).lastInsertRowid;
        // vec0 takes its rowid as a BigInt only.
        insertVector.run(BigInt(id), vectors[i]);
        return Number(id);
      }),
    );
    this.knn = this.db.prepare(`
      SELECT d.id AS id, d.text AS text, 1 - v.distance AS score
      FROM document_vectors v JOIN documents d ON d.id = v.rowid
      WHERE v.embedding MATCH ? AND k = ?
      ORDER BY v.distance`);
    this.countRows = this.db.prepare('SELECT COUNT(*) AS count FROM documents');
  }

  /** Stores one batch of a job's documents with their vectors, in one transaction; returns their ids. */
  add(jobId: string, userId: string, texts: readonly string[], vectors: readonly Float32Array[]): number[] {
    return this.addAll(jobId, userId, texts, vectors);
  }

  /** The `k` documents nearest to `vector`, best first. */
  nearest(vector: Float32Array, k: number): SearchHit[] {
    return this.knn.all(vector, k);
  }

  count(): number {
    return this.countRows.get()!.count;
  }

  // After the servings drained: an indexing batch that finishes during the drain still stores here.
  onApplicationShutdown(): void {
    this.db.close();
  }
}
