/**
 * The id formats of the wire contract, for the schemas (schemas.ts), the token verifier
 * and the demo page. Without zod, so a browser bundle can take them alone: the demo page
 * grows from 75 KB to 531 KB when it imports schemas.ts.
 */

export const ROOM_ID_PATTERN = /^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.:@-]{1,128}$/;
/** Stream entry id: `<ms>-<seq>`. */
export const MESSAGE_ID_PATTERN = /^\d{1,20}-\d{1,20}$/;
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:@|-]{1,128}$/;
