#!/usr/bin/env node
'use strict';

/**
 * Node wrapper around kafka-test-broker (a librdkafka mock cluster), for jest
 * global setup, integration tests and benchmark scripts.
 *
 * Plain CommonJS on purpose: it must be loadable by jest globalSetup and by
 * bare `node` without a compile step. Types live in index.d.ts.
 *
 * See README.md for the command protocol and the mock cluster's limits.
 */

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const SOURCE = path.join(__dirname, 'kafka-test-broker.c');
const BUILD_DIR = path.join(__dirname, 'build');
const BINARY = path.join(BUILD_DIR, 'kafka-test-broker');

const START_TIMEOUT_MS = 10_000;
const COMMAND_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const STDERR_TAIL_LINES = 20;

// Kafka topic name rules; also guarantees the name is a single protocol word.
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** Kafka protocol ApiKeys, for pushRequestErrors(). */
const ApiKeys = Object.freeze({
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  ApiVersions: 18,
  InitProducerId: 22,
});

/** A few Kafka error codes useful for fault injection, for pushRequestErrors(). */
const ErrorCodes = Object.freeze({
  /** librdkafka-internal: the mock broker drops the connection instead of replying. */
  TRANSPORT: -195,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_FOR_PARTITION: 6,
  REQUEST_TIMED_OUT: 7,
  NETWORK_EXCEPTION: 13,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  NOT_ENOUGH_REPLICAS: 19,
  REBALANCE_IN_PROGRESS: 27,
});

/**
 * Compile the broker binary if it is missing or older than the C source.
 * Synchronous so it can run at the top of a jest globalSetup or script.
 * Returns the binary's absolute path.
 */
function ensureBuilt() {
  const srcStat = fs.statSync(SOURCE);
  try {
    if (fs.statSync(BINARY).mtimeMs >= srcStat.mtimeMs) return BINARY;
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }

  fs.mkdirSync(BUILD_DIR, { recursive: true });
  // Compile to a private temp name and rename into place, so parallel jest
  // workers / scripts building at the same time never run a half-written file.
  const tmp = `${BINARY}.${process.pid}.tmp`;
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-o', tmp, SOURCE, '-lrdkafka'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    fs.renameSync(tmp, BINARY);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    const output = `${err.stderr || ''}${err.stdout || ''}`.trim();
    if (err.code === 'ENOENT') {
      throw new Error(
        'kafka-test-broker: gcc not found; install a C compiler and librdkafka ' +
          '(apt-get install -y gcc librdkafka-dev)',
      );
    }
    if (/rdkafka(_mock)?\.h|-lrdkafka/.test(output)) {
      throw new Error(
        'kafka-test-broker: librdkafka development files are missing; ' +
          'install them with `apt-get install -y librdkafka-dev` ' +
          `(librdkafka >= 2.0 is needed for the mock cluster).\n${output}`,
      );
    }
    throw new Error(`kafka-test-broker: compiling ${SOURCE} failed:\n${output || err.message}`);
  }
  return BINARY;
}

/**
 * Start a mock Kafka cluster in a child process.
 *
 * The child's stdin is a pipe from this process, and the broker exits on EOF,
 * so it cannot outlive us even if we are killed without calling stop().
 */
async function startTestBroker({ topics = [], brokers = 1, log } = {}) {
  if (!Number.isInteger(brokers) || brokers < 1 || brokers > 64) {
    throw new Error(`kafka-test-broker: brokers must be an integer 1..64, got ${brokers}`);
  }
  const args = ['--brokers', String(brokers)];
  for (const t of topics) {
    checkTopic(t.name, t.partitions);
    args.push('--topic', `${t.name}:${t.partitions}`);
  }

  const child = spawn(ensureBuilt(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderrTail = [];

  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
    if (log) log(line);
  });

  // If the child dies, writes to its stdin fail with EPIPE; that is reported
  // through 'exit' below, so keep the stream error from becoming uncaught.
  child.stdin.on('error', () => {});

  // stdout protocol: one BOOTSTRAP= line, then exactly one reply per command.
  // Callers waiting for the next stdout line, oldest first.
  const lineWaiters = [];

  let exited = false;
  let exitInfo = '';
  const exitPromise = new Promise((resolve) => {
    // 'close' rather than 'exit': it comes after stdout/stderr are drained, so
    // the error below includes everything the broker printed before dying.
    child.on('close', (code, signal) => {
      exited = true;
      exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
      const err = new Error(
        `kafka-test-broker exited (${exitInfo})${tailText(stderrTail)}`,
      );
      // Fail whoever is still waiting for a line from the child.
      for (const waiter of lineWaiters.splice(0)) waiter.reject(err);
      resolve({ code, signal });
    });
  });

  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const waiter = lineWaiters.shift();
    if (waiter) waiter.resolve(line);
    else if (log) log(`unexpected output from kafka-test-broker: ${line}`);
  });
  const nextLine = (timeoutMs, what) =>
    new Promise((resolve, reject) => {
      if (exited) {
        reject(new Error(`kafka-test-broker is not running (${exitInfo})${tailText(stderrTail)}`));
        return;
      }
      const waiter = {
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        const i = lineWaiters.indexOf(waiter);
        if (i >= 0) lineWaiters.splice(i, 1);
        // A late reply would be taken as the answer to the next command, so a
        // broker that stops answering is not trusted again.
        child.kill('SIGKILL');
        reject(new Error(`kafka-test-broker: timed out waiting for ${what}; killed it`));
      }, timeoutMs);
      lineWaiters.push(waiter);
    });

  const spawnError = new Promise((_, reject) => child.once('error', reject));
  let first;
  try {
    first = await Promise.race([nextLine(START_TIMEOUT_MS, 'BOOTSTRAP line'), spawnError]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const match = /^BOOTSTRAP=(.+)$/.exec(first);
  if (!match) {
    child.kill('SIGKILL');
    throw new Error(`kafka-test-broker: expected BOOTSTRAP=..., got: ${first}`);
  }

  // Commands are serialized: each waits for the previous one's reply, so the
  // FIFO of line waiters always has at most one entry and replies can't mix.
  let queue = Promise.resolve();
  const command = (line) => {
    const run = async () => {
      if (exited) throw new Error(`kafka-test-broker is not running (${exitInfo})`);
      const reply = nextLine(COMMAND_TIMEOUT_MS, `reply to '${line}'`);
      child.stdin.write(`${line}\n`);
      const answer = await reply;
      if (answer !== 'OK') {
        throw new Error(`kafka-test-broker: '${line}' failed: ${answer.replace(/^ERR /, '')}`);
      }
    };
    const result = queue.then(run);
    queue = result.catch(() => {}); // one failed command must not wedge the rest
    return result;
  };

  let stopping;
  const stop = () => {
    if (!stopping) {
      stopping = (async () => {
        if (exited) return;
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        // Closing stdin is the shutdown signal (EOF). It also works while a
        // command is still in flight, unlike queueing a 'quit'.
        child.stdin.end();
        await exitPromise;
        clearTimeout(timer);
      })();
    }
    return stopping;
  };

  const brokerId = (id) => {
    if (!Number.isInteger(id)) throw new Error(`kafka-test-broker: broker id must be an integer, got ${id}`);
    return id;
  };

  return {
    bootstrap: match[1],
    brokerIds: Array.from({ length: brokers }, (_, i) => i + 1),
    pid: child.pid,
    exited: exitPromise,
    down: async (id) => command(`down ${brokerId(id)}`),
    up: async (id) => command(`up ${brokerId(id)}`),
    setRtt: async (id, ms) => command(`rtt ${brokerId(id)} ${nonNegativeInt(ms, 'rtt ms')}`),
    pushRequestErrors: async (apiKey, errorCode, count = 1) =>
      command(
        `errors ${nonNegativeInt(apiKey, 'apiKey')} ${int(errorCode, 'errorCode')} ` +
          `${nonNegativeInt(count, 'count')}`,
      ),
    clearRequestErrors: async (apiKey) => command(`clear ${nonNegativeInt(apiKey, 'apiKey')}`),
    setPartitionLeader: async (topic, partition, id) => {
      checkTopic(topic, 1);
      return command(`leader ${topic} ${nonNegativeInt(partition, 'partition')} ${brokerId(id)}`);
    },
    createTopic: async (name, partitions) => {
      checkTopic(name, partitions);
      return command(`topic ${name} ${partitions}`);
    },
    command: async (line) => {
      if (/[\r\n]/.test(line)) throw new Error('kafka-test-broker: command must be a single line');
      return command(String(line).trim());
    },
    stop,
  };
}

function checkTopic(name, partitions) {
  if (typeof name !== 'string' || !TOPIC_NAME.test(name)) {
    throw new Error(`kafka-test-broker: invalid topic name ${JSON.stringify(name)}`);
  }
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new Error(`kafka-test-broker: topic ${name} needs a positive integer partition count`);
  }
}

function int(value, what) {
  if (!Number.isInteger(value)) throw new Error(`kafka-test-broker: ${what} must be an integer, got ${value}`);
  return value;
}

function nonNegativeInt(value, what) {
  if (int(value, what) < 0) throw new Error(`kafka-test-broker: ${what} must be >= 0, got ${value}`);
  return value;
}

function tailText(lines) {
  return lines.length ? `; stderr:\n${lines.join('\n')}` : '';
}

/**
 * CLI: node tools/kafka-test-broker/index.js [--brokers N] [--topic NAME:PARTITIONS]...
 * Prints BOOTSTRAP=<servers> and stays up until SIGINT/SIGTERM. Lines typed on
 * stdin are passed through as protocol commands (e.g. "down 1"); EOF on stdin
 * is ignored so the CLI also works backgrounded with stdin at /dev/null.
 */
async function main(argv) {
  const topics = [];
  let brokers = 1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--brokers' && i + 1 < argv.length) {
      brokers = Number(argv[++i]);
    } else if (arg === '--topic' && i + 1 < argv.length) {
      const spec = argv[++i];
      const colon = spec.lastIndexOf(':');
      if (colon <= 0) throw new Error(`--topic wants NAME:PARTITIONS, got ${spec}`);
      topics.push({ name: spec.slice(0, colon), partitions: Number(spec.slice(colon + 1)) });
    } else {
      process.stderr.write(
        'Usage: node tools/kafka-test-broker/index.js [--brokers N] [--topic NAME:PARTITIONS]...\n',
      );
      process.exit(arg === '--help' || arg === '-h' ? 0 : 2);
    }
  }

  const broker = await startTestBroker({
    topics,
    brokers,
    log: (line) => process.stderr.write(`[kafka-test-broker] ${line}\n`),
  });
  process.stdout.write(`BOOTSTRAP=${broker.bootstrap}\n`);

  let stopping = false;
  const shutdown = async () => {
    stopping = true;
    await broker.stop();
    process.exit(0);
  };
  // Ctrl-C in a terminal signals the whole process group, so the broker may
  // exit (cleanly, code 0) before our own SIGINT handler runs.
  broker.exited.then(({ code, signal }) => {
    if (stopping) return;
    if (code === 0) process.exit(0);
    process.stderr.write(`kafka-test-broker exited unexpectedly (${signal || `code ${code}`})\n`);
    process.exit(1);
  });
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (!line.trim()) return;
    broker.command(line.trim()).then(
      () => process.stderr.write('OK\n'),
      (err) => process.stderr.write(`${err.message}\n`),
    );
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}

module.exports = { startTestBroker, ensureBuilt, ApiKeys, ErrorCodes };
