/**
 * The positional parameters of one statement being composed from parts: `params.add(value, "uuid")` appends
 * the value and returns its placeholder (`$3::uuid`). Lets several modules contribute clauses (a CTE each) to
 * one statement, so a money movement is one round trip instead of one per table.
 */
export class Params {
  readonly values: unknown[] = [];

  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }

  /** `(a, b, c), (d, e, f)`: one parenthesised tuple per row. */
  rows<R>(items: readonly R[], tuple: (item: R) => readonly string[]): string {
    return items.map((item) => `(${tuple(item).join(", ")})`).join(", ");
  }
}
