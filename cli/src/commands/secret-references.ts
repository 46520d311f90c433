import type { Function as DispatchFunction } from "@dispatch/proto";
import type { Session } from "../app.js";
import { kindByWord } from "../kinds/index.js";
import { isNotFound } from "./shared.js";

/**
 * Warns on stderr about each secret a function names that does not exist in its
 * org: the function still becomes READY, but every call fails until the secret
 * exists. Only a warning; a failure to check is not reported.
 */
export async function warnMissingSecrets(
  session: Session,
  org: string,
  fn: string,
  secrets: readonly string[],
): Promise<void> {
  const missing = await Promise.all(
    [...new Set(secrets)].map(async (name) => {
      try {
        await session.clients.secrets.get({ org, name });
        return undefined;
      } catch (err) {
        return isNotFound(err) ? name : undefined;
      }
    }),
  );
  for (const name of missing) {
    if (name === undefined) continue;
    session.io.stderr(
      `warning: function "${fn}" names secret "${name}", which does not exist in org "${org || "default"}": ` +
        `its calls fail until it does; create it with "dispatch create secret ${name} --from-literal KEY=VALUE${orgFlag(org)}"\n`,
    );
  }
}

/**
 * Warns on stderr about the functions of `org` that still name one of the
 * `deleted` secrets: their calls fail until the secret exists again or they stop
 * naming it. Only a warning; a failure to check is not reported.
 */
export async function warnSecretUsers(
  session: Session,
  org: string,
  deleted: readonly string[],
): Promise<void> {
  if (deleted.length === 0) return;
  let functions: DispatchFunction[];
  try {
    functions = (await kindByWord("function").ops(session.clients).list({ org })) as DispatchFunction[];
  } catch {
    return;
  }
  for (const secret of deleted) {
    const users = functions
      .filter((f) => f.spec?.secrets.includes(secret))
      .map((f) => f.meta?.name ?? "")
      .sort();
    const [first] = users;
    if (first === undefined) continue;
    const one = users.length === 1;
    const who = one
      ? `function "${first}" still names it`
      : `functions ${users.map((u) => `"${u}"`).join(", ")} still name it`;
    session.io.stderr(
      `warning: secret "${secret}" was deleted, but ${who}: ${one ? "its" : "their"} calls fail until you ` +
        `create it again ("dispatch create secret ${secret} --from-literal KEY=VALUE${orgFlag(org)}") or change the secrets ` +
        `${one ? "it names" : "they name"} ("dispatch update function ${one ? first : "NAME"} --secret OTHER${orgFlag(org)}")\n`,
    );
  }
}

/**
 * The --org flag of a suggested command: always there, so that the command acts
 * on the same org when copied, whatever org the user's context or flags name.
 */
function orgFlag(org: string): string {
  return ` --org ${org || "default"}`;
}
