import { parse } from '@cdktf/hcl2json';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The Terraform in terraform/, parsed from HCL to JSON by @cdktf/hcl2json (the HCL parser
 * Terraform itself uses, compiled to WebAssembly): no terraform binary, no providers, no network.
 *
 * In the JSON, every block is an array of bodies (`push_config: [{ ... }]`), attributes are plain
 * values, and expressions are strings such as `"${google_service_account.push.email}"`.
 */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const TERRAFORM_DIR = path.join(REPO_ROOT, 'terraform');

export type Body = Readonly<Record<string, unknown>>;

export interface Terraform {
  /** `type -> name -> body` of every `resource` block. */
  readonly resources: ReadonlyMap<string, ReadonlyMap<string, Body>>;
  /** `type -> name -> body` of every `data` block. */
  readonly data: ReadonlyMap<string, ReadonlyMap<string, Body>>;
  readonly variables: ReadonlyMap<string, Body>;
  readonly outputs: ReadonlyMap<string, Body>;
  /** Every `locals` block of every file, merged. */
  readonly locals: Body;
  /** The `terraform { ... }` settings blocks. */
  readonly settings: readonly Body[];
  /** Raw text of every .tf file, by file name. */
  readonly texts: ReadonlyMap<string, string>;
}

function isBody(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bodies(v: unknown, where: string): Body[] {
  if (!Array.isArray(v) || !v.every(isBody)) throw new Error(`${where}: expected a list of blocks`);
  return v;
}

function addTyped(
  target: Map<string, Map<string, Body>>,
  section: unknown,
  file: string,
  kind: 'resource' | 'data',
): void {
  if (section === undefined) return;
  if (!isBody(section)) throw new Error(`${file}: unexpected ${kind} section`);
  for (const [type, byName] of Object.entries(section)) {
    if (!isBody(byName)) throw new Error(`${file}: unexpected ${kind} ${type}`);
    const names = target.get(type) ?? new Map<string, Body>();
    for (const [name, list] of Object.entries(byName)) {
      if (names.has(name)) throw new Error(`${file}: ${kind} ${type}.${name} is declared twice`);
      const [body] = bodies(list, `${file}: ${kind} ${type}.${name}`);
      if (body === undefined) throw new Error(`${file}: ${kind} ${type}.${name} is empty`);
      names.set(name, body);
    }
    target.set(type, names);
  }
}

function addNamed(target: Map<string, Body>, section: unknown, file: string, kind: string): void {
  if (section === undefined) return;
  if (!isBody(section)) throw new Error(`${file}: unexpected ${kind} section`);
  for (const [name, list] of Object.entries(section)) {
    const [body] = bodies(list, `${file}: ${kind} ${name}`);
    if (body === undefined) throw new Error(`${file}: ${kind} ${name} is empty`);
    if (target.has(name)) throw new Error(`${file}: ${kind} ${name} is declared twice`);
    target.set(name, body);
  }
}

export async function loadTerraform(dir: string = TERRAFORM_DIR): Promise<Terraform> {
  const resources = new Map<string, Map<string, Body>>();
  const data = new Map<string, Map<string, Body>>();
  const variables = new Map<string, Body>();
  const outputs = new Map<string, Body>();
  const locals: Record<string, unknown> = {};
  const settings: Body[] = [];
  const texts = new Map<string, string>();

  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .sort();
  for (const file of files) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    texts.set(file, text);
    const json: unknown = await parse(file, text);
    if (!isBody(json)) throw new Error(`${file}: unexpected parse result`);
    addTyped(resources, json['resource'], file, 'resource');
    addTyped(data, json['data'], file, 'data');
    addNamed(variables, json['variable'], file, 'variable');
    addNamed(outputs, json['output'], file, 'output');
    if (json['locals'] !== undefined) {
      for (const block of bodies(json['locals'], `${file}: locals`)) {
        for (const [name, value] of Object.entries(block)) {
          if (name in locals) throw new Error(`${file}: local.${name} is declared twice`);
          locals[name] = value;
        }
      }
    }
    if (json['terraform'] !== undefined) settings.push(...bodies(json['terraform'], `${file}: terraform`));
  }
  return { resources, data, variables, outputs, locals, settings, texts };
}

/** The body of `resource "<type>" "<name>"`; throws when it is not declared. */
export function resource(tf: Terraform, type: string, name: string): Body {
  const body = tf.resources.get(type)?.get(name);
  if (body === undefined) throw new Error(`resource ${type}.${name} is not declared`);
  return body;
}

/** Every `[name, body]` of one resource type (empty when there is none). */
export function resourcesOf(tf: Terraform, type: string): [string, Body][] {
  return [...(tf.resources.get(type) ?? new Map<string, Body>()).entries()];
}

/** The only nested block `key` of a body (`push_config { ... }`); throws unless there is exactly one. */
export function block(body: Body, key: string): Body {
  const list = blocks(body, key);
  if (list.length !== 1) throw new Error(`expected exactly one ${key} block, found ${list.length}`);
  return list[0] as Body;
}

/** Every nested block `key` of a body (none: empty). */
export function blocks(body: Body, key: string): Body[] {
  const v = body[key];
  return v === undefined ? [] : bodies(v, key);
}

/** The `dynamic "<name>" { for_each, content }` blocks of a body (the JSON keeps them under `dynamic`). */
export function dynamicBlocks(body: Body, name: string): Body[] {
  const dynamic = body['dynamic'];
  if (dynamic === undefined) return [];
  if (!isBody(dynamic)) throw new Error('dynamic: expected an object of block lists');
  return blocks(dynamic, name);
}

/** Every string anywhere inside a value: attribute values and expressions alike. */
export function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (isBody(value)) return Object.values(value).flatMap(stringsIn);
  return [];
}

/** `"${google_service_account.push.email}"`: how a reference reads in the parsed JSON. */
export function ref(expression: string): string {
  return `\${${expression}}`;
}
