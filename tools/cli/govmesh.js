#!/usr/bin/env node
'use strict';
/**
 * `govmesh`: the command line (see `govmesh --help` and docs/signing.md). This launcher loads the
 * TypeScript implementation (govmesh.ts) through @swc-node/register with the repository's
 * tsconfig, so the `@govmesh/*` path aliases resolve from any working directory.
 */
const { join } = require('node:path');

process.env.SWC_NODE_PROJECT = join(__dirname, '..', '..', 'tsconfig.json');
require('@swc-node/register');
const { main, processIo } = require('./govmesh.ts');

main(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`govmesh: unexpected error: ${error && error.stack ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
