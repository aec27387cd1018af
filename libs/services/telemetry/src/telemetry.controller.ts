import { BadRequestException, Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { Roles } from '@govmesh/nest-runtime';
import { AuditRepository } from './telemetry.handlers';

/** Read side for auditors: the audit chain and the dead letters. */
@Controller('v1')
@Roles('auditor')
export class TelemetryController {
  constructor(private readonly telemetry: AuditRepository) {}

  @Get('audit/verify')
  verify() {
    return this.telemetry.verify();
  }

  @Get('audit/runs/:id')
  async timeline(@Param('id') id: string) {
    const records = await this.telemetry.runTimeline(id);
    if (records.length === 0) throw new NotFoundException({ code: 'run_not_found', message: `no audit records for run "${id}"` });
    return records.map((r) => ({ seq: r.seq, type: r.type, topic: r.topic, occurredAt: r.occurredAt, eventId: r.eventId, hash: r.hash.trim() }));
  }

  /** Metadata and reason of the newest dead letters (`limit` up to 500, `reason` to filter); never their bytes. */
  @Get('dead-letters')
  deadLetters(@Query('limit') limit?: string, @Query('reason') reason?: string) {
    if (reason !== undefined && !/^[a-z][a-z0-9_]{0,63}$/.test(reason)) throw new BadRequestException({ code: 'invalid_query', message: 'reason must be a rejection code such as intent_unsigned', fields: [{ field: 'reason', problem: 'is not a rejection code' }] });
    return this.telemetry.deadLetters(Math.min(500, Math.max(1, Number(limit ?? 50) || 50)), reason);
  }

  /** One dead letter with its original headers and bytes, on request. */
  @Get('dead-letters/:id')
  async deadLetter(@Param('id') id: string) {
    const letter = id.length <= 255 ? await this.telemetry.deadLetter(id) : null;
    if (!letter) throw new NotFoundException({ code: 'dead_letter_not_found', message: `no dead letter "${id.slice(0, 300)}"` });
    return letter;
  }
}
