import { setFlagsFromString } from 'node:v8';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

// The V8 of Node 20 and 22 aborts with "unreachable code" when it deoptimizes a JS caller
// that TurboFan inlined a call to a Wasm function returning externref into, which Cedar's
// statefulIsAuthorized is. Node 24 fixed it; on older Node, keep such calls out of line.
// Every module of this library reaches Cedar through this one, so the flag is set before any call.
if (Number(process.versions.node.split('.')[0]) < 24) setFlagsFromString('--no-turbo-inline-js-wasm-calls');

export { cedar };
