import { randomBytes } from "node:crypto";
import type { ChatFeature } from "../../src/chat/index.js";
import { featureBuilders } from "../../src/features.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { connected, type TestSocket } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/** An app running the chat feature only (other features are tested on their own), with its service at hand. */
export interface ChatTestApp extends TestApp {
  chat: ChatFeature;
}

export async function startChatApp(env: Record<string, string | undefined> = {}): Promise<ChatTestApp> {
  let chat: ChatFeature | undefined;
  const app = await startApp(env, (config, shared) => {
    const build = featureBuilders(config, shared);
    chat = build.chat();
    return [chat, build.instances()];
  });
  if (!chat) throw new Error("chat feature was not built");
  return Object.assign(app, { chat });
}

export const uniquePrefix = (name: string) => `${name}${randomBytes(4).toString("hex")}:`;

/** A connected client for `userId` with access to every `team:*` room unless claims say otherwise. */
export async function user(
  app: { url: string },
  userId: string,
  claims: { name?: string; rooms?: string[]; roles?: string[] } = { rooms: ["team:*"] },
): Promise<TestSocket> {
  return connected(app.url, await tokenFor(userId, claims));
}
