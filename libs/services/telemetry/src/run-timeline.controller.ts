import { Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiRefusals, CurrentPrincipal, hasRole, Roles, type Principal } from '@govmesh/nest-runtime';
import { AuditRepository } from './audit.repository';
import { wholeNumber } from './query';

const MAX_PAGE = 500;

/**
 * A run's timeline as telemetry recorded it: every event of the run in ledger order with when it
 * happened, when telemetry recorded it, its offset from the run's first event and from the event
 * before, and a summary of what it says. An auditor reads any run; an agent only its own (any
 * other run is not found, so its existence is not revealed).
 */
@ApiTags('telemetry')
@ApiRefusals(401, 403)
@Controller('v1')
export class RunTimelineController {
  constructor(private readonly audit: AuditRepository) {}

  @Get('runs/:id/timeline')
  @Roles('auditor', 'agent')
  @ApiOperation({ summary: 'Every event of a run with its timing', description: 'Roles: auditor, or the agent the run belongs to. Paged in ledger order: `after` (the last `seq` seen) and `limit` (1–500, default 200); `next` is the `after` of the next page.' })
  @ApiParam({ name: 'id', description: 'The run id' })
  @ApiQuery({ name: 'after', required: false, schema: { type: 'integer', minimum: 0 } })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 200 } })
  @ApiOkResponse({ description: 'The run id, its first event time, the events (seq, type, topic, occurredAt, recordedAt, atMs, sincePreviousMs, summary) and the next cursor' })
  @ApiRefusals({ 400: 'after or limit is not a number in range (`invalid_query`)', 404: 'No events for this run (or not yours)' })
  async timeline(@Param('id') id: string, @CurrentPrincipal() principal: Principal, @Query('after') after?: string, @Query('limit') limit?: string) {
    // An empty parameter counts as absent.
    const afterSeq = wholeNumber('after', after || undefined, 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const pageSize = wholeNumber('limit', limit || undefined, 1, MAX_PAGE) ?? 200;
    const notFound = new NotFoundException({ code: 'run_not_found', message: `no events for run "${id.slice(0, 200)}"` });
    if (id.length > 128) throw notFound;
    if (!hasRole(principal, 'auditor')) {
      const agent = await this.audit.runAgent(id);
      if (!agent || agent !== principal.agentId) throw notFound;
    }
    const { startedAt, events } = await this.audit.runEvents(id, afterSeq, pageSize + 1);
    if (!startedAt) throw notFound;
    const page = events.slice(0, pageSize);
    const origin = startedAt.getTime();
    let previous: number | null = null;
    const rows = page.map((e) => {
      const at = e.occurredAt.getTime();
      const row = { seq: e.seq, type: e.type, topic: e.topic, occurredAt: e.occurredAt.toISOString(), recordedAt: e.recordedAt.toISOString(), atMs: at - origin, sincePreviousMs: previous === null ? null : at - previous, eventId: e.eventId, summary: e.summary };
      previous = at;
      return row;
    });
    return { runId: id, startedAt: startedAt.toISOString(), events: rows, next: events.length > pageSize ? page[page.length - 1].seq : null };
  }
}
