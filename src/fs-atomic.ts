import { randomBytes } from "node:crypto";
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Writes a whole file so readers see the old content or the new, never a mix.
 * Returns the first directory it had to create, if any, so an uninstall can remove it again.
 */
export async function writeFileAtomic(
  path: string,
  content: string,
  mode: number,
): Promise<string | undefined> {
  const created = await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await writeFile(temporary, content, { mode });
    await chmod(temporary, mode);
    await rename(temporary, path);
    return created;
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
