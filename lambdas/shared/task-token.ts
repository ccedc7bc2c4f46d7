/**
 * Keeping Step Functions task tokens out of what is stored, logged or answered: a token authorizes completing its task,
 * so it is a secret. Used wherever a message may quote one (an ECS stop reason, an SDK error about a token).
 */
/** The shortest piece of a task token that is masked on its own: longer than any word of an ECS reason. */
const MIN_TOKEN_PIECE = 32;

/**
 * `text` with the task token masked, and any piece of it of MIN_TOKEN_PIECE characters or more: a reason cut before
 * it reached this (ECS keeps 255 characters of a StopTask reason; a token is often 600 or more) ends with a part of one.
 */
export function withoutToken(text: string, token: string): string {
  const whole = text.replaceAll(token, '***');
  if (token.length < MIN_TOKEN_PIECE || whole.length < MIN_TOKEN_PIECE) return whole;
  const pieces = new Set<string>();
  for (let i = 0; i + MIN_TOKEN_PIECE <= token.length; i++) pieces.add(token.slice(i, i + MIN_TOKEN_PIECE));
  // Every character inside a window that is a piece of the token is masked; adjoining windows make one `***`.
  const masked = new Uint8Array(whole.length);
  for (let i = 0; i + MIN_TOKEN_PIECE <= whole.length; i++) if (pieces.has(whole.slice(i, i + MIN_TOKEN_PIECE))) masked.fill(1, i, i + MIN_TOKEN_PIECE);
  let out = '';
  for (let i = 0; i < whole.length; i++)
    if (!masked[i]) out += whole[i];
    else if (i === 0 || !masked[i - 1]) out += '***';
  return out;
}

/**
 * The error to rethrow after a call made with a task token: the same name and SDK metadata (so retry decisions hold),
 * its message without the token, since the caller logs or records it.
 */
export function withoutTokenError(e: unknown, token: string): Error {
  const err = e as Error & { $metadata?: unknown };
  return Object.assign(new Error(withoutToken(String(err?.message ?? e), token)), {
    name: err?.name ?? 'Error',
    ...(err?.$metadata !== undefined ? { $metadata: err.$metadata } : {}),
  });
}
