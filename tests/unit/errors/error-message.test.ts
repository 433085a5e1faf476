import vm from 'node:vm';
import { AppError, errorMessage } from '@changefeed/shared/errors';

describe('errorMessage', () => {
  it('gives the message of an Error, an AppError included', () => {
    expect(errorMessage(new TypeError('bad type'))).toBe('bad type');
    expect(errorMessage(new AppError('WAREHOUSE.CLOSED', 'closed'))).toBe('closed');
  });

  it('gives the message of an error from another realm, which fails instanceof Error', () => {
    const foreign: unknown = vm.runInNewContext('new Error("from elsewhere")');
    expect(foreign instanceof Error).toBe(false);
    expect(errorMessage(foreign)).toBe('from elsewhere');
  });

  it('gives the message of a plain object that carries one, as native bindings throw', () => {
    expect(errorMessage({ message: 'Conversion Error: bad', code: 3 })).toBe('Conversion Error: bad');
  });

  it('gives a thrown string as it is', () => {
    expect(errorMessage('just text')).toBe('just text');
  });

  it('shows a plain object without a message as JSON, not [object Object]', () => {
    expect(errorMessage({ code: 5, reason: 'notFound' })).toBe('{"code":5,"reason":"notFound"}');
  });

  it('shows values without a JSON form through String', () => {
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorMessage(Symbol('s'))).toBe('Symbol(s)');
    expect(errorMessage(10n)).toBe('10');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(errorMessage(cyclic)).toBe('[object Object]');
  });

  it('a message that is not a string does not count as one', () => {
    expect(errorMessage({ message: 42 })).toBe('{"message":42}');
  });
});
