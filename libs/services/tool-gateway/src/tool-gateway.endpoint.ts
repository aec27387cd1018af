import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { checkGrant } from '@govmesh/action-grants';
import { EventTypes, type Reason } from '@govmesh/contracts';
import type { EventHandlers } from '@govmesh/messaging';
import { insertable } from '@govmesh/persistence';
import { ENDPOINT_DEPS, ServiceEndpoint, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { TOOL_GATEWAY_DATABASE, TOOL_GATEWAY_SERVICE } from './database';
import { SandboxAccount, ToolExecutionRecord } from './entities';
import { DEMO_ACCOUNTS, newExecutionId, ToolCatalog, type ToolResult } from './tools';

/**
 * Layer 5: executes nothing without a valid, unused grant for the exact action; validates
 * arguments against the tool's JSON Schema; records every execution and refusal.
 */
@Injectable()
export class ToolGatewayEndpoint extends ServiceEndpoint {
  private readonly catalog = new ToolCatalog();

  constructor(@InjectDataSource(TOOL_GATEWAY_SERVICE) dataSource: DataSource, @Inject(ENDPOINT_DEPS) deps: ServiceEndpointDeps) {
    super(TOOL_GATEWAY_SERVICE, TOOL_GATEWAY_DATABASE.schema, dataSource, deps);
  }

  protected override async prepare(): Promise<void> {
    if (this.deps.config.seedDemoData) {
      await this.dataSource.createQueryBuilder().insert().into(SandboxAccount).values(DEMO_ACCOUNTS).orIgnore().execute();
    }
  }

  protected handlers(): EventHandlers {
    return {
      [EventTypes.ToolRequested]: async (event, ctx) => {
        const request = event.data;
        const executionId = newExecutionId();
        const refuse = (reason: Reason): ToolResult => ({ status: 'rejected', reasons: [reason] });
        let result: ToolResult;
        const tool = this.catalog.find(request.tool);
        const grantProblem = checkGrant(this.deps.config.grantSecret, request.grant, { agentId: request.agentId, agentVersion: request.agentVersion, tool: request.tool, arguments: request.arguments }, new Date());
        const used = await ctx.manager.findOne(ToolExecutionRecord, { where: { grantId: request.grant.grantId } });
        if (!tool) result = refuse({ code: 'tool_not_registered', message: `tool "${request.tool}" is not in the catalog` });
        else if (grantProblem) result = refuse(grantProblem);
        else if (used) result = refuse({ code: 'grant_already_used', message: `grant ${request.grant.grantId} was used by execution ${used.id}; grants are single-use` });
        else {
          const invalid = this.catalog.checkArguments(tool.name, request.arguments);
          result = invalid ? refuse(invalid) : await tool.execute(ctx.manager, request.arguments, { runId: request.runId, executionId });
        }
        const status = result.status;
        await ctx.manager.insert(ToolExecutionRecord, insertable<ToolExecutionRecord>({
          id: executionId,
          runId: request.runId,
          stepId: request.stepId,
          tool: request.tool,
          grantId: status === 'rejected' ? null : request.grant.grantId,
          arguments: request.arguments,
          status,
          output: result.output ?? null,
          reasons: result.reasons,
        }));
        this.deps.metrics.toolExecutions.inc({ service: this.service, tool: request.tool, status });
        ctx.emit(EventTypes.ToolExecuted, {
          runId: request.runId,
          stepId: request.stepId,
          tool: request.tool,
          executionId,
          status,
          ...(result.output ? { output: result.output } : {}),
          ...(result.claim ? { claim: result.claim } : {}),
          reasons: result.reasons,
        });
      },
    };
  }
}
