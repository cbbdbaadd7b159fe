/** The status of `GET /ready`, or 0 when nothing answers within 500 ms. */
export async function readyStatus(url: string): Promise<number> {
  try {
    const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(500) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}
