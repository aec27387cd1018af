// Service tests start PGlite and run durable timers for real: seconds, not milliseconds.
jest.setTimeout(30000);
