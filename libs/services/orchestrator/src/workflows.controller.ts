import { Body, Controller, Get, HttpException, NotFoundException, Param, Post, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiJsonBody, ApiRefusals, CurrentPrincipal, Roles, validateRequest, type Principal } from '@govmesh/nest-runtime';
import { WorkflowInvalidError, WorkflowSpec, workflowJsonSchema } from '@govmesh/workflow';
import { WorkflowRegistry } from './workflows/workflow-registry';

const ID = /^[a-z][a-z0-9-]{1,63}$/;

/** Workflow definitions: published by operators, immutable per version, readable by the roles that work with runs. */
@ApiTags('workflows')
@ApiRefusals(401, 403)
@Controller('v1/workflows')
export class WorkflowsController {
  constructor(private readonly registry: WorkflowRegistry) {}

  @Get()
  @ApiOperation({ summary: 'Published workflows, latest version of each' })
  @Roles('operator', 'reviewer', 'auditor')
  list() {
    return this.registry.list().then((items) => ({ items }));
  }

  @Get('schema')
  @ApiOperation({ summary: 'The JSON Schema of a workflow definition' })
  @Roles('operator', 'reviewer', 'auditor', 'agent')
  schema() {
    return workflowJsonSchema();
  }

  @Post()
  @ApiOperation({ summary: 'Publish a workflow definition', description: 'Role: operator. The definition is validated (schema, step references, CEL, embedded schemas) and stored as the next version of its id; publishing the same definition again returns the existing version (200). Runs already started keep their version.' })
  @ApiJsonBody(WorkflowSpec)
  @ApiRefusals({ 400: 'The definition is invalid: every problem is listed by path' })
  @Roles('operator')
  async publish(@Body() body: unknown, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    const spec = validateRequest(WorkflowSpec, body, 'invalid_workflow');
    try {
      const { workflow, created } = await this.registry.publish(spec, principal.id);
      res.status(created ? 201 : 200);
      return { ...workflow, created };
    } catch (err) {
      if (err instanceof WorkflowInvalidError) throw new HttpException({ code: 'invalid_workflow', message: err.message.slice(0, 2000), fields: err.problems.slice(0, 20) }, 400);
      throw err;
    }
  }

  @Get(':id')
  @ApiOperation({ summary: 'Every version of a workflow, newest first' })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ description: '`{ id, versions: [...] }`' })
  @ApiRefusals({ 404: 'No such workflow' })
  @Roles('operator', 'reviewer', 'auditor')
  async versions(@Param('id') id: string) {
    const versions = ID.test(id) ? await this.registry.versions(id) : [];
    if (versions.length === 0) throw new NotFoundException({ code: 'workflow_not_found', message: `no workflow "${id}"` });
    return { id, versions };
  }

  @Get(':id/versions/:version')
  @ApiOperation({ summary: 'One version of a workflow' })
  @ApiParam({ name: 'id' })
  @ApiParam({ name: 'version' })
  @ApiRefusals({ 404: 'No such workflow version' })
  @Roles('operator', 'reviewer', 'auditor')
  async version(@Param('id') id: string, @Param('version') version: string) {
    const found = ID.test(id) && /^[1-9][0-9]{0,8}$/.test(version) ? await this.registry.get(id, Number(version)) : null;
    if (!found) throw new NotFoundException({ code: 'workflow_not_found', message: `no workflow "${id}" version ${version}` });
    return found;
  }
}
