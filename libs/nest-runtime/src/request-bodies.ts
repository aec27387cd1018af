import { BadRequestException, PayloadTooLargeException, RequestMethod, SetMetadata, UnsupportedMediaTypeException } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import type { ModulesContainer } from '@nestjs/core';
import { json, text, type NextFunction, type Request, type Response } from 'express';

/** The largest request body, JSON or YAML, in bytes (256 KiB). */
export const BODY_LIMIT_BYTES = 256 * 1024;

/** The media types of a YAML body, on the routes marked `@AcceptsYamlBody()` only. None is a type a cross-site form can send. */
export const YAML_MEDIA_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'] as const;

const YAML_BODY = 'govmesh:yaml-body';

/** The media type of a content-type header, lower case and without parameters. */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

export function isYamlMediaType(contentType: string | undefined): boolean {
  return (YAML_MEDIA_TYPES as readonly string[]).includes(mediaTypeOf(contentType));
}

/**
 * Marks a route (a fixed path, no parameters) that also takes a YAML body: it reaches the handler
 * as the raw text (a string, at most BODY_LIMIT_BYTES), which the handler parses itself, after
 * the guard has admitted the caller. Every other route keeps refusing YAML with 415.
 */
export const AcceptsYamlBody = (): MethodDecorator => SetMetadata(YAML_BODY, true);

/** How requireJsonBodies and the YAML reader name a route: case and a trailing slash do not matter, as for Express. */
export const routeKey = (method: string, path: string): string => `${method.toUpperCase()} ${path.toLowerCase().replace(/\/+$/, '') || '/'}`;

/** `METHOD /path` of every handler marked `@AcceptsYamlBody()`, read from the controllers' metadata. */
export function yamlBodyRoutes(modules: ModulesContainer): ReadonlySet<string> {
  const routes = new Set<string>();
  const paths = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : [typeof value === 'string' ? value : '']);
  for (const module of modules.values()) {
    for (const { metatype } of module.controllers.values()) {
      if (typeof metatype !== 'function') continue;
      const prototype = metatype.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler = name === 'constructor' ? undefined : prototype[name];
        if (typeof handler !== 'function' || !Reflect.getMetadata(YAML_BODY, handler)) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
        for (const base of paths(Reflect.getMetadata(PATH_METADATA, metatype))) {
          for (const own of paths(Reflect.getMetadata(PATH_METADATA, handler))) {
            const path = `/${[base, own].flatMap((p) => p.split('/')).filter(Boolean).join('/')}`;
            if (/[:*?(]/.test(path)) throw new Error(`@AcceptsYamlBody() takes a fixed path, not ${method} ${path} (${metatype.name}.${name})`);
            routes.add(routeKey(method, path));
          }
        }
      }
    }
  }
  return routes;
}

/**
 * Reads a YAML body as text on the routes that take one (only they get past requireJsonBodies),
 * with the JSON limit; too large is 413 `request_too_large`, a charset other than UTF-8 415.
 * Parsing is the handler's, so no YAML is parsed for a caller the guard refuses.
 */
export function yamlBodyText(yamlRoutes: ReadonlySet<string>) {
  const read = text({ type: [...YAML_MEDIA_TYPES], limit: BODY_LIMIT_BYTES, defaultCharset: 'utf-8' });
  return (req: Request, res: Response, next: NextFunction): void => {
    if (yamlRoutes.size === 0 || !yamlRoutes.has(routeKey(req.method, req.path))) return next();
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') {
      return next(new UnsupportedMediaTypeException({ code: 'unsupported_media_type', message: `a YAML body must be UTF-8, not "${charset.slice(0, 40)}"` }));
    }
    read(req, res, (err?: unknown) => next(bodyRefusal(err)));
  };
}

/**
 * A body parser's error as the refusal it is, with a code, so the refusal filter counts and
 * answers it like any other 4xx (never the framework's bare `{statusCode, message}` or a 500).
 */
function bodyRefusal(err: unknown): unknown {
  const type = (err as { type?: unknown } | undefined)?.type;
  if (type === 'entity.too.large') return new PayloadTooLargeException({ code: 'request_too_large', message: `the body is over the limit of ${BODY_LIMIT_BYTES} bytes` });
  if (type === 'entity.parse.failed') return new BadRequestException({ code: 'malformed_request', message: 'the body is not valid JSON' });
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return new UnsupportedMediaTypeException({ code: 'unsupported_media_type', message: 'the content-encoding or charset is not supported' });
  if (type === 'request.size.invalid' || type === 'request.aborted') return new BadRequestException({ code: 'malformed_request', message: 'the body does not match its content-length' });
  return err;
}

/** Reads a JSON body with the limit; a body that is too large or does not parse is refused with its code. */
export function jsonBody() {
  const read = json({ limit: BODY_LIMIT_BYTES });
  return (req: Request, res: Response, next: NextFunction): void => read(req, res, (err?: unknown) => next(bodyRefusal(err)));
}
