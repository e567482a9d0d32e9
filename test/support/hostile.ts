import { createHmac, randomUUID } from "node:crypto";

/**
 * Hostile values for the bad-input catalogue (test/integration/bad-input-catalogue.test.ts). Strings that
 * JSON.stringify cannot carry as they are (lone surrogates) are given as raw JSON text.
 */

/** A value put into a JSON body: `json` goes through JSON.stringify, `raw` is spliced into the text as is. */
export type BodyValue = { readonly json: unknown } | { readonly raw: string };

export const SQL_STRINGS: readonly [string, string][] = [
  ["a tautology", "' OR 1=1 --"],
  ["a stacked DROP TABLE", "'; DROP TABLE wallets; --"],
  ["a UNION SELECT", "x' UNION SELECT password_hash FROM users --"],
];

/** Text that no field may hold: PostgreSQL refuses NUL in text, and lone surrogates are not Unicode text. */
export const INVALID_TEXT: readonly [string, BodyValue][] = [
  ["a NUL byte", { json: "ab\u0000cd" }],
  ["a lone high surrogate", { raw: '"ab\\ud800cd"' }],
  ["a lone low surrogate", { raw: '"ab\\udc00cd"' }],
  ["a reversed surrogate pair", { raw: '"\\udc00\\ud800"' }],
];

/** Legal Unicode that a free-text field may hold, but an email, id or code may not. */
export const ODD_UNICODE: readonly [string, string][] = [
  ["an RTL override", "ada\u202Egpj.exe"],
  ["a zero-width space", "ada\u200B"],
  ["an emoji", "ada😀"],
  ["a combining sequence", "a\u0301\u0301\u0301"],
];

/** Amounts README promises to refuse with invalid_amount, as raw JSON text. */
export const BAD_AMOUNTS: readonly [string, string][] = [
  ["0", "0"],
  ["-1", "-1"],
  ["-0", "-0"],
  ["1.5", "1.5"],
  ["1.0", "1.0"],
  ['"100" (a string)', '"100"'],
  ["1e3", "1e3"],
  ["1E3", "1E3"],
  ["2^53", "9007199254740992"],
  ["2^53 + 1", "9007199254740993"],
  ["2^63", "9223372036854775808"],
  ["2^64 + 1", "18446744073709551617"],
  ["null", "null"],
  ["true", "true"],
  ["an array", "[5]"],
  ["an object", '{"value": 5}'],
];

/** Not JSON at all: each must be `malformed_json`. */
export const MALFORMED_JSON: readonly [string, string][] = [
  ["a truncated object", '{"a": '],
  ["single quotes", "{'a': 1}"],
  ["a trailing comma", '{"a": 1,}'],
  ["an unquoted key", "{a: 1}"],
  ["a NaN literal", '{"a": NaN}'],
  ["a comment", '// hi\n{"a": 1}'],
  ["a bare string", '"just a string"'],
  ["a bare number", "42"],
  ["a bare null", "null"],
];

export interface TokenKit {
  readonly secret: string;
  readonly issuer: string;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const seconds = () => Math.floor(Date.now() / 1000);

/** A JWT signed with HMAC (HS256 unless told), built by hand so that broken variants are easy to make. */
export function jwt(
  claims: Record<string, unknown>,
  secret: string,
  alg: "HS256" | "HS512" = "HS256",
): string {
  const input = `${b64({ alg, typ: "JWT" })}.${b64(claims)}`;
  const mac = createHmac(alg === "HS256" ? "sha256" : "sha512", secret)
    .update(input)
    .digest("base64url");
  return `${input}.${mac}`;
}

/** A correctly signed token of `sub`: for a user who does not exist, the API has only the signature to go by. */
export const tokenFor = (kit: TokenKit, sub: string): string =>
  jwt({ sub, iss: kit.issuer, iat: seconds(), exp: seconds() + 600 }, kit.secret);

/**
 * Authorization header values the API must answer 401 to, each made from the kit and one valid token of a real
 * user (to tamper with). `null` means no header at all.
 */
export const BAD_AUTHORIZATIONS: readonly [string, (kit: TokenKit, valid: string) => string | null][] = [
  ["no Authorization header", () => null],
  ["an empty Bearer", () => "Bearer "],
  ["Basic credentials", () => `Basic ${Buffer.from("ada:password").toString("base64")}`],
  ["the token without the Bearer scheme", (_, valid) => valid],
  ["garbage", () => "Bearer not.a.jwt"],
  ["a tampered signature", (_, valid) => `Bearer ${valid.slice(0, -6)}AAAAAA`],
  [
    "another user's claims under this signature",
    (kit, valid) => {
      const [header, , signature] = valid.split(".");
      const claims = { sub: randomUUID(), iss: kit.issuer, exp: seconds() + 600 };
      return `Bearer ${header}.${b64(claims)}.${signature}`;
    },
  ],
  [
    "an expired token",
    (kit) => `Bearer ${jwt(claims(kit, { iat: seconds() - 7200, exp: seconds() - 60 }), kit.secret)}`,
  ],
  [
    "a token not valid yet (nbf)",
    (kit) => `Bearer ${jwt(claims(kit, { nbf: seconds() + 3600 }), kit.secret)}`,
  ],
  ["a token signed with another key", (kit) => `Bearer ${jwt(claims(kit), "another-secret-".repeat(4))}`],
  ["an alg:none token", (kit) => `Bearer ${b64({ alg: "none", typ: "JWT" })}.${b64(claims(kit))}.`],
  [
    "an alg:none token carrying a valid signature",
    (kit, valid) => `Bearer ${b64({ alg: "none" })}.${b64(claims(kit))}.${valid.split(".")[2]}`,
  ],
  ["an HS512 token (right key, wrong algorithm)", (kit) => `Bearer ${jwt(claims(kit), kit.secret, "HS512")}`],
  ["a token of another issuer", (kit) => `Bearer ${jwt(claims(kit, { iss: "evil" }), kit.secret)}`],
  ["a token without expiry", (kit) => `Bearer ${jwt(claims(kit, { exp: undefined }), kit.secret)}`],
  ["a token without subject", (kit) => `Bearer ${jwt(claims(kit, { sub: undefined }), kit.secret)}`],
  ["a signed token whose subject is SQL", (kit) => `Bearer ${tokenFor(kit, "' OR 1=1 --")}`],
  ["a signed token whose subject is not a UUID", (kit) => `Bearer ${tokenFor(kit, "admin")}`],
  ["an 8 KB token", () => `Bearer ${"a".repeat(4000)}.${"b".repeat(4000)}.c`],
];

function claims(kit: TokenKit, over: Record<string, unknown> = {}): Record<string, unknown> {
  const c: Record<string, unknown> = {
    sub: randomUUID(),
    iss: kit.issuer,
    iat: seconds(),
    exp: seconds() + 600,
    ...over,
  };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}
