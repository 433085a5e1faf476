import { chmod, mkdir, open, writeFile } from 'node:fs/promises';

/** Owner only: the data directory holds the warehouse, the bus and the push secret. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` (and its parents) for its owner only, and takes the group and other bits off one
 * that exists already (a data directory from a version that made it 0755). Only `dir` itself is
 * chmodded: its parents may be anyone's.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  try {
    await chmod(dir, PRIVATE_DIR_MODE);
  } catch (e: unknown) {
    // Another user's directory (a shared one the run was pointed at): only its owner can narrow
    // it, and the files made in it are 0600 all the same.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
  }
}

/**
 * Makes `file` its owner's only, creating it empty when `create` and it does not exist. SQLite
 * gives its `-wal` and `-shm` files the mode of the database file, so a database created 0600
 * keeps its journal 0600 too.
 */
export async function ensurePrivateFile(file: string, options: { readonly create: boolean }): Promise<void> {
  if (options.create) {
    // 'a': creates with the mode when absent, and never truncates an existing file.
    const handle = await open(file, 'a', PRIVATE_FILE_MODE);
    await handle.close();
  }
  await chmodIfExists(file, PRIVATE_FILE_MODE);
}

/** Writes `text` to `file`, readable by its owner only, also when the file existed with a wider mode. */
export async function writePrivateFile(file: string, text: string): Promise<void> {
  // chmod first: the new contents are never readable under an old, wider mode.
  await ensurePrivateFile(file, { create: true });
  await writeFile(file, text, { mode: PRIVATE_FILE_MODE });
}

async function chmodIfExists(file: string, mode: number): Promise<void> {
  try {
    await chmod(file, mode);
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
