/**
 * Action arguments: each action declares its parameters; `buildArgs` reads them from the
 * grouped request tree with PHP's casts (KalturaRequestDeserializer::castSimpleType) and
 * answers MISSING_MANDATORY_PARAMETER for an absent mandatory one, as Kaltura does before it
 * even checks permissions.
 */
import { apiError } from './errors';
import { isTree, UploadedFile, type ParamNode, type ParamScalar, type ParamTree } from './params';

export type ParamType = 'string' | 'int' | 'float' | 'bool' | 'object' | 'file';

export interface ParamSpec {
  name: string;
  type: ParamType;
  /** Optional params take `default` (null when not given). */
  optional?: boolean;
  default?: ParamScalar;
}

type ArgValue = string | number | boolean | null | ParamTree | UploadedFile;

/** Typed view over the built arguments of one call. */
export class Args {
  constructor(private readonly values: ReadonlyMap<string, ArgValue>) {}

  str(name: string): string {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : '';
  }

  strOrNull(name: string): string | null {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : null;
  }

  int(name: string): number {
    return this.number(name);
  }

  intOrNull(name: string): number | null {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : null;
  }

  float(name: string): number {
    return this.number(name);
  }

  /** Ints and floats are both cast when built; reading only needs the number. */
  private number(name: string): number {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : 0;
  }

  bool(name: string): boolean {
    return this.values.get(name) === true;
  }

  obj(name: string): ParamTree | null {
    const v = this.values.get(name);
    return isTree(v ?? null) ? (v as ParamTree) : null;
  }

  file(name: string): UploadedFile | null {
    const v = this.values.get(name);
    return v instanceof UploadedFile ? v : null;
  }
}

export function buildArgs(specs: readonly ParamSpec[], tree: ParamTree): Args {
  const values = new Map<string, ArgValue>();
  for (const spec of specs) {
    const present = Object.prototype.hasOwnProperty.call(tree, spec.name);
    const node = present ? tree[spec.name] : undefined;
    switch (spec.type) {
      case 'object':
        if (isTree(node ?? null)) values.set(spec.name, node as ParamTree);
        else if (spec.optional) values.set(spec.name, null);
        else throw apiError('MISSING_MANDATORY_PARAMETER', spec.name);
        break;
      case 'file':
        if (node instanceof UploadedFile) values.set(spec.name, node);
        else if (spec.optional) values.set(spec.name, null);
        else throw apiError('MISSING_MANDATORY_PARAMETER', spec.name);
        break;
      default:
        if (present && node !== undefined) values.set(spec.name, castSimple(spec.type, node));
        else if (spec.optional) {
          const d = spec.default ?? null;
          values.set(spec.name, d === null ? null : castSimple(spec.type, d));
        } else throw apiError('MISSING_MANDATORY_PARAMETER', spec.name);
    }
  }
  return new Args(values);
}

function castSimple(type: Exclude<ParamType, 'object' | 'file'>, node: ParamNode): string | number | boolean {
  const scalar: ParamScalar = isTree(node) || node instanceof UploadedFile ? 'Array' : node;
  switch (type) {
    case 'string':
      return phpString(scalar);
    case 'int':
      return phpInt(scalar);
    case 'float':
      return phpFloat(scalar);
    case 'bool':
      return phpBool(scalar);
  }
}

/** PHP (string). */
export function phpString(v: ParamScalar): string {
  if (v === null || v === false) return '';
  if (v === true) return '1';
  return String(v);
}

/** PHP (int): leading integer of a string, truncation of a number. */
export function phpInt(v: ParamScalar): number {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === null) return 0;
  const m = /^\s*([+-]?\d+)/.exec(v);
  return m ? Number(m[1]) : 0;
}

/** PHP (float). */
export function phpFloat(v: ParamScalar): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === null) return 0;
  const m = /^\s*([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)/.exec(v);
  return m ? Number(m[1]) : 0;
}

/** Kaltura's bool cast: 'false' (any case) is false, then PHP truthiness ('' and '0' false). */
export function phpBool(v: ParamScalar): boolean {
  if (typeof v === 'string') return v.toLowerCase() === 'false' ? false : v !== '' && v !== '0';
  if (typeof v === 'number') return v !== 0;
  return v === true;
}

/** Reads a scalar field of an object param (e.g. `beacon.eventType`). */
export function field(tree: ParamTree, name: string): ParamScalar | undefined {
  const v = tree[name];
  if (v === undefined) return undefined;
  return isTree(v) || v instanceof UploadedFile ? undefined : v;
}

export function fieldStr(tree: ParamTree, name: string): string | undefined {
  const v = field(tree, name);
  return v === undefined ? undefined : phpString(v);
}

export function fieldInt(tree: ParamTree, name: string): number | undefined {
  const v = field(tree, name);
  return v === undefined ? undefined : phpInt(v);
}
