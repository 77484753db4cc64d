//! Availability masks: which of the four modalities are present (bit 0 FLAIR … bit 3 T2), and
//! the 15 non-empty subsets in the papers' order (subset id = mask value 1..15).
//!
//! The bits are private to this module: callers combine sets with the operations below
//! (intersection, union, difference, subset test, iteration, names) and read the mask only as
//! a subset id ([`Availability::id`]).

use super::Modality;

/// A set of available modalities; the mask value doubles as the subset id 1..15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Availability(u8);

impl Availability {
    /// No modality.
    pub const NONE: Availability = Availability(0);
    /// All four modalities.
    pub const FULL: Availability = Availability::from_id(0b1111);

    /// The set whose subset id (mask, bit `Modality::index()`) is `id`; bits above the four
    /// modalities are ignored.
    pub const fn from_id(id: u8) -> Availability {
        Availability(id & 0b1111)
    }

    /// The subset id: the mask value, 0 for the empty set, 1..15 otherwise.
    pub const fn id(self) -> u8 {
        self.0
    }

    /// The set of the given modalities.
    pub fn from_modalities(modalities: impl IntoIterator<Item = Modality>) -> Availability {
        modalities
            .into_iter()
            .fold(Availability::NONE, |set, m| set.with(m))
    }

    /// The set of the modalities whose flag is on, in the fixed order (FLAIR, T1, T1ce, T2).
    pub fn from_flags(flags: [bool; 4]) -> Availability {
        Availability::from_modalities(Modality::ALL.into_iter().filter(|m| flags[m.index()]))
    }

    /// One flag per modality in the fixed order.
    pub fn flags(self) -> [bool; 4] {
        Modality::ALL.map(|m| self.contains(m))
    }

    pub fn contains(self, m: Modality) -> bool {
        self.0 & bit(m) != 0
    }

    /// This set plus `m`.
    pub fn with(self, m: Modality) -> Availability {
        Availability(self.0 | bit(m))
    }

    /// This set without `m`.
    pub fn without(self, m: Modality) -> Availability {
        Availability(self.0 & !bit(m))
    }

    /// The modalities in both sets.
    pub fn intersection(self, other: Availability) -> Availability {
        Availability(self.0 & other.0)
    }

    /// The modalities in either set.
    pub fn union(self, other: Availability) -> Availability {
        Availability(self.0 | other.0)
    }

    /// The modalities of this set that `other` lacks.
    pub fn difference(self, other: Availability) -> Availability {
        Availability(self.0 & !other.0)
    }

    /// Whether every modality of this set is in `other`.
    pub fn is_subset_of(self, other: Availability) -> bool {
        self.difference(other).is_empty()
    }

    pub fn count(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The modalities present, in the fixed order.
    pub fn modalities(self) -> impl Iterator<Item = Modality> {
        Modality::ALL.into_iter().filter(move |m| self.contains(*m))
    }

    /// All 15 non-empty subsets, ordered by number of modalities then by mask.
    pub fn all_subsets() -> Vec<Availability> {
        let mut subsets: Vec<Availability> = (1..16).map(Availability).collect();
        subsets.sort_by_key(|a| (a.count(), a.0));
        subsets
    }

    /// The non-empty subsets of this set, in [`Availability::all_subsets`]'s order.
    pub fn subsets(self) -> Vec<Availability> {
        Availability::all_subsets()
            .into_iter()
            .filter(|s| s.is_subset_of(self))
            .collect()
    }

    /// The display names of the modalities present (`["FLAIR", "T1ce"]`).
    pub fn names(self) -> Vec<&'static str> {
        self.modalities().map(Modality::name).collect()
    }

    /// A label such as `FLAIR+T1ce`.
    pub fn label(self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        self.names().join("+")
    }
}

/// The mask bit of one modality.
const fn bit(m: Modality) -> u8 {
    1 << m as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use Modality::*;

    #[test]
    fn set_operations_follow_the_modalities() {
        let a = Availability::from_modalities([Flair, T1ce]);
        let b = Availability::from_modalities([T1ce, T2]);
        assert_eq!(a.id(), 0b0101);
        assert_eq!(a.intersection(b), Availability::from_modalities([T1ce]));
        assert_eq!(a.union(b).names(), ["FLAIR", "T1ce", "T2"]);
        assert_eq!(a.difference(b), Availability::from_modalities([Flair]));
        assert!(a.intersection(b).is_subset_of(a) && !a.is_subset_of(b));
        assert!(Availability::NONE.is_subset_of(a) && a.is_subset_of(Availability::FULL));
        assert_eq!(a.with(T1).without(Flair).label(), "T1+T1ce");
        assert_eq!(Availability::from_flags(a.flags()), a);
        assert_eq!(a.flags(), [true, false, true, false]);
        assert_eq!(Availability::from_id(0xf5), Availability::from_id(0b0101));
        assert_eq!(Availability::NONE.label(), "none");
    }

    #[test]
    fn subsets_come_in_the_papers_order() {
        let all = Availability::all_subsets();
        assert_eq!(all.len(), 15);
        assert_eq!(all[0].label(), "FLAIR");
        assert_eq!(all[14], Availability::FULL);
        let some = Availability::from_modalities([T1, T2]).subsets();
        let labels: Vec<String> = some.iter().map(|s| s.label()).collect();
        assert_eq!(labels, ["T1", "T2", "T1+T2"]);
    }
}
