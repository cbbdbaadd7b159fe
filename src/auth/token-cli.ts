/**
 * `npm run token -- --sub alice [--name Alice] [--rooms 'team:*,dm:*'] [--roles admin] [--ttl 1h]
 *  [--room 'group:42'] [--private-key key.pem --alg RS256]`
 * Prints a token signed with the configured key (JWT_SECRET, or the development secret
 * when nothing is configured), so a newcomer can connect at once.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { importPKCS8 } from "jose";
import { ConfigError, loadConfig } from "../infra/config.js";
import { signToken } from "./sign.js";

const usage =
  "usage: npm run token -- --sub <userId> [--name <name>] [--rooms 'team:*,dm:*'] [--roles admin] [--ttl 1h] [--room 'group:42'] [--private-key file.pem --alg RS256]";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sub: { type: "string" },
      name: { type: "string" },
      rooms: { type: "string" },
      room: { type: "string" },
      roles: { type: "string" },
      ttl: { type: "string", default: "1h" },
      "private-key": { type: "string" },
      alg: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help || !values.sub) {
    console.error(usage);
    process.exit(values.help ? 0 : 2);
  }
  try {
    process.loadEnvFile();
  } catch {
    // no .env file: the environment alone is fine
  }
  const config = loadConfig(process.env);
  const csv = (v: string | undefined) =>
    v
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  // With --room: a room token (chat:join {roomId, token}), not a connection token.
  const claims = {
    sub: values.sub,
    name: values.name,
    rooms: csv(values.rooms),
    roles: csv(values.roles),
    room: values.room,
  };
  const common = { expiresIn: values.ttl, issuer: config.jwt.issuer, audience: config.jwt.audience };

  let token: string;
  if (values["private-key"]) {
    const alg = values.alg ?? "RS256";
    const key = await importPKCS8(readFileSync(values["private-key"], "utf8"), alg);
    token = await signToken(claims, { ...common, key, alg });
  } else if (config.jwt.key.kind === "secret") {
    token = await signToken(claims, { ...common, key: config.jwt.key.secret, alg: config.jwt.algorithms[0] });
    if (config.jwt.key.development) console.error("(signed with the development secret)");
  } else {
    console.error(
      "the server verifies with a public key: pass --private-key <pkcs8.pem> --alg <RS256|ES256>",
    );
    process.exit(2);
  }
  console.log(token);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
