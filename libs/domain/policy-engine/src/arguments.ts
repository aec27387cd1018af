/**
 * The few facts about a tool call's arguments that policies may condition on. Arguments are
 * whatever a model proposed, so nothing is passed through as it is: each attribute is derived by
 * a strict rule, and one that cannot be derived is left out (never guessed). Policies must
 * therefore test presence (`context has amount && …`; the strict validator insists on it) and
 * should permit on a present, acceptable value rather than forbid on a bad one.
 */
export interface ProjectedArguments {
  /** Whole units, rounded up (5000.01 → 5001), from a finite number or a plain decimal string. */
  amount?: number;
  /** Three letters, upper-cased. */
  currency?: string;
  /** From `accountId`, else `account`. */
  accountId?: string;
  /** From `recipient`, else `to`, else `email`: one address (a one-element list counts as one). */
  recipient?: string;
  /** The lower-cased domain of `recipient`, when it is an e-mail address. */
  recipientDomain?: string;
}

/** Longest string projected; longer values are left out rather than truncated into something else. */
const MAX_TEXT = 320;
const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;
const ADDRESS = /^[^\s@<>]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)\.?$/;

/** Whole units rounded up, or undefined when the value is not a plain number within ±2^53. */
export function projectAmount(value: unknown): number | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    const whole = Math.ceil(value);
    return Number.isSafeInteger(whole) ? whole + 0 : undefined; // + 0 turns -0 into 0
  }
  if (typeof value !== 'string') return undefined;
  const match = DECIMAL.exec(value.trim());
  if (!match) return undefined;
  const [, sign, digits, fraction] = match;
  // Rounded on the digits, not on a float: "5000.0000000000000001" must become 5001, not 5000.
  let whole = BigInt(digits);
  if (sign === '-') whole = -whole;
  else if (fraction !== undefined && /[1-9]/.test(fraction)) whole += 1n;
  if (whole > BigInt(Number.MAX_SAFE_INTEGER) || whole < -BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(whole) + 0;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed.length > 0 && trimmed.length <= MAX_TEXT ? trimmed : undefined;
}

function single(value: unknown): unknown {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

function first(args: Record<string, unknown>, keys: readonly string[]): unknown {
  for (const key of keys) if (args[key] !== undefined && args[key] !== null) return args[key];
  return undefined;
}

/** Derives the policy-visible attributes of a tool call's arguments (see `ProjectedArguments`). */
export function projectArguments(args: Record<string, unknown>): ProjectedArguments {
  const projected: ProjectedArguments = {};
  if (typeof args !== 'object' || args === null) return projected;
  const amount = projectAmount(args['amount']);
  if (amount !== undefined) projected.amount = amount;
  const currency = typeof args['currency'] === 'string' ? args['currency'].trim() : '';
  if (/^[A-Za-z]{3}$/.test(currency)) projected.currency = currency.toUpperCase();
  const accountId = text(first(args, ['accountId', 'account']));
  if (accountId !== undefined) projected.accountId = accountId;
  const rawRecipient = single(first(args, ['recipient', 'to', 'email']));
  const recipient = typeof rawRecipient === 'string' ? text(rawRecipient) : undefined;
  if (recipient !== undefined) {
    // "Name <someone@example.com>" names the address in angle brackets.
    const address = /<([^<>]*)>$/.exec(recipient)?.[1]?.trim() ?? recipient;
    projected.recipient = address;
    const domain = ADDRESS.exec(address)?.[1];
    if (domain !== undefined) projected.recipientDomain = domain.toLowerCase();
  }
  return projected;
}
