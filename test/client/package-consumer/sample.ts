// An application outside the repository, on the installed package: type-checked with
// `tsc --strict` against the package's own declarations (no Node.js types, no server code),
// then run against a live server by test/client/package.test.ts.
import {
  type AckData,
  compareMessageIds,
  connect,
  type Message,
  type RealtimeClient,
  RealtimeError,
} from "@realtime-socket-server/client";

export interface Outcome {
  joined: AckData<"chat:join">["roomId"];
  sent: Pick<Message, "id" | "text" | "senderId">;
  received: Pick<Message, "id" | "text" | "senderId">;
  sameMessage: boolean;
  refused: string;
  bobOnline: string | undefined;
  tokenFetches: number;
}

const ROOM = "team:package";

/** Alice sends, Bob receives: two clients of the installed package. */
export async function run(url: string, tokens: { alice: string; bob: string }): Promise<Outcome> {
  let tokenFetches = 0;
  const clients: RealtimeClient[] = [];
  const open = (user: keyof typeof tokens) => {
    const client = connect({
      url,
      getToken: async () => {
        tokenFetches += 1;
        return tokens[user];
      },
      ackTimeoutMs: 5000,
    });
    clients.push(client);
    return client;
  };
  try {
    const alice = open("alice");
    const bob = open("bob");
    const received = new Promise<Message>((resolve) => bob.on("message", resolve));
    await bob.chat.join(ROOM);
    const joined = await alice.chat.join(ROOM);
    const [bobState] = await alice.presence.query(["bob"]);

    const sent = await alice.chat.send(ROOM, "hello from the package");
    const got = await received;
    const refused = await alice.chat.join("secret:vault").then(
      () => "joined",
      (err: unknown) => (err instanceof RealtimeError ? err.code : `not a RealtimeError: ${String(err)}`),
    );
    return {
      joined: joined.roomId,
      sent: { id: sent.id, text: sent.text, senderId: sent.senderId },
      received: { id: got.id, text: got.text, senderId: got.senderId },
      sameMessage: compareMessageIds(sent.id, got.id) === 0,
      refused,
      bobOnline: bobState?.status,
      tokenFetches,
    };
  } finally {
    for (const client of clients) client.close();
  }
}
