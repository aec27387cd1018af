export const GOVMESH_CONFIG = Symbol('GOVMESH_CONFIG');
export const TRANSPORT = Symbol('TRANSPORT');
export const DATABASE_TARGET = Symbol('DATABASE_TARGET');
export const ENDPOINT_DEPS = Symbol('ENDPOINT_DEPS');
