import { BadRequestException, Controller, Get, HttpCode, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiRefusals, Roles } from '@govmesh/nest-runtime';
import { AuditRepository } from './audit.repository';
import { AuditLedger } from './audit-ledger';
import { wholeNumber } from './query';
import { UnstorableRecordsRepository } from './unstorable-records.repository';

/** Read side for auditors: the audit chain and the dead letters. */
@ApiTags('telemetry')
@ApiRefusals(401, 403)
@Controller('v1')
@Roles('auditor')
export class TelemetryController {
  constructor(
    private readonly telemetry: AuditRepository,
    private readonly ledger: AuditLedger,
    private readonly unstorable: UnstorableRecordsRepository,
  ) {}

  @Get('audit/verify')
  @ApiOperation({
    summary: 'Verify the audit ledger',
    description:
      'Role: auditor. Streams the records after the last checkpoint a verification found intact (`from=checkpoint`, the default) or every record (`from=genesis`), ' +
      'recomputing each payload digest and hash link, checking every signed checkpoint (signature, order, signed head and Merkle root) and the chain head. ' +
      'Names the first modified, deleted, inserted, reordered or truncated record, or a checkpoint that does not verify.',
  })
  @ApiQuery({ name: 'from', required: false, description: 'Where verification starts', schema: { type: 'string', enum: ['checkpoint', 'genesis'], default: 'checkpoint' } })
  @ApiOkResponse({ description: '`intact`, records verified (`length`) from `verifiedFrom`, and either the head and newest checkpoint passed, or `problem` {seq, kind, reason}' })
  @ApiRefusals({ 400: '`from` is neither checkpoint nor genesis (`invalid_query`)' })
  verify(@Query('from') from?: string) {
    if (from !== undefined && from !== 'checkpoint' && from !== 'genesis') throw new BadRequestException({ code: 'invalid_query', message: 'from must be checkpoint or genesis', fields: [{ field: 'from', problem: 'is not checkpoint or genesis' }] });
    return this.ledger.verify(from ?? 'checkpoint');
  }

  @Get('audit/key')
  @ApiOperation({ summary: 'The public key of the audit ledger', description: 'Role: auditor. Checkpoints and evidence bundles are signed with its private half; verify them offline with `govmesh evidence verify --key`.' })
  @ApiOkResponse({ description: '`keyId` and `publicKey` (base64url of the raw Ed25519 key)' })
  key() {
    return this.ledger.key;
  }

  @Get('audit/checkpoints')
  @ApiOperation({ summary: 'Signed checkpoints of the audit ledger, newest first', description: 'Role: auditor.' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } })
  @ApiQuery({ name: 'before', required: false, description: 'Only checkpoints before this sequence number (the next page)', schema: { type: 'integer', minimum: 1 } })
  @ApiOkResponse({ description: 'The checkpoints: statement {seq, fromSeq, head, root, prev, time}, keyId, signature' })
  @ApiRefusals({ 400: 'limit or before is not a whole number in range (`invalid_query`)' })
  checkpoints(@Query('limit') limit?: string, @Query('before') before?: string) {
    return this.ledger.checkpoints(wholeNumber('limit', limit, 1, 1000) ?? 100, wholeNumber('before', before, 1, Number.MAX_SAFE_INTEGER));
  }

  @Post('audit/checkpoints')
  @HttpCode(200)
  @Roles('auditor', 'operator')
  @ApiOperation({ summary: 'Checkpoint the audit ledger now', description: 'Role: auditor or operator. Signs checkpoints over the records added since the last one (telemetry also does this every GOVMESH_AUDIT_CHECKPOINT_INTERVAL_MS).' })
  @ApiOkResponse({ description: 'The checkpoints made (none when no record was added) and the newest one' })
  async checkpointNow() {
    const made = await this.ledger.checkpoint();
    return { made, last: made[made.length - 1] ?? (await this.ledger.lastCheckpoint()) };
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
  @ApiRefusals({ 400: 'limit is not a whole number from 1 to 500, or reason is not a rejection code (`invalid_query`)' })
  deadLetters(@Query('limit') limit?: string, @Query('reason') reason?: string) {
    if (reason !== undefined && !/^[a-z][a-z0-9_]{0,63}$/.test(reason)) throw new BadRequestException({ code: 'invalid_query', message: 'reason must be a rejection code such as intent_unsigned', fields: [{ field: 'reason', problem: 'is not a rejection code' }] });
    return this.telemetry.deadLetters(wholeNumber('limit', limit, 1, 500) ?? 50, reason);
  }

  /** Dead letters telemetry could not record even after retries, kept aside with the reason; never their bytes. */
  @Get('dead-letters/set-aside')
  @ApiOperation({ summary: 'Dead letters set aside', description: 'Role: auditor. Messages of the dead-letter topic telemetry could not record, kept in telemetry.unstorable_records with the reason (never dead-lettered again). Metadata and reason only.' })
  @ApiQuery({ name: 'limit', required: false, description: 'How many, newest first', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } })
  @ApiOkResponse({ description: 'id (topic:partition:offset), topic, partition, offset, reasonCode, reason, valueBytes, recordedAt' })
  @ApiRefusals({ 400: 'limit is not a whole number from 1 to 500 (`invalid_query`)' })
  setAside(@Query('limit') limit?: string) {
    return this.unstorable.list(wholeNumber('limit', limit, 1, 500) ?? 50);
  }

  /** One dead letter's metadata; its original headers and bytes only with `include=value`. */
  @Get('dead-letters/:id')
  @ApiOperation({ summary: 'One dead letter', description: 'Role: auditor. Metadata and reason; the original headers and bytes only with `include=value`.' })
  @ApiParam({ name: 'id', description: 'The dead letter id (govmesh.dlq:<partition>:<offset>, URL-encoded)' })
  @ApiQuery({ name: 'include', required: false, description: '`value`: also the original headers and value (text, or base64 as valueEncoding says)', schema: { type: 'string', enum: ['value'] } })
  @ApiOkResponse({ description: 'The dead letter' })
  @ApiRefusals({ 400: 'include is not `value` (`invalid_query`)', 404: 'No dead letter with this id' })
  async deadLetter(@Param('id') id: string, @Query('include') include?: string) {
    if (include !== undefined && include !== 'value') throw new BadRequestException({ code: 'invalid_query', message: 'include must be value (the original headers and bytes)', fields: [{ field: 'include', problem: 'is not value' }] });
    const letter = id.length <= 255 ? await this.telemetry.deadLetter(id) : null;
    if (!letter) throw new NotFoundException({ code: 'dead_letter_not_found', message: `no dead letter "${id.slice(0, 300)}"` });
    if (include === 'value') return letter;
    const { value, headers: _headers, ...metadata } = letter;
    return { ...metadata, valueBytes: letter.valueEncoding === 'base64' ? Buffer.from(value, 'base64').length : Buffer.byteLength(value, 'utf8') };
  }
}
