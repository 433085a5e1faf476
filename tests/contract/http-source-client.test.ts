import { createSourceClient } from '@changefeed/shared/source';
import { sourceClientContract } from './source-client.contract';

sourceClientContract('HttpSourceClient over a real local HTTP server', (source, deps) =>
  createSourceClient(source, deps),
);
