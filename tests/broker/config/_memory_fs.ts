/**
 * In-memory files for config tests: `readTextFile` and `readDir` over a record of paths.
 *
 * @module
 */

import type { ConfigDirEntry, ConfigReaders } from "../../../broker/config/parse.ts";

/**
 * Readers over `files` (absolute path → text). A directory exists when some path lies under it;
 * a key ending in "/" makes an empty directory.
 */
export function memoryFs(files: Record<string, string>): Required<ConfigReaders> {
  return {
    readTextFile(path) {
      const text = files[path];
      if (text === undefined || path.endsWith("/")) {
        throw new Deno.errors.NotFound(`No such file or directory: ${path}`);
      }
      return text;
    },
    readDir(path) {
      const prefix = path.endsWith("/") ? path : `${path}/`;
      const entries = new Map<string, ConfigDirEntry>();
      let exists = false;
      for (const key of Object.keys(files)) {
        if (!key.startsWith(prefix)) continue;
        exists = true;
        const rest = key.slice(prefix.length);
        if (rest === "") continue;
        const slash = rest.indexOf("/");
        const name = slash === -1 ? rest : rest.slice(0, slash);
        entries.set(name, { name, isDirectory: slash !== -1 });
      }
      if (!exists) throw new Deno.errors.NotFound(`No such file or directory: ${path}`);
      // Deliberately unsorted, as a real directory listing is.
      return [...entries.values()].reverse();
    },
  };
}
