import { BadRequestException, Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiRefusals, Roles } from '@govmesh/nest-runtime';
import { AuditRepository } from './audit.repository';

/** Read side for auditors: the audit chain and the dead letters. */
@ApiTags('telemetry')
@ApiRefusals(401, 403)
@Controller('v1')
@Roles('auditor')
export class TelemetryController {
  constructor(private readonly telemetry: AuditRepository) {}

  @Get('audit/verify')
  @ApiOperation({ summary: 'Verify the audit chain', description: 'Role: auditor. Recomputes every hash link of the tamper-evident chain.' })
  @ApiOkResponse({ description: 'Whether the chain is intact, how many records it has, and where it breaks if it does' })
  verify() {
    return this.telemetry.verify();
  }

  @Get('audit/runs/:id')
  @ApiOperation({ summary: 'The audit timeline of a run', description: 'Role: auditor.' })
  @ApiParam({ name: 'id', description: 'The run id' })
  @ApiOkResponse({ description: 'The audit records of the run in order: sequence, type, topic, time, event id, hash' })
  @ApiRefusals({ 404: 'No audit records for this run' })
  async timeline(@Param('id') id: string) {
    const records = await this.telemetry.runTimeline(id);
    if (records.length === 0) throw new NotFoundException({ code: 'run_not_found', message: `no audit records for run "${id}"` });
    return records.map((r) => ({ seq: r.seq, type: r.type, topic: r.topic, occurredAt: r.occurredAt, eventId: r.eventId, hash: r.hash.trim() }));
  }

  /** Metadata and reason of the newest dead letters (`limit` up to 500, `reason` to filter); never their bytes. */
  @Get('dead-letters')
  @ApiOperation({ summary: 'The newest dead letters', description: 'Role: auditor. Metadata and reason only, never the bytes.' })
  @ApiQuery({ name: 'limit', required: false, description: 'How many, newest first', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } })
  @ApiQuery({ name: 'reason', required: false, description: 'Only this rejection code, e.g. intent_unsigned', schema: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' } })
  @ApiOkResponse({ description: 'The dead letters: id, topic, reason, time' })
  @ApiRefusals({ 400: 'reason is not a rejection code (`invalid_query`)' })
  deadLetters(@Query('limit') limit?: string, @Query('reason') reason?: string) {
    if (reason !== undefined && !/^[a-z][a-z0-9_]{0,63}$/.test(reason)) throw new BadRequestException({ code: 'invalid_query', message: 'reason must be a rejection code such as intent_unsigned', fields: [{ field: 'reason', problem: 'is not a rejection code' }] });
    return this.telemetry.deadLetters(Math.min(500, Math.max(1, Number(limit ?? 50) || 50)), reason);
  }

  /** One dead letter with its original headers and bytes, on request. */
  @Get('dead-letters/:id')
  @ApiOperation({ summary: 'One dead letter with its original headers and bytes', description: 'Role: auditor.' })
  @ApiParam({ name: 'id', description: 'The dead letter id' })
  @ApiOkResponse({ description: 'The dead letter' })
  @ApiRefusals({ 404: 'No dead letter with this id' })
  async deadLetter(@Param('id') id: string) {
    const letter = id.length <= 255 ? await this.telemetry.deadLetter(id) : null;
    if (!letter) throw new NotFoundException({ code: 'dead_letter_not_found', message: `no dead letter "${id.slice(0, 300)}"` });
    return letter;
  }
}
