/**
 * Preloaded into each mesh app (NODE_OPTIONS=--require ...) when the benchmark runs with
 * BENCH_PROFILE=1. It polls a control file, BENCH_PROFILE_DIR/control: when the file says
 * `start <n>` it starts the V8 CPU profiler; `stop <n>` stops it and writes
 * BENCH_PROFILE_DIR/<app>.cpuprofile (loadable in Chrome DevTools). Signals are not used because
 * Nest's shutdown hooks treat SIGUSR2 as a shutdown signal. Plain CommonJS: it runs before any
 * TypeScript tooling.
 */
'use strict';
const { readFileSync, writeFileSync, renameSync } = require('node:fs');
const { join, basename, dirname } = require('node:path');
const inspector = require('node:inspector');

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const main = process.argv[1] || '';
  const app = basename(dirname(main)) || `pid-${process.pid}`;
  const session = new inspector.Session();
  session.connect();
  let state = 'idle';
  let seen = '';
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params || {}, (err, result) => (err ? reject(err) : resolve(result))));
  const poll = async () => {
    let command = '';
    try {
      command = readFileSync(join(dir, 'control'), 'utf8').trim();
    } catch {
      return;
    }
    if (command === seen) return;
    seen = command;
    try {
      if (command.startsWith('start') && state === 'idle') {
        state = 'running';
        await post('Profiler.enable');
        await post('Profiler.setSamplingInterval', { interval: 1000 });
        await post('Profiler.start');
      } else if (command.startsWith('stop') && state === 'running') {
        state = 'idle';
        const { profile } = await post('Profiler.stop');
        const file = join(dir, `${app}.cpuprofile`);
        writeFileSync(`${file}.tmp`, JSON.stringify(profile));
        renameSync(`${file}.tmp`, file);
      }
    } catch (err) {
      process.stderr.write(`bench cpu-profile hook (${app}): ${err && err.message}\n`);
    }
  };
  setInterval(() => void poll(), 200).unref();
}
