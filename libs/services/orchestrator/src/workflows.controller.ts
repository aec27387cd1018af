import { Body, Controller, Get, Headers, HttpException, NotFoundException, Param, Post, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiJsonOrYamlBody, ApiRefusals, BODY_LIMIT_BYTES, CurrentPrincipal, isYamlMediaType, Roles, validateRequest, YAML_MEDIA_TYPES, type Principal } from '@govmesh/nest-runtime';
import { WorkflowInvalidError, WorkflowSpec, workflowJsonSchema } from '@govmesh/workflow';
import { WorkflowRegistry } from './workflows/workflow-registry';
import { parseWorkflowYaml, workflowToYaml, WorkflowYamlError, WorkflowYamlTooLargeError } from './workflows/workflow-yaml';

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
  @ApiOperation({
    summary: 'Publish a workflow definition',
    description:
      'Role: operator. The definition is JSON, or the same document as YAML (`content-type: application/yaml`; YAML 1.2 core schema, one document, no tags, no duplicate keys, few aliases). ' +
      'It is validated (schema, step references, CEL, embedded schemas) and stored as the next version of its id; publishing the same definition again, in either form, returns the existing version (200). Runs already started keep their version.',
  })
  @ApiJsonOrYamlBody(WorkflowSpec)
  @ApiRefusals({
    400: 'The definition is invalid: every problem is listed by path (`invalid_workflow`); or the YAML is not one JSON-equivalent document (`workflow_yaml_invalid`, with `line`, `column` and `problems`)',
    413: `The body is over ${BODY_LIMIT_BYTES} bytes (\`request_too_large\`), or the YAML's aliases expand it past that as JSON (\`workflow_too_large\`)`,
    415: `The body is neither application/json nor ${YAML_MEDIA_TYPES.join(', ')} (\`unsupported_media_type\`)`,
  })
  @Roles('operator')
  async publish(@Body() body: unknown, @Headers('content-type') contentType: string | undefined, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    const definition = isYamlMediaType(contentType) ? fromYaml(body) : body;
    const spec = validateRequest(WorkflowSpec, definition, 'invalid_workflow');
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
  @ApiOperation({
    summary: 'One version of a workflow',
    description: 'JSON: the version with its digest and publisher. With `accept: application/yaml` (or `application/x-yaml`, `text/yaml`): the definition as YAML, which publishes back as the same definition, with the version, digest and publisher in a leading comment.',
  })
  @ApiParam({ name: 'id' })
  @ApiParam({ name: 'version' })
  @ApiOkResponse({
    description: 'The version (JSON), or its definition as YAML when the accept header prefers YAML',
    content: {
      'application/json': { schema: { type: 'object', properties: { id: { type: 'string' }, version: { type: 'integer' }, digest: { type: 'string' }, publishedBy: { type: 'string' }, publishedAt: { type: 'string' }, definition: { type: 'object' } } } },
      ...Object.fromEntries(YAML_MEDIA_TYPES.map((type) => [type, { schema: { type: 'string', description: 'The definition as YAML 1.2' } }])),
    },
  })
  @ApiRefusals({ 404: 'No such workflow version' })
  @Roles('operator', 'reviewer', 'auditor')
  async version(@Param('id') id: string, @Param('version') version: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const found = ID.test(id) && /^[1-9][0-9]{0,8}$/.test(version) ? await this.registry.get(id, Number(version)) : null;
    if (!found) throw new NotFoundException({ code: 'workflow_not_found', message: `no workflow "${id}" version ${version}` });
    res.vary('Accept');
    // JSON unless the client prefers YAML: no accept header, */* and anything unknown get JSON.
    const type = req.accepts(['application/json', ...YAML_MEDIA_TYPES]);
    if (typeof type !== 'string' || !isYamlMediaType(type)) return found;
    res.type(type);
    return workflowToYaml(found);
  }
}

/** A YAML body (the raw text; none is an empty document) as the value its JSON would be, or the refusal. */
function fromYaml(body: unknown): unknown {
  try {
    return parseWorkflowYaml(typeof body === 'string' ? body : '', BODY_LIMIT_BYTES);
  } catch (err) {
    if (err instanceof WorkflowYamlError) {
      const [first] = err.problems;
      throw new HttpException({ code: 'workflow_yaml_invalid', message: `the YAML is not a JSON-equivalent document: ${err.message}`.slice(0, 2000), line: first?.line, column: first?.column, problems: err.problems }, 400);
    }
    if (err instanceof WorkflowYamlTooLargeError) throw new HttpException({ code: 'workflow_too_large', message: err.message }, 413);
    throw err;
  }
}
