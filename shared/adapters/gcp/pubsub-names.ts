import { ValidationError } from '../../errors';

/** A topic or a subscription: the collections of a Pub/Sub resource name. */
export type PubSubCollection = 'topics' | 'subscriptions';

/**
 * The rule for a topic or subscription id: 3 to 255 characters, starting with a letter, of letters,
 * digits and `-_.~+%`, and not starting with `goog`.
 * https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names
 */
const RESOURCE_ID = /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

/**
 * The full name `projects/<project>/<collection>/<id>` of `name`, which is either an id in
 * `projectId` or already a full name of that collection. `what` names the setting in the error
 * (e.g. `--subscription`).
 */
export function pubSubResourceName(
  collection: PubSubCollection,
  name: string,
  projectId: string,
  what: string,
): string {
  const full = /^projects\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(name);
  const id = full === null ? name : full[3];
  const problem =
    full !== null && full[2] !== collection
      ? `expected projects/<project>/${collection}/<id>`
      : id === undefined || !RESOURCE_ID.test(id)
        ? 'expected 3 to 255 letters, digits or -_.~+%, starting with a letter (not "goog")'
        : undefined;
  if (problem !== undefined) {
    throw new ValidationError(
      `${what}: invalid Pub/Sub ${collection.slice(0, -1)} name ${JSON.stringify(name)}: ${problem}`,
      [{ path: what, message: problem }],
    );
  }
  return full === null ? `projects/${projectId}/${collection}/${name}` : name;
}
