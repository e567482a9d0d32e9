/**
 * Money for people: integer minor units shown in major units with the currency's own number of decimals
 * (USD 2, JPY 0, BHD 3, as Intl knows them), then the ISO code: 1500 USD → "15.00 USD", 1234567 JPY →
 * "1,234,567 JPY". The decimal is built as a string, so amounts up to 2^53 never go through a float.
 */
export function formatMoney(minorUnits: number | bigint, currency: string): string {
  const digits = currencyDigits(currency);
  const value = BigInt(minorUnits);
  const negative = value < 0n;
  const abs = (negative ? -value : value).toString().padStart(digits + 1, "0");
  const major = abs.slice(0, abs.length - digits);
  const minor = digits > 0 ? `.${abs.slice(abs.length - digits)}` : "";
  const decimal = `${negative ? "-" : ""}${major}${minor}` as `${number}`;
  return `${numberFormat(digits).format(decimal)} ${currency}`;
}

const digitsCache = new Map<string, number>();
const formatCache = new Map<number, Intl.NumberFormat>();

/** The currency's minor-unit decimals; 2 for a code Intl does not know. */
export function currencyDigits(currency: string): number {
  let digits = digitsCache.get(currency);
  if (digits === undefined) {
    try {
      digits =
        new Intl.NumberFormat("en-US", { style: "currency", currency }).resolvedOptions()
          .maximumFractionDigits ?? 2;
    } catch {
      digits = 2;
    }
    digitsCache.set(currency, digits);
  }
  return digits;
}

function numberFormat(digits: number): Intl.NumberFormat {
  let nf = formatCache.get(digits);
  if (!nf) {
    nf = new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    formatCache.set(digits, nf);
  }
  return nf;
}
