import type { DemoToken } from "../../src/demo/token.js";

/** The demo's HTTP endpoints on the page's own origin (the service itself). */

async function errorMessage(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: { message?: string } };
    if (body.error?.message) return body.error.message;
  } catch {
    // not JSON
  }
  return `HTTP ${res.status}`;
}

/** POST /demo/token: a development token for `name`. */
export async function mintToken(name: string): Promise<DemoToken> {
  const res = await fetch("/demo/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as DemoToken;
}

/** POST /demo/notify: a test notification to oneself, authenticated with one's own token. */
export async function notifyMe(token: string): Promise<void> {
  const res = await fetch("/demo/notify", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({}),
  });
  if (!res.ok) throw new Error(await errorMessage(res));
}
