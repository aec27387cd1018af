import { Controller, Get, Header, NotFoundException, Param, PayloadTooLargeException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiRefusals, Roles } from '@govmesh/nest-runtime';
import { AuditLedger, EvidenceTooLargeError } from './audit-ledger';

/** Evidence bundles for auditors: one run's ledger records, provable offline against signed checkpoints. */
@ApiTags('telemetry')
@ApiRefusals(401, 403)
@Controller('v1')
@Roles('auditor')
export class EvidenceController {
  constructor(private readonly ledger: AuditLedger) {}

  @Get('runs/:id/evidence')
  @Header('content-type', 'application/json; charset=utf-8')
  @Header('cache-control', 'no-store')
  @ApiOperation({
    summary: "Export a run's evidence bundle",
    description:
      'Role: auditor. Every ledger record of the run (intent and its signature, decisions with policy version and policies, approvals with reviewer and digest, ' +
      'executions, verification, model calls with cost, the result) with the inclusion proof that ties it to a signed checkpoint, a summary, and a signature ' +
      'over the whole bundle. Save the body byte for byte and check it offline: `govmesh evidence verify bundle.json --key <audit public key>`.',
  })
  @ApiParam({ name: 'id', description: 'The run id' })
  @ApiOkResponse({ description: 'The bundle, canonical JSON (RFC 8785)' })
  @ApiRefusals({ 404: 'No ledger records for this run (`run_not_found`)', 413: 'The run has too many records for one bundle (`evidence_too_large`)' })
  async evidence(@Param('id') id: string): Promise<string> {
    const notFound = new NotFoundException({ code: 'run_not_found', message: `no ledger records for run "${id.slice(0, 200)}"` });
    if (id.length > 128) throw notFound;
    try {
      const bundle = await this.ledger.evidence(id);
      if (!bundle) throw notFound;
      return bundle.text;
    } catch (err) {
      if (err instanceof EvidenceTooLargeError) throw new PayloadTooLargeException({ code: 'evidence_too_large', message: err.message });
      throw err;
    }
  }
}
