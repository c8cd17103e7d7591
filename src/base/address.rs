//! Addresses as they can be shown: a URL or connection string may carry a password, and is
//! shown in errors, logs and `/healthz`.

/// What a query or connection-string key holding a secret contains.
const SECRET_KEYS: [&str; 4] = ["pass", "secret", "token", "key"];

/// `url` with every credential replaced by `***`: the password of `scheme://user:password@`,
/// and the value of any `password=`-like parameter, in a query (`?password=...`) or in a
/// PostgreSQL key=value connection string (`host=db password='a b'`).
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (head, query) = match rest.find(['?', '#']) {
                Some(at) => rest.split_at(at),
                None => (rest, ""),
            };
            let head = match head.rsplit_once('@') {
                Some((user, host)) if user.contains(':') => {
                    let name = user.split(':').next().unwrap_or_default();
                    format!("{name}:***@{host}")
                }
                _ => head.to_owned(),
            };
            format!("{scheme}://{head}{}", redacted_query(query))
        }
        None => redacted_key_values(url),
    }
}

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

/// `?a=1&password=x#f` with the secret values replaced.
fn redacted_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for (n, part) in query.split('&').enumerate() {
        if n > 0 {
            out.push('&');
        }
        match part.split_once('=') {
            Some((key, _)) if is_secret(key) => {
                out.push_str(key);
                out.push_str("=***");
            }
            _ => out.push_str(part),
        }
    }
    out
}

/// `host=db password='a b' user=x` with the secret values replaced (quoted values included).
fn redacted_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        let key = before
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or_default();
        let value_len = value_length(after);
        if is_secret(key.trim()) {
            out.push_str("***");
        } else {
            out.push_str(&after[..value_len]);
        }
        rest = &after[value_len..];
    }
    out.push_str(rest);
    out
}

/// The length of a connection string's value at the start of `text`: to the next unescaped
/// quote when quoted, else to the next whitespace.
fn value_length(text: &str) -> usize {
    let mut chars = text.char_indices();
    if text.starts_with('\'') {
        chars.next();
        let mut escaped = false;
        for (at, c) in chars {
            match c {
                '\\' if !escaped => escaped = true,
                '\'' if !escaped => return at + 1,
                _ => escaped = false,
            }
        }
        return text.len();
    }
    text.find(char::is_whitespace).unwrap_or(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_wherever_the_url_puts_them() {
        for (url, shown) in [
            (
                "postgres://whoisit:s3cret@db.example:5432/roster",
                "postgres://whoisit:***@db.example:5432/roster",
            ),
            (
                "postgres://root@127.0.0.1/test",
                "postgres://root@127.0.0.1/test",
            ),
            (
                "postgres://root@127.0.0.1/test?password=s3cret&sslmode=disable",
                "postgres://root@127.0.0.1/test?password=***&sslmode=disable",
            ),
            (
                "redis://:s3cret@10.0.0.5:6379/2",
                "redis://:***@10.0.0.5:6379/2",
            ),
            ("redis://u:p@ss:w@rd@h:1", "redis://u:***@h:1"),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            (
                "host=db user=w password='s3 cr\\'et' dbname=r",
                "host=db user=w password=*** dbname=r",
            ),
            ("host=db password=s3cret", "host=db password=***"),
            (
                "mqtt://cam:s3cret@broker:1883",
                "mqtt://cam:***@broker:1883",
            ),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }
}
