/**
 * CEL for govmesh: one loader of the engine (`@marcbachmann/cel-js`, an ES module), environments
 * that declare the variables an expression may name, a bounded cache of parsed and type-checked
 * programs, evaluation with a check of the result's type, and errors that say in one line what
 * went wrong. Pure: no framework.
 */
export {
  CEL_LIMITS,
  CelEnvironment,
  CelError,
  DEFAULT_MAX_PROGRAMS,
  celLoaded,
  celToJson,
  celTypeOf,
  firstLine,
  loadCel,
  ownRealm,
  type CelErrorKind,
  type CelProgram,
  type CelResultType,
  type CelVariables,
  type CompileOptions,
} from './cel';
