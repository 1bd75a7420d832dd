// Adds a folder on disk to a BundleBuilder the way core's FsTree sees it (Node has files
// on disk; a browser hands the page Files). Every entry is added — selection is core's
// job —, symlinks that stay inside the folder as what they point to, others with addLink.

import { lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { join, sep } from "node:path";

const inside = (root, real) => real === root || real.startsWith(root + sep);

export function addFolder(builder, folder) {
  const root = realpathSync(folder);
  const walk = (dir, rel) => {
    for (const name of readdirSync(dir)) {
      const abs = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const lst = lstatSync(abs);
      if (lst.isSymbolicLink()) {
        const target = readlinkSync(abs);
        let real, st;
        try {
          real = realpathSync(abs);
          st = statSync(abs);
        } catch {
          builder.addLink(path, target, "broken");
          continue;
        }
        if (!inside(root, real)) {
          builder.addLink(path, target, "outside");
        } else if (st.isDirectory()) {
          // A link to a folder on the way here would never end.
          const ancestors = [root, ...rel.split("/").filter(Boolean).map((_, i, a) => realpathSync(join(root, ...a.slice(0, i + 1))))];
          if (ancestors.some((a) => inside(real, a))) builder.addLink(path, target, "loop");
          else walk(abs, path);
        } else if (st.isFile()) {
          builder.add(path, readFileSync(abs), { executable: (st.mode & 0o111) !== 0 });
        }
      } else if (lst.isDirectory()) {
        walk(abs, path);
      } else if (lst.isFile()) {
        builder.add(path, readFileSync(abs), { executable: (lst.mode & 0o111) !== 0 });
      }
    }
  };
  walk(root, "");
  return builder;
}
