/**
 * Class-selection protocols: which classes of a labelled dataset are normal and which anomalous.
 * One-class (COIL-100, MNIST, CIFAR-10: one class normal, all others anomalous), leave-one-out
 * (all normal but one), multi-normal, an explicit selection, or the layout's own labels.
 *
 * An item the layout itself flags anomalous (an MVTec defect image of the normal category, say)
 * stays anomalous under every protocol that would call its class normal: a protocol renames whole
 * classes, it never turns a labelled defect into a training sample.
 */
import { z } from 'zod';
import { UserError } from '../core/errors.js';

export type ClassProtocol =
  | { kind: 'as-labelled' }
  | { kind: 'one-class'; normal: string }
  | { kind: 'leave-one-out'; anomalous: string }
  | { kind: 'multi-normal'; normal: string[] }
  | { kind: 'select'; normal: string[]; anomalous: string[] };

const cls = z.string().min(1);
const unique = (a: string[]) => new Set(a).size === a.length;

export const classProtocolSpec: z.ZodType<ClassProtocol> = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('as-labelled') }),
  z.strictObject({ kind: z.literal('one-class'), normal: cls }),
  z.strictObject({ kind: z.literal('leave-one-out'), anomalous: cls }),
  z.strictObject({ kind: z.literal('multi-normal'), normal: z.array(cls).min(1).refine(unique, 'classes listed twice') }),
  z
    .strictObject({ kind: z.literal('select'), normal: z.array(cls).min(1).refine(unique, 'classes listed twice'), anomalous: z.array(cls).refine(unique, 'classes listed twice') })
    .refine((p) => !p.normal.some((c) => p.anomalous.includes(c)), { message: 'a class cannot be both normal and anomalous', path: ['anomalous'] }),
]);

export type ClassRole = { role: 'normal' | 'anomalous' | 'dropped'; reason?: string };

/** Classes the protocol names (each must exist in the data). */
function namedClasses(p: ClassProtocol): string[] {
  switch (p.kind) {
    case 'as-labelled':
      return [];
    case 'one-class':
      return [p.normal];
    case 'leave-one-out':
      return [p.anomalous];
    case 'multi-normal':
      return p.normal;
    case 'select':
      return [...p.normal, ...p.anomalous];
  }
}

function listClasses(found: string[]): string {
  const MAX = 40;
  const shown = found.slice(0, MAX).join(', ');
  return found.length > MAX ? `${shown}, … (${found.length} in all)` : shown;
}

/**
 * For each item (its class and the layout's anomalous flag), its role under the protocol; dropped
 * items say why. UserError when the protocol names a class that no item has (listing the classes
 * found), so a typo fails before any work starts.
 */
export function applyClassProtocol(items: readonly { cls: string; anomalous: boolean }[], p: ClassProtocol): ClassRole[] {
  const found = [...new Set(items.map((i) => i.cls))].sort();
  const have = new Set(found);
  const missing = namedClasses(p).filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw new UserError(
      `class protocol '${p.kind}' names ${missing.length === 1 ? 'a class' : 'classes'} not in the dataset: ${missing.map((c) => `'${c}'`).join(', ')}; classes found: ${found.length ? listClasses(found) : '(none)'}`,
      { hint: 'fix filter.classes in the study spec' },
    );
  }
  // Normal unless the class is anomalous under the protocol or the layout flags the item.
  const byClass = (isNormalClass: (c: string) => boolean) =>
    items.map((it): ClassRole => ({ role: isNormalClass(it.cls) && !it.anomalous ? 'normal' : 'anomalous' }));
  switch (p.kind) {
    case 'as-labelled':
      return byClass(() => true);
    case 'one-class':
      return byClass((c) => c === p.normal);
    case 'leave-one-out':
      return byClass((c) => c !== p.anomalous);
    case 'multi-normal': {
      const normal = new Set(p.normal);
      return byClass((c) => normal.has(c));
    }
    case 'select': {
      const normal = new Set(p.normal);
      const anomalous = new Set(p.anomalous);
      return items.map((it): ClassRole => {
        if (normal.has(it.cls)) return { role: it.anomalous ? 'anomalous' : 'normal' };
        if (anomalous.has(it.cls)) return { role: 'anomalous' };
        return { role: 'dropped', reason: `class '${it.cls}' is not selected` };
      });
    }
  }
}
