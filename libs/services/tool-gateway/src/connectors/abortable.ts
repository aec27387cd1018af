/**
 * The promise's outcome, or a rejection with `abortReason()` as soon as the signal aborts
 * (at once when it already has); the listener is removed when the promise settles first.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal, abortReason: () => unknown = () => signal.reason): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
