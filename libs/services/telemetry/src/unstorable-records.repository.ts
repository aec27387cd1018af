import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { toStorableString, type Rejection } from '@govmesh/contracts';
import type { IncomingMessage } from '@govmesh/messaging';
import { TELEMETRY_SERVICE } from './database';

/** What telemetry keeps of a dead letter it could not record, as the dead-letter API shows it. */
export interface UnstorableRecordView {
  id: string;
  topic: string;
  partition: number;
  offset: string;
  reasonCode: string;
  reason: string;
  valueBytes: number;
  recordedAt: Date;
}

/** All SQL of `telemetry.unstorable_records`: dead letters set aside rather than lost or looped. */
@Injectable()
export class UnstorableRecordsRepository {
  constructor(@InjectDataSource(TELEMETRY_SERVICE) private readonly dataSource: DataSource) {}

  /**
   * Keeps the message with its reason in its own transaction: bytes as bytea, so nothing in it can
   * be refused; a redelivered message is kept once.
   */
  async setAside(message: IncomingMessage, rejection: Rejection): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO "telemetry"."unstorable_records" (id, topic, partition, "offset", message_key, headers, value, reason_code, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
      [
        toStorableString(`${message.topic}:${message.partition}:${message.offset}`).slice(0, 255),
        toStorableString(message.topic).slice(0, 255),
        message.partition,
        String(message.offset).slice(0, 32),
        message.key === null ? null : Buffer.from(message.key, 'utf8'),
        Buffer.from(JSON.stringify(message.headers), 'utf8'),
        message.value,
        rejection.code.slice(0, 64),
        toStorableString(rejection.message),
      ],
    );
  }

  /** The newest records set aside, metadata and reason only. */
  list(limit: number): Promise<UnstorableRecordView[]> {
    return this.dataSource.query(
      `SELECT id, topic, partition, "offset", reason_code AS "reasonCode", reason, coalesce(octet_length(value), 0) AS "valueBytes", recorded_at AS "recordedAt"
       FROM "telemetry"."unstorable_records" ORDER BY recorded_at DESC LIMIT $1`,
      [limit],
    );
  }
}
