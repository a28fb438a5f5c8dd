//! trajkit's own detectors, for what Gitleaks does not look for: personal data (emails, IP
//! addresses, home-directory user names) and credentials that need context rather than a token
//! format (passwords in URLs, secret environment assignments).
//!
//! Each rule trades recall for a low false-positive rate on coding-agent text, where version
//! numbers, Rust paths, timestamps and code constants abound; the exemptions are listed in
//! `docs/redact.md` and tested below.

use std::net::Ipv6Addr;

use regex::Regex;

use super::rules::{Detector, Finding, KindId, Priority};

/// Kind names of the rules here.
pub const EMAIL: &str = "email";
/// An IPv4 address.
pub const IPV4: &str = "ipv4";
/// An IPv6 address.
pub const IPV6: &str = "ipv6";
/// The password of `scheme://user:password@host`.
pub const URL_PASSWORD: &str = "url-password";
/// The value of `NAME=value` where NAME says it is a secret.
pub const ENV_SECRET: &str = "env-secret";
/// The user name of a home directory path.
pub const HOME_USER: &str = "home-user";

/// Top-level domains that are file extensions in practice (`icon@2x.png` is not an address).
const FILE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "mjs", "ts", "tsx", "jsx", "py", "rs",
    "go", "md", "txt", "json", "yaml", "yml", "toml", "css", "html", "lock", "whl", "gz", "zip",
    "tar", "so", "sh", "cfg", "ini", "rb", "java", "kt", "swift", "pdf",
];

/// Domains reserved for documentation and testing (RFC 2606, RFC 6761).
const RESERVED_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "example",
    "test",
    "invalid",
    "localhost",
];

/// Home-directory names that are default or placeholder accounts, not people.
const DEFAULT_ACCOUNTS: &[&str] = &[
    "user",
    "username",
    "yourname",
    "your-username",
    "your_username",
    "name",
    "me",
    "you",
    "runner",
    "ubuntu",
    "vscode",
    "node",
    "linuxbrew",
    "shared",
    "public",
    "default",
    "default user",
    "all users",
];

/// Values that stand for a secret rather than being one (`SECRET_KEY='secret'`).
const PLACEHOLDER_VALUES: &[&str] = &[
    "secret", "password", "passwd", "pass", "pwd", "token", "changeme", "dummy", "test", "testing",
    "fake", "example", "xxx", "foo", "bar", "redacted",
];

/// Words before a dotted quad that make it a version, not an address.
const VERSION_WORDS: &[&str] = &["version", "ver", "release", "rev", "revision", "build", "v"];

/// Name segments that make an upper-case assignment a secret.
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PASSPHRASE",
    "PWD",
    "SECRET",
    "TOKEN",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
];

/// Last name segments that say the value is about a secret, not the secret (`TOKEN_LIMIT`).
const NOT_SECRET_SUFFIXES: &[&str] = &[
    "PATH",
    "FILE",
    "DIR",
    "URL",
    "NAME",
    "ID",
    "LENGTH",
    "LEN",
    "SIZE",
    "TYPE",
    "LIMIT",
    "COUNT",
    "MAX",
    "MIN",
    "HEADER",
    "FIELD",
    "PREFIX",
    "ENV",
    "VAR",
    "KIND",
    "MODE",
    "TTL",
    "EXPIRY",
    "EXPIRES",
    "TIMEOUT",
    "FORMAT",
    "ALGORITHM",
    "ENDPOINT",
    "HOST",
    "PORT",
    "USER",
    "USERNAME",
];

/// `KEY` names that are not key material.
const NOT_SECRET_KEYS: &[&str] = &[
    "PRIMARY",
    "FOREIGN",
    "SORT",
    "PARTITION",
    "CACHE",
    "PUBLIC",
    "PUB",
    "HOT",
    "ROUTING",
    "GROUP",
    "HASH",
    "LOOKUP",
];

/// The compiled rules, with their kinds.
#[derive(Debug)]
pub struct ExtraRules {
    email: (Regex, KindId),
    ipv4: (Regex, KindId),
    ipv6: (Regex, KindId),
    url_password: (Regex, KindId),
    env_secret: (Regex, KindId),
    home_user: (Regex, KindId),
}

impl ExtraRules {
    /// Compiles the rules, appending their kinds to `kinds`.
    pub fn new(kinds: &mut Vec<String>) -> Result<ExtraRules, regex::Error> {
        let mut rule = |name: &str, pattern: &str| -> Result<(Regex, KindId), regex::Error> {
            let kind = KindId::try_from(kinds.len()).unwrap_or(KindId::MAX);
            kinds.push(name.to_owned());
            Ok((Regex::new(pattern)?, kind))
        };
        Ok(ExtraRules {
            email: rule(
                EMAIL,
                r"(?i)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b",
            )?,
            ipv4: rule(
                IPV4,
                r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b",
            )?,
            ipv6: rule(IPV6, r"[0-9A-Fa-f:][0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")?,
            url_password: rule(
                URL_PASSWORD,
                r#"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/?#@'"<>\[\]]+:([^\s/?#@'"<>]+)@"#,
            )?,
            env_secret: rule(
                ENV_SECRET,
                r#"\b([A-Z][A-Z0-9_]*)[ \t]*=[ \t]*(?:"([^"\n]*)"|'([^'\n]*)'|([^\s"'`;&|()<>=]+))"#,
            )?,
            home_user: rule(
                HOME_USER,
                r"(?:/home/|/Users/|\b[A-Za-z]:(?:\\\\|\\)Users(?:\\\\|\\))([\p{L}\p{N}._-]+)",
            )?,
        })
    }
}

fn push(out: &mut Vec<Finding>, start: usize, end: usize, kind: KindId) {
    out.push(Finding {
        start,
        end,
        kind,
        priority: Priority::Extra,
    });
}

fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn char_after(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// Appends the findings of every rule here.
pub fn find(rules: &ExtraRules, detector: &Detector, text: &str, out: &mut Vec<Finding>) {
    if text.contains('@') {
        find_emails(rules, text, out);
        find_url_passwords(rules, detector, text, out);
    }
    if text.contains('.') {
        find_ipv4(rules, text, out);
    }
    if text.contains("::") || text.matches(':').nth(3).is_some() {
        find_ipv6(rules, text, out);
    }
    if text.contains('=') {
        find_env_secrets(rules, detector, text, out);
    }
    if text.contains("/home/") || text.contains("/Users/") || text.contains("Users\\") {
        find_home_users(rules, text, out);
    }
}

fn find_emails(rules: &ExtraRules, text: &str, out: &mut Vec<Finding>) {
    let (regex, kind) = &rules.email;
    for found in regex.find_iter(text) {
        let address = found.as_str();
        let Some((local, domain)) = address.split_once('@') else {
            continue;
        };
        let domain = domain.to_ascii_lowercase();
        let top = domain.rsplit('.').next().unwrap_or_default();
        let reserved = RESERVED_DOMAINS
            .iter()
            .any(|reserved| domain == *reserved || domain.ends_with(&format!(".{reserved}")));
        // `git@github.com:owner/repo` is an SSH remote, not a person.
        let ssh_remote = local == "git";
        // `scheme://user:password@host`: the URL rule owns the password, the host is no address.
        let before = &text[..found.start()];
        let url_credentials = before.ends_with(':')
            && before
                .rsplit(char::is_whitespace)
                .next()
                .is_some_and(|token| token.contains("://"));
        if reserved || ssh_remote || url_credentials || FILE_EXTENSIONS.contains(&top) {
            continue;
        }
        push(out, found.start(), found.end(), *kind);
    }
}

fn find_url_passwords(rules: &ExtraRules, detector: &Detector, text: &str, out: &mut Vec<Finding>) {
    let (regex, kind) = &rules.url_password;
    for captures in regex.captures_iter(text) {
        let Some(password) = captures.get(1) else {
            continue;
        };
        let value = password.as_str();
        let lower = value.to_ascii_lowercase();
        let placeholder = PLACEHOLDER_VALUES.contains(&lower.as_str())
            || value.starts_with('$')
            || value.starts_with('%')
            || value.starts_with('{');
        if placeholder || detector.globally_allowed(value) {
            continue;
        }
        push(out, password.start(), password.end(), *kind);
    }
}

fn find_ipv4(rules: &ExtraRules, text: &str, out: &mut Vec<Finding>) {
    let (regex, kind) = &rules.ipv4;
    for found in regex.find_iter(text) {
        let address = found.as_str();
        // Loopback, unspecified, netmasks and the documentation ranges (RFC 5737) identify
        // nobody; four single digits (`1.2.3.4`, `2.0.0.3`) are versions, or resolvers such as
        // 8.8.8.8, far more often than someone's address.
        let special = address.starts_with("127.")
            || address.starts_with("255.")
            || address.starts_with("0.")
            || address.starts_with("192.0.2.")
            || address.starts_with("198.51.100.")
            || address.starts_with("203.0.113.")
            || address.split('.').all(|octet| octet.len() == 1);
        // A fifth component, a version operator or a package-name dash before: a version.
        let before = char_before(text, found.start());
        let after = &text[found.end()..];
        let versioned = matches!(
            before,
            Some('.' | '=' | '<' | '>' | '~' | '^' | '-' | '_' | '+')
        ) || (after.starts_with('.')
            && after[1..].starts_with(|c: char| c.is_ascii_digit()))
            || after.starts_with(['-', '+'])
                && after[1..].starts_with(|c: char| c.is_ascii_alphanumeric())
            || preceded_by_version_word(&text[..found.start()]);
        if special || versioned {
            continue;
        }
        push(out, found.start(), found.end(), *kind);
    }
}

fn preceded_by_version_word(before: &str) -> bool {
    let tail: String = before
        .chars()
        .rev()
        .take(24)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .to_ascii_lowercase();
    let trimmed = tail.trim_end_matches([' ', '\t', ':', '=', '"', '\'', '(']);
    VERSION_WORDS.iter().any(|word| {
        trimmed.ends_with(word)
            && !trimmed[..trimmed.len() - word.len()].ends_with(|c: char| c.is_ascii_alphanumeric())
    })
}

fn find_ipv6(rules: &ExtraRules, text: &str, out: &mut Vec<Finding>) {
    let (regex, kind) = &rules.ipv6;
    for found in regex.find_iter(text) {
        let candidate = found.as_str().trim_end_matches('.');
        let start = found.start();
        let end = start + candidate.len();
        let bounded = !char_before(text, start).is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !char_after(text, end).is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !bounded {
            continue;
        }
        let Ok(address) = candidate.parse::<Ipv6Addr>() else {
            continue;
        };
        let groups = candidate
            .split([':', '.'])
            .filter(|group| !group.is_empty())
            .count();
        // 2001:db8::/32 is the documentation prefix (RFC 3849).
        let documentation = address.segments()[..2] == [0x2001, 0x0db8];
        if address.is_loopback() || address.is_unspecified() || documentation || groups < 3 {
            continue;
        }
        push(out, start, end, *kind);
    }
}

fn find_env_secrets(rules: &ExtraRules, detector: &Detector, text: &str, out: &mut Vec<Finding>) {
    let (regex, kind) = &rules.env_secret;
    for captures in regex.captures_iter(text) {
        let (Some(name), Some(value)) = (
            captures.get(1),
            captures
                .get(2)
                .or_else(|| captures.get(3))
                .or_else(|| captures.get(4)),
        ) else {
            continue;
        };
        if !secret_name(name.as_str()) || !secret_value(detector, value.as_str()) {
            continue;
        }
        push(out, value.start(), value.end(), *kind);
    }
}

fn secret_name(name: &str) -> bool {
    if name == "PWD" || name == "OLDPWD" {
        return false;
    }
    let segments: Vec<&str> = name.split('_').filter(|s| !s.is_empty()).collect();
    let Some(last) = segments.last() else {
        return false;
    };
    if NOT_SECRET_SUFFIXES.contains(last) {
        return false;
    }
    let has_secret_word = segments.iter().any(|s| SECRET_WORDS.contains(s));
    let key_material = segments.len() > 1
        && segments.contains(&"KEY")
        && !segments.iter().any(|s| NOT_SECRET_KEYS.contains(s));
    has_secret_word || key_material
}

fn secret_value(detector: &Detector, value: &str) -> bool {
    let code_like = |value: &str| {
        // Another constant, or a dotted name (`settings.SECRET_KEY`, `os.environ`).
        value
            .split('.')
            .all(|part| part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
            && value.contains('.')
            || value
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    !(value.is_empty()
        || value.chars().all(|c| c.is_ascii_digit())
        || value.starts_with(['$', '%', '{', '<', '(', '['])
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "none" | "null" | "nil" | "true" | "false" | "undefined"
        )
        || PLACEHOLDER_VALUES.contains(&value.to_ascii_lowercase().as_str())
        || code_like(value)
        || detector.globally_allowed(value))
}

fn find_home_users(rules: &ExtraRules, text: &str, out: &mut Vec<Finding>) {
    let (regex, kind) = &rules.home_user;
    for captures in regex.captures_iter(text) {
        let Some(name) = captures.get(1) else {
            continue;
        };
        let value = name.as_str();
        let lower = value.to_lowercase();
        if !value.chars().any(char::is_alphanumeric) || DEFAULT_ACCOUNTS.contains(&lower.as_str()) {
            continue;
        }
        push(out, name.start(), name.end(), *kind);
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::Detector;

    fn found(text: &str) -> Vec<(String, String)> {
        let detector = Detector::new().expect("rules");
        detector
            .find(text)
            .into_iter()
            .map(|finding| {
                (
                    detector.kinds()[usize::from(finding.kind)].clone(),
                    text[finding.start..finding.end].to_owned(),
                )
            })
            .collect()
    }

    fn pair(kind: &str, value: &str) -> (String, String) {
        (kind.to_owned(), value.to_owned())
    }

    #[test]
    fn emails_but_not_file_names_ssh_remotes_or_documentation_domains() {
        assert_eq!(
            found("Author: Jane Roe <jane.roe@corp-mail.io>"),
            vec![pair("email", "jane.roe@corp-mail.io")]
        );
        assert!(found("icon@2x.png git@github.com:a/b.git user@example.com").is_empty());
    }

    #[test]
    fn ipv4_addresses_but_not_versions() {
        assert_eq!(
            found("ssh 34.201.17.88 -p 22"),
            vec![pair("ipv4", "34.201.17.88")]
        );
        for text in [
            "numpy==1.21.0.1",
            "version 1.2.3.4",
            "Version: 10.0.19041.1",
            "pkg-1.2.3.4.tar.gz",
            "1.2.3.4.5",
            "v1.2.3.4",
            "127.0.0.1 and 0.0.0.0 and 255.255.255.0",
            "pyerfa 2.0.0.3",
            "docs use 203.0.113.7 and 2001:db8::1:2",
            "999.1.1.1",
            "1.2.3.4-beta",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn ipv6_addresses_but_not_paths_or_times() {
        assert_eq!(
            found("listening on [2a01:4f8:c17:85a3::8a2e:370:7334]:443"),
            vec![pair("ipv6", "2a01:4f8:c17:85a3::8a2e:370:7334")]
        );
        for text in [
            "std::vec::Vec",
            "at 12:34:56",
            "::1",
            "a::b",
            "aa:bb:cc:dd:ee:ff",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn url_passwords() {
        assert_eq!(
            found("postgres://admin:s3cr3t-Pw@db.internal:5432/app"),
            vec![pair("url-password", "s3cr3t-Pw")]
        );
        assert!(found("https://user:${PASSWORD}@host/ and https://u:password@h").is_empty());
    }

    #[test]
    fn secret_assignments_but_not_counts_paths_or_references() {
        assert_eq!(
            found("export DB_PASSWORD=\"hunter2!x\" MY_API_KEY=abc123def"),
            vec![
                pair("env-secret", "hunter2!x"),
                pair("env-secret", "abc123def")
            ]
        );
        for text in [
            "MAX_TOKENS=4096",
            "TOKEN_LIMIT=100",
            "PWD=/testbed",
            "SECRET_KEY=$SECRET_KEY",
            "API_TOKEN=${TOKEN}",
            "SECRET_KEY = settings.SECRET_KEY",
            "TOKENIZERS_PARALLELISM=false",
            "PRIMARY_KEY=id",
            "if TOKEN == x",
            "SECRET_KEY='secret'",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn home_directory_user_names() {
        assert_eq!(
            found(r"cd /home/alice/src && ls /Users/bob.smith/x C:\Users\Carol\AppData"),
            vec![
                pair("home-user", "alice"),
                pair("home-user", "bob.smith"),
                pair("home-user", "Carol")
            ]
        );
        assert!(found("/home/user/x /home/runner/work /Users/Shared/y /home/$USER").is_empty());
    }
}
