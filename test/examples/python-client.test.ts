import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildServer } from "../helpers/child-server.js";
import { checkTool, failIfMissing, pythonModulesProblem } from "../helpers/external-tools.js";
import { tokenFor } from "../helpers/tokens.js";

const run = promisify(execFile);
// Debian's interpreter: python3-socketio installs for it, not for a pyenv python3 first on PATH.
const PYTHON = process.env.PYTHON_SOCKETIO ?? "/usr/bin/python3";
const EXAMPLE = fileURLToPath(new URL("../../examples/python/chat_client.py", import.meta.url));

const python = checkTool(
  "the Python client example",
  pythonModulesProblem(
    PYTHON,
    ["socketio", "requests", "websocket"],
    "apt-get install python3-socketio python3-requests python3-websocket",
  ),
);

type Step = { step: string } & Record<string, unknown>;

describe.skipIf(!python.run)("the Python example (python-socketio) against the built server", () => {
  let server: ChildServer;

  beforeAll(async () => {
    failIfMissing(python);
    // A production-like Origin policy: the example must pass it as a non-browser client.
    server = await new ChildServer({ CORS_ORIGINS: "https://app.example" }).start();
  });
  afterAll(async () => {
    await server?.kill();
  });

  async function runExample(transport: "websocket" | "polling"): Promise<Step[]> {
    const token = await tokenFor(`py-${transport}`, { rooms: ["team:*"] });
    const { stdout } = await run(
      PYTHON,
      [EXAMPLE, "--url", server.url, "--token", token, "--transport", transport, "--room", "team:python"],
      { timeout: 20_000 },
    );
    return stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Step);
  }

  it.each(["websocket", "polling"] as const)(
    "connects with a token over %s, joins, sends with an ack, receives the message, and reads typed refusals",
    async (transport) => {
      const steps = await runExample(transport);
      const at = (name: string) => steps.filter((s) => s.step === name);

      expect(at("connected")[0]).toMatchObject({ transport });
      expect(at("chat:join")[0]).toMatchObject({ ok: true });
      const sent = at("chat:send")[0];
      expect(sent).toMatchObject({
        ok: true,
        id: expect.any(String),
        text: `hello from Python over ${transport}`,
      });
      expect(at("chat:message")[0]).toEqual({
        step: "chat:message",
        id: sent?.id,
        text: sent?.text,
        senderId: `py-${transport}`,
      });

      const [invalid, notInRoom] = at("refused").map((s) => s.answer);
      expect(invalid).toEqual({
        ok: false,
        error: {
          code: "INVALID_PAYLOAD",
          message: expect.any(String),
          fields: [{ path: "text", message: expect.any(String) }],
        },
      });
      expect(notInRoom).toEqual({ ok: false, error: { code: "NOT_IN_ROOM", message: expect.any(String) } });
      expect(at("connect_error")[0]?.error).toEqual({
        message: "unauthorized",
        data: { status: 401, code: "TOKEN_INVALID" },
      });
      expect(at("server:error")).toEqual([]);
    },
  );
});
