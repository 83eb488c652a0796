//! Currencies: the compiled list of current ISO 4217 codes and the symbols a price may carry.

/// Current ISO 4217 alphabetic codes (funds and precious metals included; `XTS`/`XXX`, the
/// testing and "no currency" codes, left out), sorted for binary search.
const ISO4217: &[&[u8; 3]] = &[
    b"AED", b"AFN", b"ALL", b"AMD", b"ANG", b"AOA", b"ARS", b"AUD", b"AWG", b"AZN", b"BAM", b"BBD", b"BDT", b"BGN",
    b"BHD", b"BIF", b"BMD", b"BND", b"BOB", b"BOV", b"BRL", b"BSD", b"BTN", b"BWP", b"BYN", b"BZD", b"CAD", b"CDF",
    b"CHE", b"CHF", b"CHW", b"CLF", b"CLP", b"CNY", b"COP", b"COU", b"CRC", b"CUP", b"CVE", b"CZK", b"DJF", b"DKK",
    b"DOP", b"DZD", b"EGP", b"ERN", b"ETB", b"EUR", b"FJD", b"FKP", b"GBP", b"GEL", b"GHS", b"GIP", b"GMD", b"GNF",
    b"GTQ", b"GYD", b"HKD", b"HNL", b"HTG", b"HUF", b"IDR", b"ILS", b"INR", b"IQD", b"IRR", b"ISK", b"JMD", b"JOD",
    b"JPY", b"KES", b"KGS", b"KHR", b"KMF", b"KPW", b"KRW", b"KWD", b"KYD", b"KZT", b"LAK", b"LBP", b"LKR", b"LRD",
    b"LSL", b"LYD", b"MAD", b"MDL", b"MGA", b"MKD", b"MMK", b"MNT", b"MOP", b"MRU", b"MUR", b"MVR", b"MWK", b"MXN",
    b"MXV", b"MYR", b"MZN", b"NAD", b"NGN", b"NIO", b"NOK", b"NPR", b"NZD", b"OMR", b"PAB", b"PEN", b"PGK", b"PHP",
    b"PKR", b"PLN", b"PYG", b"QAR", b"RON", b"RSD", b"RUB", b"RWF", b"SAR", b"SBD", b"SCR", b"SDG", b"SEK", b"SGD",
    b"SHP", b"SLE", b"SLL", b"SOS", b"SRD", b"SSP", b"STN", b"SVC", b"SYP", b"SZL", b"THB", b"TJS", b"TMT", b"TND",
    b"TOP", b"TRY", b"TTD", b"TWD", b"TZS", b"UAH", b"UGX", b"USD", b"USN", b"UYI", b"UYU", b"UYW", b"UZS", b"VED",
    b"VES", b"VND", b"VUV", b"WST", b"XAF", b"XAG", b"XAU", b"XBA", b"XBB", b"XBC", b"XBD", b"XCD", b"XCG", b"XDR",
    b"XOF", b"XPD", b"XPF", b"XPT", b"XSU", b"XUA", b"YER", b"ZAR", b"ZMW", b"ZWG", b"ZWL",
];

/// Currency symbols dropped from prices (UTF-8).
const SYMBOLS: &[&str] =
    &["€", "$", "£", "¥", "₹", "₽", "₩", "₺", "₪", "₫", "₴", "₦", "₱", "₣", "US$", "kr", "zł", "Kč", "Fr."];

/// The upper-cased code when `value` (already trimmed) is a current ISO 4217 code.
pub fn iso4217(value: &[u8]) -> Option<[u8; 3]> {
    let code: [u8; 3] = value.try_into().ok()?;
    let up = code.map(|b| b.to_ascii_uppercase());
    ISO4217.binary_search(&&up).ok().map(|_| up)
}

/// Strips one currency symbol or ISO code written before or after an amount (with or without
/// a space in between). Returns the amount, untouched when there is no currency.
pub fn strip_currency(s: &[u8]) -> &[u8] {
    if let Some(rest) = strip_prefix_currency(s) {
        return trim_spaces(rest);
    }
    if let Some(rest) = strip_suffix_currency(s) {
        return trim_spaces(rest);
    }
    s
}

fn strip_prefix_currency(s: &[u8]) -> Option<&[u8]> {
    for sym in SYMBOLS {
        if let Some(rest) = s.strip_prefix(sym.as_bytes()) {
            return Some(rest);
        }
    }
    if s.len() > 3 && !s[3].is_ascii_alphabetic() && iso4217(&s[..3]).is_some() {
        return Some(&s[3..]);
    }
    None
}

fn strip_suffix_currency(s: &[u8]) -> Option<&[u8]> {
    for sym in SYMBOLS {
        if let Some(rest) = s.strip_suffix(sym.as_bytes()) {
            return Some(rest);
        }
    }
    let n = s.len();
    if n > 3 && !s[n - 4].is_ascii_alphabetic() && iso4217(&s[n - 3..]).is_some() {
        return Some(&s[..n - 3]);
    }
    None
}

/// Trims ASCII whitespace and the no-break spaces (U+00A0, U+202F) used between amount and symbol.
pub fn trim_spaces(mut s: &[u8]) -> &[u8] {
    loop {
        let before = s.len();
        s = s.trim_ascii();
        for nb in [&b"\xC2\xA0"[..], &b"\xE2\x80\xAF"[..]] {
            if let Some(r) = s.strip_prefix(nb) {
                s = r;
            }
            if let Some(r) = s.strip_suffix(nb) {
                s = r;
            }
        }
        if s.len() == before {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_list_is_sorted_so_binary_search_works() {
        assert!(ISO4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn currency_codes_are_case_insensitive_and_upper_cased() {
        assert_eq!(iso4217(b"eur"), Some(*b"EUR"));
        assert_eq!(iso4217(b"Chf"), Some(*b"CHF"));
        assert_eq!(iso4217(b"XYZ"), None);
        assert_eq!(iso4217(b"EURO"), None);
        assert_eq!(iso4217(b"E1R"), None);
    }

    #[test]
    fn one_currency_before_or_after_is_stripped() {
        assert_eq!(strip_currency("€3.49".as_bytes()), b"3.49");
        assert_eq!(strip_currency("3,49 €".as_bytes()), b"3,49");
        assert_eq!(strip_currency(b"EUR 3.49"), b"3.49");
        assert_eq!(strip_currency(b"3.49usd"), b"3.49");
        assert_eq!(strip_currency("3,49\u{a0}€".as_bytes()), b"3,49");
        assert_eq!(strip_currency(b"3.49"), b"3.49");
        assert_eq!(strip_currency("€3.49 EUR".as_bytes()), b"3.49 EUR");
    }
}
