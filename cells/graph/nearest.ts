import { closest, distance } from "fastest-levenshtein";

/**
 * The name among `names` that a mistyped `name` most likely meant, or undefined when none is
 * close: up to a third of the name may be off (two letters swapped count twice), never all of a
 * short one. Case is ignored, as people type it.
 */
export function nearest(name: string, names: readonly string[]): string | undefined {
  const candidates = names.filter((n) => n !== name);
  if (!name || !candidates.length) return undefined;
  const lower = candidates.map((n) => n.toLowerCase());
  const near = closest(name.toLowerCase(), lower);
  const limit = Math.min(near.length <= 3 ? 1 : Math.max(2, Math.floor(near.length / 3)), near.length - 1);
  return distance(name.toLowerCase(), near) <= limit ? candidates[lower.indexOf(near)] : undefined;
}

/** `did you mean "x"? ` for the nearest name, else nothing: to open the parenthesis of an error that lists the names. */
export function didYouMean(name: string, names: readonly string[]): string {
  const near = nearest(name, names);
  return near === undefined ? "" : `did you mean "${near}"? `;
}
