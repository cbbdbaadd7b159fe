/** What a call to the product's backend came back with, or why it did not. */
export type BackendAnswer =
  | { kind: "answer"; status: number; body: unknown }
  /** No answer within the deadline, a refused connection, or a body that is not JSON. */
  | { kind: "failed"; reason: string };

export interface BackendCall {
  url: string;
  /** Sent as `Authorization: Bearer <key>`: the backend knows the call is this service's. */
  key: string;
  timeoutMs: number;
}

/**
 * One JSON POST to the backend with global fetch, bounded by an AbortSignal timeout that
 * covers the body too. Never throws: a failure is an answer the caller maps by its policy.
 */
export async function postToBackend(call: BackendCall, payload: unknown): Promise<BackendAnswer> {
  try {
    const res = await fetch(call.url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${call.key}`,
        "content-type": "application/json",
        accept: "application/json",
      },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(call.timeoutMs),
      redirect: "error",
    });
    const text = await res.text();
    if (res.status >= 500) return { kind: "answer", status: res.status, body: undefined };
    try {
      return { kind: "answer", status: res.status, body: text ? JSON.parse(text) : undefined };
    } catch {
      return { kind: "failed", reason: `HTTP ${res.status} with a body that is not JSON` };
    }
  } catch (err) {
    const name = (err as Error).name;
    return {
      kind: "failed",
      reason: name === "TimeoutError" ? `no answer within ${call.timeoutMs} ms` : (err as Error).message,
    };
  }
}
