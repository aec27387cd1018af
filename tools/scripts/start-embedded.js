#!/usr/bin/env node
/**
 * `npm start`: builds the embedded app (cached by Nx after the first time) and runs the whole
 * mesh in this process. A build failure prints the build output; nothing else is hidden.
 */
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '../..');
process.stdout.write('govmesh: building the embedded mesh (first run takes a few seconds)...\n');
const build = spawnSync(process.execPath, [join(root, 'node_modules/nx/dist/bin/nx.js'), 'build', 'embedded', '--output-style=static'], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, NX_DAEMON: 'false' },
});
if (build.status !== 0) {
  process.stderr.write(build.stdout + build.stderr);
  process.exit(build.status ?? 1);
}
require(join(root, 'dist/apps/embedded/main.js'));
