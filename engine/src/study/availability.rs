//! Availability masks: which of the four modalities are present (bit 0 FLAIR … bit 3 T2), and
//! the 15 non-empty subsets in the papers' order (subset id = mask value 1..15).

use super::Modality;

/// A set of available modalities; the mask value doubles as the subset id 1..15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Availability(pub u8);

impl Availability {
    pub const FULL: Availability = Availability(0b1111);

    pub fn from_modalities(modalities: impl IntoIterator<Item = Modality>) -> Availability {
        Availability(
            modalities
                .into_iter()
                .fold(0, |mask, m| mask | (1 << m.index())),
        )
    }

    pub fn contains(self, m: Modality) -> bool {
        self.0 & (1 << m.index()) != 0
    }

    pub fn without(self, m: Modality) -> Availability {
        Availability(self.0 & !(1 << m.index()))
    }

    pub fn count(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 & 0b1111 == 0
    }

    pub fn modalities(self) -> impl Iterator<Item = Modality> {
        Modality::ALL.into_iter().filter(move |m| self.contains(*m))
    }

    /// All 15 non-empty subsets, ordered by number of modalities then by mask.
    pub fn all_subsets() -> Vec<Availability> {
        let mut subsets: Vec<Availability> = (1..16).map(Availability).collect();
        subsets.sort_by_key(|a| (a.count(), a.0));
        subsets
    }

    /// A label such as `FLAIR+T1ce`.
    pub fn label(self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        self.modalities()
            .map(Modality::name)
            .collect::<Vec<_>>()
            .join("+")
    }
}
