import { randomUUID } from 'node:crypto';
import type { ChangeRow, EventType, RowSink } from '@changefeed/shared/ports';

/** One row of `<table>_current` as the contract compares it: `data` parsed, `version` a number. */
export interface CurrentRow {
  readonly entity_id: string;
  readonly version: number;
  readonly data: unknown;
  readonly event_id: string;
}

/** Builds a sink; called once per test, and the suite closes it. */
export type MakeRowSink<S extends RowSink> = () => S | Promise<S>;

/** Reads `<table>_current` through whatever the sink's warehouse offers, ordered by entity id. */
export type ReadCurrent<S extends RowSink> = (sink: S, table: string) => Promise<readonly CurrentRow[]>;

const T0 = Date.parse('2024-06-01T00:00:00.000Z');

interface ChangeSpec {
  readonly entity: string;
  readonly version: number;
  readonly type?: EventType;
  readonly data?: Record<string, unknown> | null;
  /** Seconds after T0. */
  readonly at?: number;
  readonly eventId?: string;
}

export function changeRow(table: string, spec: ChangeSpec): ChangeRow {
  const type = spec.type ?? (spec.version === 1 ? 'created' : 'updated');
  const eventTime = new Date(T0 + (spec.at ?? spec.version) * 1000);
  const data = spec.data === undefined ? (type === 'deleted' ? null : { id: spec.entity, v: spec.version }) : spec.data;
  return {
    event_id: spec.eventId ?? `${table}/${spec.entity}/${spec.version}/${type}`,
    event_type: type,
    source: table,
    entity_id: spec.entity,
    version: spec.version,
    data: data === null ? null : JSON.stringify(data),
    event_time: eventTime,
    publish_time: new Date(eventTime.getTime() + 100),
    ingested_at: new Date(eventTime.getTime() + 200),
    delivery_attempt: null,
    message_id: `m-${randomUUID()}`,
  };
}

/**
 * What every RowSink must do so that `<table>_current` is right, whatever the warehouse
 * (DuckDB locally, BigQuery on GCP). Each test writes its own tables, so a shared warehouse works.
 */
export function rowSinkContract<S extends RowSink>(
  name: string,
  makeSink: MakeRowSink<S>,
  readCurrent: ReadCurrent<S>,
): void {
  describe(`RowSink contract: ${name}`, () => {
    let sink: S;
    let table: string;

    beforeEach(async () => {
      sink = await makeSink();
      table = `contract_${randomUUID().slice(0, 8)}`;
    });

    afterEach(() => sink.close());

    const row = (spec: ChangeSpec): ChangeRow => changeRow(table, spec);
    const current = async (): Promise<readonly CurrentRow[]> => readCurrent(sink, table);

    it('_current shows the latest version of each entity', async () => {
      await sink.appendChanges(table, [
        row({ entity: 'a', version: 1 }),
        row({ entity: 'a', version: 2 }),
        row({ entity: 'b', version: 1 }),
      ]);
      await sink.appendChanges(table, [row({ entity: 'a', version: 3 })]);
      expect(await current()).toEqual([
        { entity_id: 'a', version: 3, data: { id: 'a', v: 3 }, event_id: `${table}/a/3/updated` },
        { entity_id: 'b', version: 1, data: { id: 'b', v: 1 }, event_id: `${table}/b/1/created` },
      ]);
    });

    it('when versions arrive out of order, _current still shows the highest', async () => {
      await sink.appendChanges(table, [row({ entity: 'a', version: 2 })]);
      await sink.appendChanges(table, [row({ entity: 'a', version: 1 })]);
      expect((await current()).map((r) => r.version)).toEqual([2]);
    });

    it('a deleted entity disappears from _current', async () => {
      await sink.appendChanges(table, [
        row({ entity: 'a', version: 1 }),
        row({ entity: 'b', version: 1 }),
        row({ entity: 'a', version: 2, type: 'deleted' }),
      ]);
      expect((await current()).map((r) => r.entity_id)).toEqual(['b']);
    });

    it('when the same event id arrives twice, _current shows it once', async () => {
      const once = row({ entity: 'a', version: 1 });
      await sink.appendChanges(table, [once]);
      await sink.appendChanges(table, [{ ...once, message_id: 'redelivered', delivery_attempt: 2 }]);
      expect(await current()).toEqual([
        { entity_id: 'a', version: 1, data: { id: 'a', v: 1 }, event_id: once.event_id },
      ]);
    });

    it('an entity re-created after a delete appears again with its new version', async () => {
      await sink.appendChanges(table, [
        row({ entity: 'a', version: 1 }),
        row({ entity: 'a', version: 2, type: 'deleted' }),
        row({ entity: 'a', version: 3, type: 'created', data: { id: 'a', back: true } }),
      ]);
      expect(await current()).toEqual([
        { entity_id: 'a', version: 3, data: { id: 'a', back: true }, event_id: `${table}/a/3/created` },
      ]);
    });

    it('when two events share a version, the later event time wins', async () => {
      await sink.appendChanges(table, [
        row({ entity: 'a', version: 2, at: 20, eventId: 'later', data: { id: 'a', n: 'later' } }),
        row({ entity: 'a', version: 2, at: 10, eventId: 'earlier', data: { id: 'a', n: 'earlier' } }),
      ]);
      expect((await current()).map((r) => [r.event_id, r.data])).toEqual([['later', { id: 'a', n: 'later' }]]);
    });

    it('rows of concurrent appends all land', async () => {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          sink.appendChanges(table, [row({ entity: `e${i}`, version: 1 }), row({ entity: `e${i}`, version: 2 })]),
        ),
      );
      const rows = await current();
      expect(rows).toHaveLength(10);
      expect(rows.every((r) => r.version === 2)).toBe(true);
    });

    it('tables do not see each other’s rows', async () => {
      const otherTable = `${table}_other`;
      await sink.appendChanges(table, [row({ entity: 'a', version: 1 })]);
      await sink.appendChanges(otherTable, [changeRow(otherTable, { entity: 'z', version: 1 })]);
      expect((await current()).map((r) => r.entity_id)).toEqual(['a']);
      expect((await readCurrent(sink, otherTable)).map((r) => r.entity_id)).toEqual(['z']);
    });

    it('an empty append resolves', async () => {
      await expect(sink.appendChanges(table, [])).resolves.toBeUndefined();
    });

    it('a rejected message is accepted with its reason', async () => {
      await expect(
        sink.appendRejected([
          {
            message_id: 'm-1',
            subscription: null,
            reason: 'missing ce-id',
            payload: '{"message":{}}',
            received_at: new Date(T0),
          },
        ]),
      ).resolves.toBeUndefined();
    });
  });
}
