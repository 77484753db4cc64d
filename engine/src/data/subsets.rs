//! Availability-subset samplers: which modalities a training step pretends to have.
//!
//! * [`SubsetSampler::MetaKd`]: `k` uniform in `1..=n`, then a uniform `k`-subset (MetaKD's and
//!   U-HVED's rule; over four modalities each single has probability 1/16, each pair 1/24, each
//!   triple 1/16 and the full set 1/4).
//! * [`SubsetSampler::Uniform`]: uniform over the `2^n − 1` non-empty subsets (1/15 each).
//! * [`SubsetSampler::Full`]: always every modality (MetaKD's warm-up stage).
//! * [`SubsetSampler::Fixed`]: always the same subset.
//!
//! Sampling happens among the modalities a case actually has (`available`): the rules above
//! are applied to that set, with `n` = its size, so the result is never empty and never names
//! a modality the case lacks. `Fixed(s)` yields `s ∩ available`, or all of `available` when
//! that intersection is empty. An empty `available` (no case has one after preparation) is
//! treated as all four modalities.

use crate::study::{Availability, Modality};
use rand::seq::SliceRandom;
use rand::Rng;
use std::fmt;

/// How a training step picks the modalities it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum SubsetSampler {
    /// `k ~ U{1..n}`, then a uniform `k`-subset.
    #[default]
    MetaKd,
    /// LCKD's stage 2: `k ~ U{1..n−1}` (never the full set when there are two or more), then
    /// a uniform `k`-subset.
    Lckd,
    /// Uniform over the non-empty subsets.
    Uniform,
    /// All available modalities.
    Full,
    /// A fixed subset (intersected with what the case has).
    Fixed(Availability),
}

impl SubsetSampler {
    /// A subset of all four modalities.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Availability {
        self.sample_within(Availability::FULL, rng)
    }

    /// A non-empty subset of `available` (see the module docs).
    pub fn sample_within<R: Rng + ?Sized>(
        &self,
        available: Availability,
        rng: &mut R,
    ) -> Availability {
        let available = if available.is_empty() {
            Availability::FULL
        } else {
            available
        };
        let mut present: Vec<Modality> = available.modalities().collect();
        let n = present.len();
        match self {
            SubsetSampler::Full => available,
            SubsetSampler::Fixed(s) => fixed_within(*s, available),
            SubsetSampler::MetaKd => {
                let k = rng.random_range(1..=n);
                present.shuffle(rng);
                Availability::from_modalities(present[..k].iter().copied())
            }
            SubsetSampler::Lckd => {
                let k = rng.random_range(1..=(n - 1).max(1));
                present.shuffle(rng);
                Availability::from_modalities(present[..k].iter().copied())
            }
            SubsetSampler::Uniform => {
                let pick: u32 = rng.random_range(1..(1u32 << n));
                Availability::from_modalities(
                    present
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| pick & (1 << i) != 0)
                        .map(|(_, m)| *m),
                )
            }
        }
    }

    /// The probability that [`SubsetSampler::sample_within`] returns `subset`.
    pub fn probability(&self, subset: Availability, available: Availability) -> f64 {
        let available = if available.is_empty() {
            Availability::FULL
        } else {
            available
        };
        let n = available.count();
        let inside = !subset.is_empty() && subset.is_subset_of(available);
        match self {
            _ if !inside => 0.0,
            SubsetSampler::Full => f64::from(u8::from(subset == available)),
            SubsetSampler::Fixed(s) => f64::from(u8::from(fixed_within(*s, available) == subset)),
            SubsetSampler::Lckd if n == 1 => 1.0,
            SubsetSampler::Lckd if subset.count() == n => 0.0,
            SubsetSampler::Lckd => 1.0 / (n - 1) as f64 / binomial(n, subset.count()) as f64,
            SubsetSampler::MetaKd => {
                let k = subset.count();
                1.0 / n as f64 / binomial(n, k) as f64
            }
            SubsetSampler::Uniform => 1.0 / ((1u32 << n) - 1) as f64,
        }
    }

    /// Parses `metakd`, `uniform`, `full`, or a `+`-separated modality list such as
    /// `flair+t1ce` (a fixed subset).
    pub fn parse(text: &str) -> Option<SubsetSampler> {
        match text.trim().to_ascii_lowercase().as_str() {
            "metakd" | "meta-kd" | "random" => Some(SubsetSampler::MetaKd),
            "lckd" => Some(SubsetSampler::Lckd),
            "uniform" => Some(SubsetSampler::Uniform),
            "full" | "all" => Some(SubsetSampler::Full),
            list => {
                let mods: Option<Vec<Modality>> = list.split('+').map(Modality::parse).collect();
                let a = Availability::from_modalities(mods?);
                (!a.is_empty()).then_some(SubsetSampler::Fixed(a))
            }
        }
    }
}

impl fmt::Display for SubsetSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubsetSampler::MetaKd => f.write_str("metakd"),
            SubsetSampler::Lckd => f.write_str("lckd"),
            SubsetSampler::Uniform => f.write_str("uniform"),
            SubsetSampler::Full => f.write_str("full"),
            SubsetSampler::Fixed(a) => write!(f, "{}", a.label()),
        }
    }
}

/// `s ∩ available`, or `available` when they do not overlap.
fn fixed_within(s: Availability, available: Availability) -> Availability {
    let both = s.intersection(available);
    if both.is_empty() {
        available
    } else {
        both
    }
}

fn binomial(n: usize, k: usize) -> usize {
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Draws `n` subsets and checks every count against its expected probability within 4σ
    /// (binomial standard deviation); a sampler off by a few percent fails.
    fn check_frequencies(sampler: SubsetSampler, available: Availability, seed: u64) {
        let n = 20_000;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut counts = [0usize; 16];
        for _ in 0..n {
            let s = sampler.sample_within(available, &mut rng);
            assert!(
                !s.is_empty() && s.is_subset_of(available),
                "{s:?} ⊄ {available:?}"
            );
            counts[s.id() as usize] += 1;
        }
        let total_p: f64 = (1..16)
            .map(|m| sampler.probability(Availability::from_id(m), available))
            .sum();
        assert!(
            (total_p - 1.0).abs() < 1e-12,
            "probabilities sum to {total_p}"
        );
        for mask in 1..16u8 {
            let p = sampler.probability(Availability::from_id(mask), available);
            let expected = p * n as f64;
            let sigma = (n as f64 * p * (1.0 - p)).sqrt();
            let got = counts[mask as usize] as f64;
            assert!(
                (got - expected).abs() <= 4.0 * sigma + 1e-9,
                "{sampler} within {available:?}: subset {mask:04b} drawn {got} times, expected {expected:.0} ± {:.0}",
                4.0 * sigma
            );
        }
    }

    #[test]
    fn metakd_draws_k_uniformly_then_a_uniform_k_subset() {
        let s = SubsetSampler::MetaKd;
        let full = Availability::FULL;
        assert_eq!(
            s.probability(Availability::from_id(0b0001), full),
            1.0 / 16.0
        );
        assert_eq!(
            s.probability(Availability::from_id(0b0011), full),
            1.0 / 24.0
        );
        assert_eq!(
            s.probability(Availability::from_id(0b0111), full),
            1.0 / 16.0
        );
        assert_eq!(s.probability(full, full), 1.0 / 4.0);
        check_frequencies(s, full, 1);
        // The P(k) = 1/4 claim directly.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut by_k = [0usize; 5];
        for _ in 0..20_000 {
            by_k[s.sample(&mut rng).count()] += 1;
        }
        let sigma = (20_000.0f64 * 0.25 * 0.75).sqrt();
        for (k, &count) in by_k.iter().enumerate().skip(1) {
            assert!(
                (count as f64 - 5000.0).abs() < 4.0 * sigma,
                "k={k}: {count}"
            );
        }
        // A case with three modalities: k uniform in 1..=3 among those three.
        check_frequencies(s, Availability::from_id(0b1101), 3);
    }

    #[test]
    fn uniform_gives_each_subset_one_fifteenth() {
        let s = SubsetSampler::Uniform;
        assert_eq!(
            s.probability(Availability::from_id(5), Availability::FULL),
            1.0 / 15.0
        );
        check_frequencies(s, Availability::FULL, 4);
        check_frequencies(s, Availability::from_id(0b0110), 5);
    }

    #[test]
    fn full_and_fixed_respect_the_case() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let case = Availability::from_id(0b1011);
        assert_eq!(SubsetSampler::Full.sample_within(case, &mut rng), case);
        let fixed = SubsetSampler::Fixed(Availability::from_id(0b0110));
        assert_eq!(
            fixed.sample_within(case, &mut rng),
            Availability::from_id(0b0010)
        );
        // No overlap: fall back to what the case has.
        let fixed = SubsetSampler::Fixed(Availability::from_id(0b0100));
        assert_eq!(fixed.sample_within(case, &mut rng), case);
        check_frequencies(fixed, case, 6);
        check_frequencies(SubsetSampler::Full, Availability::FULL, 7);
        // A one-modality case always gets that modality.
        check_frequencies(SubsetSampler::Lckd, Availability::FULL, 8);
        check_frequencies(SubsetSampler::Lckd, case, 9);
        assert_eq!(
            SubsetSampler::Lckd.probability(Availability::FULL, Availability::FULL),
            0.0,
            "LCKD's stage 2 never draws the full set"
        );
        for s in [
            SubsetSampler::MetaKd,
            SubsetSampler::Lckd,
            SubsetSampler::Uniform,
        ] {
            for _ in 0..100 {
                assert_eq!(
                    s.sample_within(Availability::from_id(0b1000), &mut rng),
                    Availability::from_id(0b1000)
                );
            }
        }
        assert_eq!(
            SubsetSampler::parse("T1ce+flair"),
            Some(SubsetSampler::Fixed(Availability::from_id(0b0101)))
        );
        assert_eq!(
            SubsetSampler::parse("uniform"),
            Some(SubsetSampler::Uniform)
        );
        assert_eq!(SubsetSampler::parse("pd"), None);
    }
}
