// Runs the compiled sample: node run.mjs <url> <alice's token> <bob's token>
import { run } from "./out/sample.js";

const [url, alice, bob] = process.argv.slice(2);
console.log(JSON.stringify(await run(url, { alice, bob })));
