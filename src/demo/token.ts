/** What `POST /demo/token` answers; the demo page (web/demo) reads it too. */
export interface DemoToken {
  token: string;
  userId: string;
  /** Epoch seconds. */
  exp: number;
}
