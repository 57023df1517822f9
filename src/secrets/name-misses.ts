import { covers } from './metadata-fill-guard.ts';

/** Names kept at most, and their approximate bytes (a name may be as long as a URL segment). */
export const maxNameMisses = 1024;
export const maxNameMissBytes = 512 * 1024;
const bytesOf = (key: string) => 100 + 2 * key.length;

/**
 * Instance names that resolved to no instance, per location, kept apart from the metadata LRU and
 * bounded on their own (oldest first). The guard resolves a name before it checks permissions, so a
 * principal without any permission can make up names at will: those evict only other such names,
 * never another tenant's instances, secrets or resolved names.
 */
export class NameMisses {
  readonly #max: number;
  /** `{location}\0{name}` → location, oldest first. */
  readonly #keys = new Map<string, string>();
  #bytes = 0;

  constructor(maxEntries: number) {
    this.#max = Math.min(maxNameMisses, maxEntries);
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.#keys.size, bytes: this.#bytes };
  }

  has(key: string): boolean {
    return this.#keys.has(key);
  }

  add(key: string, location: string): void {
    if (this.#keys.has(key) || this.#max <= 0) return;
    this.#keys.set(key, location);
    this.#bytes += bytesOf(key);
    for (const oldest of this.#keys.keys()) {
      if (this.#keys.size <= this.#max && this.#bytes <= maxNameMissBytes) return;
      this.#delete(oldest);
    }
  }

  /** Drops the names of every location at or under `resource`, or holding it (an instance). */
  drop(resource: string): void {
    for (const [key, location] of this.#keys)
      if (covers(location, resource) || covers(resource, location)) this.#delete(key);
  }

  clear(): void {
    this.#keys.clear();
    this.#bytes = 0;
  }

  #delete(key: string): void {
    if (this.#keys.delete(key)) this.#bytes -= bytesOf(key);
  }
}
