import { Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
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

  @Get('dead-letters')
  deadLetters(@Query('limit') limit?: string) {
    return this.telemetry.deadLetters(Math.min(500, Math.max(1, Number(limit ?? 50) || 50)));
  }
}
