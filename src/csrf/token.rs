//! Django-compatible CSRF tokens (`django/middleware/csrf.py`): the 62-char
//! alphabet, 32-char secrets, 64-char masked tokens (mask + cipher), the
//! format check (length first, then characters), and the constant-time
//! match of a submitted token against the cookie's secret.

use rand::Rng;
use subtle::ConstantTimeEq;

/// `string.ascii_letters + string.digits`, in that order: a char's index
/// here is its value in the mask arithmetic.
pub const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const SECRET_LENGTH: usize = 32;
pub const TOKEN_LENGTH: usize = 2 * SECRET_LENGTH;

/// Why a cookie or submitted token is malformed: Django's phrases, without a
/// subject, because they apply to either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    IncorrectLength,
    InvalidCharacters,
}

impl FormatError {
    pub fn phrase(self) -> &'static str {
        match self {
            FormatError::IncorrectLength => "has incorrect length",
            FormatError::InvalidCharacters => "has invalid characters",
        }
    }
}

/// An unmasked 32-char CSRF secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LENGTH]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Each byte's position in `ALPHABET` (0 for bytes outside it), computed
/// at compile time so unmasking does no searching.
const INDEX: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

fn index(c: u8) -> usize {
    // Callers have passed `check_format`, so every char is in the alphabet.
    INDEX[c as usize] as usize
}

fn random_string() -> [u8; SECRET_LENGTH] {
    let mut rng = rand::rng();
    let mut out = [0u8; SECRET_LENGTH];
    for byte in &mut out {
        *byte = ALPHABET[rng.random_range(0..ALPHABET.len())];
    }
    out
}

/// Django's `_check_token_format`: length 32 or 64, then only alphabet chars.
/// Length counts characters, as Python's `len` does; pass header values
/// Latin-1 decoded (see `latin1`), as WSGI hands them to Django.
pub fn check_format(token: &str) -> Result<(), FormatError> {
    let length = if token.is_ascii() {
        token.len()
    } else {
        token.chars().count()
    };
    if length != SECRET_LENGTH && length != TOKEN_LENGTH {
        return Err(FormatError::IncorrectLength);
    }
    if !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FormatError::InvalidCharacters);
    }
    Ok(())
}

impl Secret {
    /// A fresh secret from the thread-local CSPRNG (`_get_new_csrf_string`).
    pub fn generate() -> Secret {
        Secret(random_string())
    }

    /// The secret a well-formed cookie or token stands for: a 32-char value
    /// is the secret itself, a 64-char one is unmasked first (cookies from
    /// Django < 4.1, and masked tokens). Checks the format first.
    pub fn from_token(token: &str) -> Result<Secret, FormatError> {
        check_format(token)?;
        let bytes = token.as_bytes();
        if bytes.len() == SECRET_LENGTH {
            let mut secret = [0u8; SECRET_LENGTH];
            secret.copy_from_slice(bytes);
            return Ok(Secret(secret));
        }
        Ok(unmask(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Invariant: only alphabet (ASCII) bytes are ever stored.
        std::str::from_utf8(&self.0).expect("CSRF secrets are ASCII")
    }

    /// A masked token for this secret with a fresh random mask, as Django's
    /// `get_token()` hands out (`_mask_cipher_secret`).
    pub fn mask(&self) -> String {
        self.mask_with(&random_string())
    }

    /// The masked token for this secret with a given mask (32 alphabet
    /// chars); `None` when the mask is malformed. `mask()` picks a random one.
    pub fn mask_with_str(&self, mask: &str) -> Option<String> {
        let mask: [u8; SECRET_LENGTH] = mask.as_bytes().try_into().ok()?;
        mask.iter()
            .all(|b| ALPHABET.contains(b))
            .then(|| self.mask_with(&mask))
    }

    fn mask_with(&self, mask: &[u8; SECRET_LENGTH]) -> String {
        let mut token = String::with_capacity(TOKEN_LENGTH);
        token.push_str(std::str::from_utf8(mask).unwrap_or_default());
        for (s, m) in self.0.iter().zip(mask) {
            token.push(ALPHABET[(index(*s) + index(*m)) % ALPHABET.len()] as char);
        }
        token
    }

    /// Django's `_does_token_match`: the submitted token (already
    /// format-checked; 32 or 64 chars) against this secret, in constant time.
    pub fn matches(&self, submitted: &str) -> bool {
        match Secret::from_token(submitted) {
            Ok(other) => bool::from(self.0.ct_eq(&other.0)),
            Err(_) => false,
        }
    }
}

/// `_unmask_cipher_token`: `secret[i] = alphabet[(cipher[i] - mask[i]) mod 62]`.
fn unmask(token: &[u8]) -> Secret {
    let (mask, cipher) = token.split_at(SECRET_LENGTH);
    let mut secret = [0u8; SECRET_LENGTH];
    for (out, (c, m)) in secret.iter_mut().zip(cipher.iter().zip(mask)) {
        let n = ALPHABET.len();
        *out = ALPHABET[(index(*c) + n - index(*m)) % n];
    }
    Secret(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_then_unmask_is_the_identity() {
        for _ in 0..100 {
            let secret = Secret::generate();
            let token = secret.mask();
            assert_eq!(token.len(), TOKEN_LENGTH);
            assert_eq!(Secret::from_token(&token), Ok(secret));
            assert!(secret.matches(&token));
            assert!(secret.matches(secret.as_str()));
        }
    }

    #[test]
    fn known_mask_gives_djangos_cipher() {
        // First vector of shared/fixtures/django_csrf_vectors.json.
        let secret = Secret::from_token("lcccccccX2kcccccccY2jcccccccssIC").unwrap();
        let mask: [u8; 32] = *b"LatvRJ5tPTNfJUVSwDrPV5nAd391sRJv";
        assert_eq!(
            secret.mask_with(&mask),
            "LatvRJ5tPTNfJUVSwDrPV5nAd391sRJvWcvxTL7vCLXhLWXUyFfH47pCf5b3K9hX"
        );
    }

    #[test]
    fn format_checks_length_before_characters() {
        assert_eq!(check_format("!!!"), Err(FormatError::IncorrectLength));
        assert_eq!(
            check_format(&"!".repeat(32)),
            Err(FormatError::InvalidCharacters)
        );
        // Python counts characters, not bytes.
        assert_eq!(
            check_format(&"é".repeat(16)),
            Err(FormatError::IncorrectLength)
        );
        assert_eq!(
            check_format(&"é".repeat(32)),
            Err(FormatError::InvalidCharacters)
        );
        assert_eq!(check_format(&"a".repeat(64)), Ok(()));
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(format!("{:?}", Secret::generate()), "Secret(<redacted>)");
    }
}
