import { configJsonSchemaText } from '@changefeed/shared/config';
import { Exit, type CliIo, type ExitCode } from '../io';

/**
 * `changefeed config schema`: prints the config file's JSON Schema (draft-07), generated from the
 * same zod schema that validates it, for editors and other tools: e.g.
 * `changefeed config schema > changefeed.schema.json` and a
 * `# yaml-language-server: $schema=changefeed.schema.json` first line in the config.
 */
export function configSchemaCommand(io: CliIo): ExitCode {
  io.stdout.write(configJsonSchemaText());
  return Exit.ok;
}
