import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create('/tmp/rq/w2.duckdb', { memory_limit: '64MiB' });
const c0 = await inst.connect();
await c0.run(`SET allowed_directories=['/tmp/rq/changefeed-load-']`);
await c0.run('SET enable_external_access=false'); await c0.run('SET lock_configuration=true');
await c0.run('CREATE OR REPLACE TABLE t (a INT)');
// prefix test
const { mkdirSync, writeFileSync } = await import('node:fs');
mkdirSync('/tmp/rq/changefeed-load-abc', { recursive: true }); writeFileSync('/tmp/rq/changefeed-load-abc/r.json', '{"x":2}\n');
try { console.log((await c0.runAndReadAll(`SELECT * FROM read_json('/tmp/rq/changefeed-load-abc/r.json')`)).getRowObjectsJson()); } catch (e) { console.log('prefix ERR', e.message.slice(0,120)); }
// spilling
try { const r = await c0.runAndReadAll(`SELECT count(*) FROM (SELECT i, md5(i::varchar) m FROM range(3000000) r(i) ORDER BY m)`); console.log('spill ok', r.getRowObjectsJson()); } catch (e) { console.log('spill ERR', e.message.slice(0,200)); }
const u = await inst.connect();
let t0 = Date.now();
const long = u.runAndReadAll('SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7').then(() => 'finished', (e) => 'ERR ' + e.message.slice(0, 100));
const tx = await u.run('SELECT 1').catch(e => 'second on same conn ' + e.message);
await new Promise(r => setTimeout(r, 300));
for (let i = 0; i < 5; i++) { const s = Date.now(); await c0.run('BEGIN'); await c0.run(`INSERT INTO t VALUES (${i})`); await c0.run('COMMIT'); console.log('append', i, Date.now() - s, 'ms'); }
await c0.run('CHECKPOINT').then(() => console.log('checkpoint ok'), (e) => console.log('checkpoint ERR', e.message));
setTimeout(() => { console.log('interrupt at', Date.now() - t0); u.interrupt(); }, 1000);
console.log(await long, Date.now() - t0, 'ms');
console.log((await u.runAndReadAll('SELECT count(*) c FROM t')).getRowObjectsJson());
