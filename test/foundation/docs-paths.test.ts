import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/** The design docs name source files; a renamed or removed file must not linger in them. */

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const exists = (path: string) => existsSync(new URL(`../../${path}`, import.meta.url));

describe("the design docs", () => {
  it("name only source files that exist in docs/data-flow.md", () => {
    const named = new Set(
      [...read("docs/data-flow.md").matchAll(/`((?:[a-z-]+\/)?[a-z][a-z0-9.-]*\.ts)`/g)].map((m) => m[1]),
    );
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((path) => !exists(`src/${path}`))).toEqual([]);
  });

  it("name only source files that exist in docs/directory-structure.md's tree of src/", () => {
    const lines = read("docs/directory-structure.md").split("\n");
    const start = lines.findIndex((line) => line.startsWith("src/"));
    const end = lines.findIndex((line, i) => i > start && /^\S/.test(line));
    // A line at two spaces opens a folder of src/ (or names a file of src/ itself); one at four
    // names files of that folder, or a folder inside it; deeper lines continue the entry above.
    let folder = "";
    let entryFolder = "";
    const missing: string[] = [];
    let checked = 0;
    for (const line of lines.slice(start + 1, end)) {
      const top = /^ {2}(?:([a-z-]+\/)\s|\S)/.exec(line);
      const inner = /^ {4}(?:([a-z-]+\/)\s|\S)/.exec(line);
      if (top) folder = entryFolder = top[1] ?? "";
      else if (inner) entryFolder = `${folder}${inner[1] ?? ""}`;
      for (const [name] of line.matchAll(/(?<![\w./])[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*\.ts\b/g)) {
        checked += 1;
        if (!exists(`src/${entryFolder}${name}`)) missing.push(`${entryFolder}${name}`);
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(missing).toEqual([]);
  });
});
