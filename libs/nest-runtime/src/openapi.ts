import { applyDecorators, Logger, type INestApplication } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiResponse, DocumentBuilder, SwaggerModule, type OpenAPIObject, type SchemaObject } from '@nestjs/swagger';
import type { TSchema } from '@sinclair/typebox';
import type { NextFunction, Request, Response } from 'express';
import { GovmeshMetrics } from '@govmesh/observability';
import { ApiKeyStore } from './auth/api-key.store';
import { authenticateRequest, noteRefusal } from './auth/auth.guard';
import { OidcVerifier } from './auth/oidc.verifier';
import { AuthRefusal } from './auth/principal';
import { GOVMESH_CONFIG } from './tokens';
import { AcceptsYamlBody, YAML_MEDIA_TYPES } from './request-bodies';
import type { GovmeshConfig } from './config';

/** The release the documents describe; kept equal to the root package.json version (a unit test checks). */
export const GOVMESH_VERSION = '0.1.0';

/** Swagger UI at `/docs`, the document at `/docs/openapi.json` and `/docs/openapi.yaml`. */
export const DOCS_PATH = '/docs';
export const OPENAPI_JSON_PATH = `${DOCS_PATH}/openapi.json`;
export const OPENAPI_YAML_PATH = `${DOCS_PATH}/openapi.yaml`;

/** Security scheme names in the document. */
export const SECURITY_SCHEMES = { apiKey: 'api-key', oidc: 'oidc', metricsToken: 'metrics-token' } as const;

const ERROR_SCHEMA = 'GovmeshError';

const REFUSALS: Record<number, string> = {
  400: 'The request is invalid: `code` says why, `fields` names each offending field',
  401: 'No credential, or one that identifies no one (unknown, revoked or expired)',
  403: "The credential's role is not admitted to this route",
  404: 'Not found',
  409: 'Conflicts with the current state',
  415: 'The body is not application/json',
};

/**
 * Documents error answers (`{code, message}`, see the GovmeshError schema): statuses with the
 * default description, or `{status: description}` for a route's own wording. On a controller it
 * applies to every route.
 */
export function ApiRefusals(...refusals: Array<number | Record<number, string>>) {
  const entries = refusals.flatMap((r) => (typeof r === 'number' ? [[r, REFUSALS[r] ?? `HTTP ${r}`] as const] : Object.entries(r).map(([s, d]) => [Number(s), d] as const)));
  return applyDecorators(...entries.map(([status, description]) => ApiResponse({ status, description, schema: { $ref: `#/components/schemas/${ERROR_SCHEMA}` } })));
}

/** Documents a JSON request body by the TypeBox schema `validateRequest` checks it against: the documented body is the validated one. */
export function ApiJsonBody(schema: TSchema, description?: string) {
  return ApiBody({ schema: schema as unknown as SchemaObject, required: true, ...(description ? { description } : {}) });
}

/**
 * A body that is JSON or the same document as YAML (`application/yaml`, `application/x-yaml`,
 * `text/yaml`): documents both media types with the schema, and admits YAML on the route
 * (AcceptsYamlBody), so the document and the behaviour cannot drift apart.
 */
export function ApiJsonOrYamlBody(schema: TSchema, description?: string) {
  return applyDecorators(AcceptsYamlBody(), ApiConsumes('application/json', ...YAML_MEDIA_TYPES), ApiJsonBody(schema, description));
}

/** Only the public part of the document: what Swagger UI needs to offer its Authorize button. */
function publicPart(document: OpenAPIObject): OpenAPIObject {
  return {
    openapi: document.openapi,
    info: { ...document.info, description: `${document.info.description ?? ''}\n\n**Authorize** (an API key or a token) to load the operations.` },
    paths: {},
    components: { securitySchemes: document.components?.securitySchemes ?? {} },
    security: document.security ?? [],
  };
}

function buildDocument(app: INestApplication, config: GovmeshConfig): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle(`govmesh ${config.processName}`)
    .setVersion(GOVMESH_VERSION)
    .setDescription(
      config.processName === 'embedded'
        ? 'The whole govmesh mesh in one process: the APIs of every service.'
        : `The HTTP API of govmesh's ${config.processName} process.` +
            ' Every route but `GET /health` needs `authorization: Bearer <credential>`; each route admits only the roles it names. Bodies are JSON; a route that also takes YAML lists its media types.',
    )
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'gm_<id>_<secret>', description: 'A govmesh API key (`gm_<12 characters>_<43 characters>`), made by an operator with `POST /v1/api-keys`.' }, SECURITY_SCHEMES.apiKey)
    .addSecurityRequirements(SECURITY_SCHEMES.apiKey);
  if (config.oidc) {
    builder
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `A bearer JWT from the OIDC provider ${config.oidc.issuer} (audience ${config.oidc.audience}); roles from the "${config.oidc.rolesClaim}" claim.` }, SECURITY_SCHEMES.oidc)
      .addSecurityRequirements(SECURITY_SCHEMES.oidc);
  }
  if (config.metricsToken) builder.addBearerAuth({ type: 'http', scheme: 'bearer', description: 'GOVMESH_METRICS_TOKEN, for `/metrics` only.' }, SECURITY_SCHEMES.metricsToken);
  const document = SwaggerModule.createDocument(app, builder.build());
  document.components = {
    ...document.components,
    schemas: {
      ...document.components?.schemas,
      [ERROR_SCHEMA]: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', description: 'A stable reason code, e.g. credential_missing, role_forbidden, invalid_agent' },
          message: { type: 'string', description: 'What went wrong, for a human' },
          fields: { type: 'array', items: { type: 'object', properties: { field: { type: 'string', description: 'JSON pointer of the field' }, problem: { type: 'string' } } } },
        },
      },
    },
  };
  // /metrics is open unless GOVMESH_METRICS_TOKEN is set, and then takes that token only.
  const metrics = document.paths['/metrics']?.get;
  if (metrics) metrics.security = config.metricsToken ? [{ [SECURITY_SCHEMES.metricsToken]: [] }] : [];
  return document;
}

/**
 * Swagger UI's start script, replacing the one @nestjs/swagger serves (which carries the whole
 * document, to anyone). It starts from the public part and, once the user has authorized (or a
 * persisted authorization is restored), fetches the document with that credential.
 */
function uiInitScript(stub: OpenAPIObject): string {
  return `window.onload = function () {
  var specUrl = ${JSON.stringify(OPENAPI_JSON_PATH)};
  var stub = ${JSON.stringify(stub)};
  function credential(system) {
    var authorized = system.authSelectors.authorized();
    var all = authorized && authorized.toJS ? authorized.toJS() : {};
    for (var name in all) { if (all[name] && typeof all[name].value === 'string' && all[name].value) return all[name].value; }
    return undefined;
  }
  function loadSpec(system) {
    var token = credential(system);
    if (!token) { system.specActions.updateSpec(JSON.stringify(stub)); return; }
    fetch(specUrl, { headers: { accept: 'application/json', authorization: 'Bearer ' + token } })
      .then(function (res) { return res.text().then(function (text) { return { ok: res.ok, status: res.status, text: text }; }); })
      .then(function (r) {
        if (r.ok) return system.specActions.updateSpec(r.text);
        var reason = r.text; try { reason = JSON.parse(r.text).message || r.text; } catch (e) {}
        var refused = JSON.parse(JSON.stringify(stub));
        refused.info.description = 'The credential was refused (' + r.status + '): ' + reason + '. Authorize again with another one.';
        system.specActions.updateSpec(JSON.stringify(refused));
      })
      .catch(function (err) { system.errActions.newThrownErr(err); });
  }
  function reloadAfter(ori, system) { return function (payload) { var out = ori(payload); loadSpec(system); return out; }; }
  function GovmeshDocs() {
    return { statePlugins: { auth: { wrapActions: { authorize: reloadAfter, restoreAuthorization: reloadAfter, logout: reloadAfter } } } };
  }
  window.ui = SwaggerUIBundle({
    spec: stub,
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl, GovmeshDocs],
    layout: 'StandaloneLayout',
  });
};
`;
}

/**
 * Serves Swagger UI at `/docs` and the OpenAPI document at `/docs/openapi.json` and `.yaml`.
 * SwaggerModule puts its routes on the HTTP adapter, past Nest's guards, so the document gets
 * its own check first: any authenticated principal (API key or OIDC token, as the guard checks
 * them), else the guard's 401 `{code, message}`, counted in the refusals. The UI page and its
 * assets are public and hold no part of the API beyond the security schemes.
 */
export function setupOpenApi(app: INestApplication): void {
  const config = app.get<GovmeshConfig>(GOVMESH_CONFIG);
  const keys = app.get(ApiKeyStore);
  const oidc = app.get(OidcVerifier);
  const metrics = app.get(GovmeshMetrics);
  const logger = new Logger('auth');
  let document: OpenAPIObject | undefined;
  const documentFor = () => (document ??= buildDocument(app, config));

  app.use([OPENAPI_JSON_PATH, OPENAPI_YAML_PATH], (req: Request, res: Response, next: NextFunction) => {
    authenticateRequest(req, keys, oidc).then(
      () => next(),
      (err: unknown) => {
        if (!(err instanceof AuthRefusal)) {
          logger.error(`${req.method} ${req.path}: the credential could not be checked: ${(err as Error).message}`);
          res.status(500).json({ code: 'internal_error', message: 'the credential could not be checked' });
          return;
        }
        noteRefusal(req, res, err, metrics, config.processName, logger);
        res.status(err.status).json({ code: err.code, message: err.message });
      },
    );
  });
  const initScript = (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    res.type('application/javascript').send(uiInitScript(publicPart(documentFor())));
  };
  app.use(`${DOCS_PATH}/swagger-ui-init.js`, initScript);
  app.use(`${DOCS_PATH}/docs/swagger-ui-init.js`, initScript);

  SwaggerModule.setup(DOCS_PATH, app, documentFor, {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    yamlDocumentUrl: OPENAPI_YAML_PATH,
    customSiteTitle: `govmesh ${config.processName} API`,
    swaggerOptions: { persistAuthorization: true },
    // Defence in depth: should SwaggerModule's own start script ever be reached, it carries only the public part.
    patchDocumentOnRequest: <TRequest, TResponse>(req: TRequest, _res: TResponse, full: OpenAPIObject) => ((req as unknown as Request).path.endsWith('swagger-ui-init.js') ? publicPart(full) : full),
  });
}
