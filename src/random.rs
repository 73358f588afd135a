//! Unpredictable values from the operating system's random source: session
//! tokens, the control secret, temporary file names, retry jitter. (The
//! seeded, repeatable generator of the tests is `fuzz::Rng`, never used for
//! these.)

/// `bytes` random bytes as lower-case hex (twice as many digits).
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    b
}

/// A random delay between 75% and 125% of `d`, so peers that lost the
/// directory together do not all come back in the same instant.
pub fn jitter(d: std::time::Duration) -> std::time::Duration {
    d.mul_f64(0.75 + fraction() * 0.5)
}

/// A random delay between none and `d`, evenly spread: when many peers
/// must each call once soon, each waits its own part of `d`.
pub fn spread(d: std::time::Duration) -> std::time::Duration {
    d.mul_f64(fraction())
}

/// Evenly between 0 and 1, both included.
fn fraction() -> f64 {
    let mut b = [0u8; 2];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    u16::from_le_bytes(b) as f64 / u16::MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn hex_and_jitter() {
        let (a, b) = (random_hex(16), random_hex(16));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(4));
            assert!((Duration::from_secs(3)..=Duration::from_secs(5)).contains(&j));
            assert!(spread(Duration::from_secs(4)) <= Duration::from_secs(4));
        }
        let waits: Vec<_> = (0..100).map(|_| spread(Duration::from_secs(4))).collect();
        assert!(
            waits.iter().any(|w| *w < Duration::from_secs(1)),
            "{waits:?}"
        );
        assert!(
            waits.iter().any(|w| *w > Duration::from_secs(3)),
            "{waits:?}"
        );
    }
}
