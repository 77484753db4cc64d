//! One lesion of a phantom, whichever way it was made: the choice between the ellipsoid
//! lesions of [`super::tumour`] and the grown ones of [`super::growth`], and what the voxel
//! loop asks of either.

use super::growth::GrownLesion;
use super::noise::Noise3;
use super::tumour::{EllipsoidLesion, LesionDepths};

/// How a case's lesions are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TumourModel {
    /// Nested noise-deformed ellipsoids with oedema fingers ([`EllipsoidLesion`]).
    #[default]
    Ellipsoid,
    /// Grown along white matter by front propagation ([`GrownLesion`]).
    Grown,
}

/// One lesion in head coordinates.
#[derive(Debug, Clone)]
pub enum Lesion {
    Ellipsoid(EllipsoidLesion),
    Grown(GrownLesion),
}

impl Lesion {
    /// Where the anatomy shown at `p` comes from (the lesion's mass effect).
    #[inline]
    pub fn displace(&self, p: [f32; 3]) -> [f32; 3] {
        match self {
            Lesion::Ellipsoid(lesion) => lesion.displace(p),
            Lesion::Grown(lesion) => lesion.displace(p),
        }
    }

    /// Depths of `p` (head coordinates, before displacement) in the lesion's parts.
    pub fn depths(&self, p: [f32; 3]) -> LesionDepths {
        match self {
            Lesion::Ellipsoid(lesion) => lesion.depths(p),
            Lesion::Grown(lesion) => lesion.depths(p),
        }
    }

    /// The lesion's intensity texture.
    pub fn texture(&self) -> &Noise3 {
        match self {
            Lesion::Ellipsoid(lesion) => &lesion.texture,
            Lesion::Grown(lesion) => &lesion.texture,
        }
    }
}
