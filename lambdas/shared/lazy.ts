/**
 * Builds a value on first use and keeps it for the life of the process: SDK clients and a handler's dependencies
 * are created once per Lambda container, and a misconfigured function fails its first invocation, naming the
 * missing variable, rather than at import.
 */
export function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  let made = false;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value as T;
  };
}
