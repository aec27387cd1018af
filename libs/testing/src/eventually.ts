const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries an assertion until it passes or the time is up; no fixed sleeps in tests. */
export async function expectEventually<T>(assertion: () => Promise<T> | T, { timeoutMs = 20000, intervalMs = 100 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      return await assertion();
    } catch (err) {
      lastError = err;
      if (Date.now() > deadline) throw lastError;
      await sleep(intervalMs);
    }
  }
}
