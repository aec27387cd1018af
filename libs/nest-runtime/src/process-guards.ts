import { writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

export interface ProcessGuardOptions {
  /** Kill the process when its event loop has not turned for this long; 0 disables the watchdog. */
  stallExitMs?: number;
}

let installed = false;

/**
 * Every fatal condition ends the process with a non-zero status, so a supervisor (compose
 * `restart`, a Kubernetes liveness probe) replaces it instead of it hanging. Listeners on
 * SIGTRAP/SIGILL/SIGSEGV/SIGBUS/SIGFPE/SIGABRT are never installed: after a real fault (a V8 fatal
 * error) a JS listener on them makes the process re-run the trap forever at full CPU.
 */
export function installProcessGuards(processName: string, options: ProcessGuardOptions = {}): void {
  if (installed) return;
  installed = true;
  const say = (line: string) => {
    try {
      writeSync(2, `govmesh ${processName}: ${line}\n`);
    } catch {
      // No stderr to write to: exiting is what matters.
    }
  };
  process.on('uncaughtException', (err) => {
    say(`uncaught exception, exiting: ${err?.stack ?? String(err)}`);
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    say(`unhandled rejection, exiting: ${reason instanceof Error ? reason.stack : String(reason)}`);
    process.exit(1);
  });
  // The watchdog runs in a worker thread, which keeps running when the main thread is stuck.
  const stallExitMs = options.stallExitMs ?? 30000;
  if (stallExitMs > 0) {
    const beat = new Int32Array(new SharedArrayBuffer(4));
    setInterval(() => Atomics.add(beat, 0, 1), 1000).unref();
    new Worker(
      `const { workerData: { beat, stallExitMs, processName } } = require('node:worker_threads');
       const { writeSync } = require('node:fs');
       let last = Atomics.load(beat, 0), since = Date.now();
       setInterval(() => {
         const now = Atomics.load(beat, 0);
         if (now !== last) { last = now; since = Date.now(); return; }
         if (Date.now() - since < stallExitMs) return;
         try { writeSync(2, 'govmesh ' + processName + ': event loop stalled for ' + (Date.now() - since) + ' ms, killing the process\\n'); } catch {}
         process.kill(process.pid, 'SIGKILL');
       }, 1000);`,
      { eval: true, workerData: { beat, stallExitMs, processName }, name: 'govmesh-watchdog', stdout: false, stderr: false },
    ).unref();
  }
}
