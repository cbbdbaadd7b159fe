/**
 * How deep a JSON value nests, measured without recursion: a body of a few kilobytes
 * of `[` is enough to overflow the stack of anything recursive (JSON.stringify, a
 * recursive validator), so the depth is checked first, with a loop, and every
 * recursive walk runs only on values that passed.
 */
export function nestingDepthExceeds(value: unknown, maxDepth: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 1 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item.value !== "object" || item.value === null) continue;
    if (item.depth > maxDepth) return true;
    const children = Array.isArray(item.value) ? item.value : Object.values(item.value);
    for (const child of children) stack.push({ value: child, depth: item.depth + 1 });
  }
  return false;
}
