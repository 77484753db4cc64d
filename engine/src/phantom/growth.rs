//! Tumours grown by a front-propagation model instead of drawn as nested ellipsoids
//! (`metakd phantom --tumours grown`).
//!
//! A glioma's visible outlines are fronts of tumour-cell density that advance at the
//! Fisher–KPP speed `c = 2·√(D·ρ)` of the proliferation–invasion models (Swanson et al.), with
//! the diffusivity `D` high in white matter, several times lower in grey matter and zero in CSF
//! and outside the brain. Where the tumour is much larger than its infiltration length, the
//! density follows the front, and the front's arrival time `T(x)` solves the eikonal equation
//! `|∇T| · c(x) = 1` (the anisotropic eikonal model of Konukoglu et al., IEEE TMI 2010). A
//! direct simulation of the reaction–diffusion equation from a small seed does not reach that
//! regime at the sizes of BraTS tumours (it spends the growth in the start-up transient, where
//! density piles up in slow grey matter instead), so this module solves the eikonal equation
//! by fast marching on a local grid, from a seed in deep white matter:
//!
//! * the speed varies smoothly in space (noise on `D` and `ρ`) and differs between the grid's
//!   axes (an elongated tumour), so outlines are lumpy and not spheres; it is zero in CSF, so
//!   the tumour never crosses a sulcus or enters a ventricle, and it follows white matter;
//! * the **core** is what the front reached first, up to the lesion's target volume;
//! * the **necrosis** is the oldest part of the core (a drawn share of it, its threshold
//!   wobbled by noise), so its outline follows how the tumour grew and the enhancing rim is
//!   thicker where the tumour grew faster;
//! * the **oedema** is what the front reached up to a drawn multiple of the core's volume
//!   (the whole-tumour to tumour-core ratio of real scans); it reaches further out along white
//!   matter, where the front is fastest. A thin margin around the core is oedema whatever the
//!   tissue, as for the ellipsoid lesions.
//!
//! Depths (mm, positive inside) are signed distances to each part's outline on the grid (fast
//! marching at unit speed from the outline), so margins and partial-volume ramps behave as for
//! the ellipsoid lesions, next to a ventricle too. The march samples the
//! anatomy as the mass effect has displaced it, so the tumour follows the anatomy the case
//! shows. Fast marching accepts cells in a fixed order (ties broken by index), so the result
//! is deterministic.

use super::anatomy::{TissueMap, DEEP_GM, GM, WM};
use super::lattice::trilinear_corners;
use super::noise::Noise3;
use super::tumour::{deep_white_matter_point, inflate, LesionDepths};
use rand::Rng;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Depths are clamped to ±this (mm): far from a boundary only the sign matters.
const DEPTH_LIMIT: f32 = 20.0;
/// Spacing of the local grid (mm).
const SPACING: f32 = 1.5;
/// Room (mm) the grid keeps between the tumour and its faces: for the oedema margin around the
/// core and the softened oedema edge beyond the outermost tumour cell.
const ROOM: f32 = 8.0;
/// Half-width beyond which the grid is not widened (mm): a whole brain fits in it.
const LARGEST_HALF_WIDTH: f32 = 110.0;

/// A lesion grown by [`march`]: the signed distances to its core, necrosis and oedema on the
/// local grid.
#[derive(Debug, Clone)]
pub struct GrownLesion {
    centre: [f32; 3],
    /// Radius of tissue displaced by the core (mm), as for the ellipsoid lesions.
    mass: f32,
    grid: Grid,
    core: Distance,
    /// `None` for a lesion without necrosis.
    necrosis: Option<Distance>,
    edema: Distance,
    /// Thinnest enhancing rim (mm).
    min_rim: f32,
    /// Oedema that always surrounds the core, whatever the tissue (mm).
    margin: f32,
    /// Intensity texture of this lesion.
    pub texture: Noise3,
}

/// The local grid: cell `(i, j, k)` lies at `origin + SPACING · (i, j, k)` in head
/// coordinates, `i` fastest.
#[derive(Debug, Clone, Copy)]
struct Grid {
    origin: [f32; 3],
    shape: [usize; 3],
}

impl Grid {
    /// A cube of cells reaching `half_width` mm from `centre` on each side.
    fn around(centre: [f32; 3], half_width: f32) -> Grid {
        let cells = (2.0 * half_width / SPACING).ceil() as usize + 1;
        let half = (cells - 1) as f32 * SPACING / 2.0;
        Grid {
            origin: centre.map(|c| c - half),
            shape: [cells; 3],
        }
    }

    fn len(&self) -> usize {
        self.shape.iter().product()
    }

    fn cell(&self, index: usize) -> [usize; 3] {
        let [nx, ny, _] = self.shape;
        [index % nx, (index / nx) % ny, index / (nx * ny)]
    }

    fn point(&self, index: usize) -> [f32; 3] {
        let ijk = self.cell(index);
        std::array::from_fn(|a| self.origin[a] + SPACING * ijk[a] as f32)
    }

    /// Whether `index` lies within `cells` cells of a face.
    fn near_a_face(&self, index: usize, cells: usize) -> bool {
        let ijk = self.cell(index);
        (0..3).any(|a| ijk[a] < cells || ijk[a] + cells >= self.shape[a])
    }

    /// The neighbour of `index` one cell along `axis` in `direction` (±1), if inside.
    fn neighbour(&self, index: usize, axis: usize, direction: isize) -> Option<usize> {
        let at = self.cell(index)[axis] as isize + direction;
        if at < 0 || at as usize >= self.shape[axis] {
            return None;
        }
        let stride = [1, self.shape[0], self.shape[0] * self.shape[1]][axis] as isize;
        Some((index as isize + direction * stride) as usize)
    }

    /// The cell nearest head point `p` (clamped to the grid).
    fn cell_near(&self, p: [f32; 3]) -> [usize; 3] {
        std::array::from_fn(|a| {
            let at = ((p[a] - self.origin[a]) / SPACING).round().max(0.0) as usize;
            at.min(self.shape[a] - 1)
        })
    }

    /// The indices of the cells at most `reach` cells from `centre` along every axis.
    fn cells_within(&self, centre: [usize; 3], reach: usize) -> Vec<usize> {
        let range =
            |a: usize| centre[a].saturating_sub(reach)..(centre[a] + reach + 1).min(self.shape[a]);
        let [nx, ny, _] = self.shape;
        let mut cells = Vec::new();
        for k in range(2) {
            for j in range(1) {
                for i in range(0) {
                    cells.push(i + nx * (j + ny * k));
                }
            }
        }
        cells
    }

    /// Grid position (fractional cell indices) of head point `p`, or `None` outside the grid.
    fn position(&self, p: [f32; 3]) -> Option<[f32; 3]> {
        let g: [f32; 3] = std::array::from_fn(|a| (p[a] - self.origin[a]) / SPACING);
        let inside = (0..3).all(|a| g[a] >= 0.0 && g[a] <= (self.shape[a] - 1) as f32);
        inside.then_some(g)
    }
}

/// Signed distance (mm, positive inside, clamped to ±[`DEPTH_LIMIT`]) to the outline of a
/// set of cells, on the grid.
#[derive(Debug, Clone)]
struct Distance(Vec<f32>);

impl Distance {
    /// Distances to the outline of the cells where `inside` holds: the outline runs half a
    /// cell beyond the outermost inside cells, and distances grow from it by fast marching at
    /// unit speed, inwards and outwards.
    fn to(grid: &Grid, inside: &[bool]) -> Distance {
        let inward = distance_from_outline(grid, inside, true);
        let outward = distance_from_outline(grid, inside, false);
        Distance(
            inside
                .iter()
                .zip(inward.iter().zip(outward))
                .map(|(&is_in, (d_in, d_out))| if is_in { *d_in } else { -d_out })
                .collect(),
        )
    }

    /// The distance at grid position `g` (trilinear).
    fn at(&self, grid: &Grid, g: [f32; 3]) -> f32 {
        let mut value = 0.0;
        trilinear_corners(grid.shape, g, |i, w| value += w * self.0[i]);
        value
    }
}

/// Distance from the outline for the cells on one `side` of it (the others get 0).
fn distance_from_outline(grid: &Grid, inside: &[bool], side: bool) -> Vec<f32> {
    let mut front = Front::new(*grid);
    for index in 0..inside.len() {
        let on_the_outline = inside[index] == side
            && (0..3).any(|axis| {
                [-1, 1].iter().any(|&d| {
                    grid.neighbour(index, axis, d)
                        .is_some_and(|next| inside[next] != side)
                })
            });
        if on_the_outline {
            front.time[index] = 0.5 * SPACING;
            front.queue.push(Pending {
                time: 0.5 * SPACING,
                index,
            });
        }
    }
    let speed = |index: usize| if inside[index] == side { 1.0 } else { 0.0 };
    front.advance(speed, [1.0; 3], |_, t| t <= DEPTH_LIMIT);
    front
        .time
        .iter()
        .zip(inside)
        .map(|(t, &is_in)| {
            if is_in == side {
                t.min(DEPTH_LIMIT)
            } else {
                0.0
            }
        })
        .collect()
}

/// What is drawn per lesion before it grows.
#[derive(Debug, Clone, Copy)]
pub struct GrowthParameters {
    /// Grey matter's diffusivity relative to white matter's (the front's speed goes with its
    /// square root).
    pub grey_matter_ratio: f32,
    /// Front speed along the grid's x, y and z axes relative to the mean (elongated tumours).
    pub axis_stretch: [f32; 3],
    /// Volume the core grows to (mL).
    pub core_volume: f32,
    /// Volume the front reaches (the oedema, with the core inside it) as a multiple of the
    /// core's volume.
    pub edema_ratio: f32,
    /// Share of the core's volume that is necrotic (oldest first), or 0.
    pub necrotic_share: f32,
}

impl GrowthParameters {
    /// Draws the ranges documented in docs/phantoms.md for a core of mean radius `size` mm.
    pub fn random<R: Rng>(rng: &mut R, size: f32) -> GrowthParameters {
        let necrotic = rng.random_bool(if size > 9.0 { 0.85 } else { 0.3 });
        GrowthParameters {
            grey_matter_ratio: 1.0 / rng.random_range(4.0..10.0),
            axis_stretch: std::array::from_fn(|_| rng.random_range(0.75..1.3)),
            core_volume: 4.0 / 3.0 * std::f32::consts::PI * size.powi(3) / 1000.0,
            edema_ratio: rng.random_range(2.5f32.ln()..12f32.ln()).exp(),
            necrotic_share: if necrotic {
                rng.random_range(0.15..0.5)
            } else {
                0.0
            },
        }
    }

    /// Equivalent radius of the target core (mm).
    fn core_radius(&self) -> f32 {
        (self.core_volume * 1000.0 * 3.0 / (4.0 * std::f32::consts::PI)).cbrt()
    }

    /// Half-width of the first grid tried (mm): a ball of the oedema's volume, stretched, and
    /// room to spare; [`grow`] widens the grid when the march reaches its faces.
    fn half_width(&self) -> f32 {
        self.core_radius() * self.edema_ratio.cbrt() * 2.0 + 20.0
    }
}

impl GrownLesion {
    /// Draws a lesion whose core grows to the volume of a ball of radius about `size` mm,
    /// seeded in deep white matter of `anatomy`, and grows it.
    pub fn sample<R: Rng>(
        rng: &mut R,
        anatomy: &dyn TissueMap,
        size: f32,
        voxel: f32,
    ) -> GrownLesion {
        let margin = (2.3 * voxel).max(3.5);
        let mut size = size;
        let centre = loop {
            if let Some(centre) = deep_white_matter_point(rng, anatomy, size + margin + 3.0) {
                break centre;
            }
            size *= 0.85;
        };
        let mut parameters = GrowthParameters::random(rng, size);
        let min_rim = (1.2 * voxel).max(1.5);
        // The necrotic share is capped so that a rim of at least `min_rim` remains.
        let radius = parameters.core_radius();
        let largest_share = ((radius - min_rim) / radius).max(0.0).powi(3);
        parameters.necrotic_share = parameters.necrotic_share.min(largest_share);
        let medium = Medium {
            anatomy,
            centre,
            mass: size * rng.random_range(0.45..0.8),
            grey_matter_ratio: parameters.grey_matter_ratio,
            surface_clearance: margin,
            variation: VARIATION,
            rate_noise: Noise3::from_rng(rng),
            diffusion_noise: Noise3::from_rng(rng),
        };
        let grown = grow(&medium, &parameters);
        let grid = grown.grid;
        let older = |age: f32| grown.age.iter().map(|a| *a >= age).collect::<Vec<_>>();
        let necrosis_shape = Noise3::from_rng(rng);
        let necrosis = grown.necrosis_age.map(|age| {
            // The oldest part of the core, its threshold wobbled so the outline is irregular.
            let inside: Vec<bool> = (0..grid.len())
                .map(|i| {
                    grown.age[i] >= grown.core_age && {
                        let p = grid.point(i);
                        let wobble = 1.0 + 0.25 * necrosis_shape.fbm(p.map(|v| v / 9.0), 2);
                        grown.age[i] >= age * wobble
                    }
                })
                .collect();
            Distance::to(&grid, &inside)
        });
        GrownLesion {
            centre,
            mass: medium.mass,
            core: Distance::to(&grid, &older(grown.core_age)),
            necrosis,
            edema: Distance::to(&grid, &older(grown.edema_age)),
            grid,
            min_rim,
            margin,
            texture: Noise3::from_rng(rng),
        }
    }

    /// Where the anatomy shown at `p` comes from (the core's mass effect).
    #[inline]
    pub fn displace(&self, p: [f32; 3]) -> [f32; 3] {
        inflate(self.centre, self.mass, p)
    }

    /// Depths of `p` (head coordinates, before displacement) in the lesion's parts.
    pub fn depths(&self, p: [f32; 3]) -> LesionDepths {
        let Some(g) = self.grid.position(p) else {
            return LesionDepths::OUTSIDE;
        };
        let core = self.core.at(&self.grid, g);
        let necrosis = self.necrosis.as_ref().map_or(-1e3, |necrosis| {
            necrosis.at(&self.grid, g).min(core - self.min_rim)
        });
        LesionDepths {
            core,
            necrosis,
            edema: self.edema.at(&self.grid, g),
            margin: core + self.margin,
        }
    }
}

/// What the tumour grows in: the anatomy as the lesion's own mass effect displaces it, and the
/// noise that varies the rates.
struct Medium<'a> {
    anatomy: &'a dyn TissueMap,
    centre: [f32; 3],
    mass: f32,
    grey_matter_ratio: f32,
    /// The tumour stays this far (mm) below the cerebrum's hull, so that the oedema margin
    /// around its core fits inside the brain.
    surface_clearance: f32,
    /// Amplitude of the noise on diffusivity and proliferation (relative).
    variation: f32,
    rate_noise: Noise3,
    diffusion_noise: Noise3,
}

/// How much diffusivity and proliferation vary in space (relative amplitude of their noise).
const VARIATION: f32 = 0.6;

impl Medium<'_> {
    /// Front speed at head point `p` relative to white matter's, `√(D · ρ)` with both relative
    /// to white matter's mean; 0 where less than half the cell is brain tissue.
    fn speed(&self, p: [f32; 3]) -> f32 {
        let tissue = self
            .anatomy
            .tissue(inflate(self.centre, self.mass, p), SPACING);
        let f = tissue.fractions;
        let brain = f[WM] + f[DEEP_GM] + f[GM];
        if brain < 0.5 || tissue.cerebrum_depth < self.surface_clearance {
            return 0.0;
        }
        let diffusivity = f[WM] + 0.5 * f[DEEP_GM] + self.grey_matter_ratio * f[GM];
        let wobble = |noise: &Noise3, offset: f32| {
            (1.0 + self.variation * noise.fbm(p.map(|v| v / 10.0 + offset), 2)).max(0.2)
        };
        (diffusivity
            * wobble(&self.diffusion_noise, 30.0)
            * brain
            * wobble(&self.rate_noise, -30.0))
        .sqrt()
    }
}

/// The end state of one growth.
struct Grown {
    grid: Grid,
    /// Time before the end of the march at which the front reached each cell (−1 where it
    /// never did).
    age: Vec<f32>,
    core_age: f32,
    edema_age: f32,
    necrosis_age: Option<f32>,
}

/// [`march`] on a grid wide enough that the front does not reach its faces (or on the widest
/// grid, which holds the whole brain).
fn grow(medium: &Medium, parameters: &GrowthParameters) -> Grown {
    let mut half_width = parameters.half_width().min(LARGEST_HALF_WIDTH);
    loop {
        let grid = Grid::around(medium.centre, half_width);
        let widest = half_width >= LARGEST_HALF_WIDTH;
        if let Some(grown) = march(medium, parameters, grid, widest) {
            return grown;
        }
        half_width = (half_width * 1.5).min(LARGEST_HALF_WIDTH);
    }
}

/// A cell waiting in the march's queue: smallest arrival time first, ties by index.
#[derive(PartialEq)]
struct Pending {
    time: f32,
    index: usize,
}

impl Eq for Pending {}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .time
            .total_cmp(&self.time)
            .then_with(|| other.index.cmp(&self.index))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The state of a fast march: tentative or final arrival times, which cells are final, and
/// the queue of tentative ones.
struct Front {
    grid: Grid,
    time: Vec<f32>,
    accepted: Vec<bool>,
    queue: BinaryHeap<Pending>,
}

impl Front {
    fn new(grid: Grid) -> Front {
        let n = grid.len();
        Front {
            grid,
            time: vec![f32::INFINITY; n],
            accepted: vec![false; n],
            queue: BinaryHeap::new(),
        }
    }

    /// Offers `index` an arrival time computed from its final neighbours at `speed`.
    fn offer(&mut self, index: usize, speed: f32, stretch: [f32; 3]) {
        if self.accepted[index] || speed <= 0.0 {
            return;
        }
        let arrival = arrival_time(
            &self.grid,
            &self.time,
            &self.accepted,
            index,
            speed,
            stretch,
        );
        if arrival < self.time[index] {
            self.time[index] = arrival;
            self.queue.push(Pending {
                time: arrival,
                index,
            });
        }
    }

    /// Accepts cells in order of arrival, offering each one's neighbours a time at
    /// `speed(neighbour)`, while `accept(index, time)` says to go on (it is called before the
    /// cell is accepted; on `false` the cell stays tentative).
    fn advance(
        &mut self,
        mut speed: impl FnMut(usize) -> f32,
        stretch: [f32; 3],
        mut accept: impl FnMut(usize, f32) -> bool,
    ) {
        while let Some(Pending { time, index }) = self.queue.pop() {
            if self.accepted[index] {
                continue;
            }
            if !accept(index, time) {
                return;
            }
            self.accepted[index] = true;
            for axis in 0..3 {
                for direction in [-1, 1] {
                    if let Some(next) = self.grid.neighbour(index, axis, direction) {
                        if !self.accepted[next] {
                            let s = speed(next);
                            self.offer(next, s, stretch);
                        }
                    }
                }
            }
        }
    }
}

/// Fast marching from the seed until the front has covered the oedema's volume and
/// When it comes within [`ROOM`] of the grid's faces first: `None`, or with `stop_at_faces`
/// the growth so far.
fn march(
    medium: &Medium,
    parameters: &GrowthParameters,
    grid: Grid,
    stop_at_faces: bool,
) -> Option<Grown> {
    let n = grid.len();
    let mut speed = vec![f32::NAN; n];
    let mut speed_at = |index: usize| {
        if speed[index].is_nan() {
            speed[index] = medium.speed(grid.point(index));
        }
        speed[index]
    };
    let mut front = Front::new(grid);
    // Seed: the cells within 2 mm of the centre that tumour can live in, timed by distance.
    let centre_cell = grid.cell_near(medium.centre);
    for index in grid.cells_within(centre_cell, 2) {
        let p = grid.point(index);
        let distance = (0..3)
            .map(|a| (p[a] - medium.centre[a]).powi(2))
            .sum::<f32>()
            .sqrt();
        if distance <= 2.0 && speed_at(index) > 0.0 {
            front.time[index] = distance;
            front.queue.push(Pending {
                time: distance,
                index,
            });
        }
    }
    let cell_volume = SPACING.powi(3) / 1000.0;
    let core_cells = (parameters.core_volume / cell_volume).round().max(1.0) as usize;
    let edema_cells = (parameters.edema_ratio * core_cells as f32).round() as usize;
    let necrotic_cells = (parameters.necrotic_share * core_cells as f32).round() as usize;
    // Arrival times of the cells accepted, in order: the k-th is the k-th smallest.
    let mut order = Vec::new();
    let room = (ROOM / SPACING).ceil() as usize;
    let mut hit_a_face = false;
    front.advance(&mut speed_at, parameters.axis_stretch, |index, t| {
        if order.len() >= edema_cells {
            return false;
        }
        if grid.near_a_face(index, room) && !stop_at_faces {
            hit_a_face = true;
            return false;
        }
        order.push(t);
        true
    });
    if hit_a_face {
        return None;
    }
    let end = order.last().copied().unwrap_or(0.0);
    let time_of = |cells: usize| order[cells.clamp(1, order.len()) - 1];

    let age = (0..n)
        .map(|i| {
            if front.accepted[i] {
                end - front.time[i]
            } else {
                -1.0
            }
        })
        .collect();
    Some(Grown {
        grid,
        age,
        core_age: end - time_of(core_cells),
        edema_age: end - time_of(edema_cells),
        necrosis_age: (necrotic_cells > 0).then(|| end - time_of(necrotic_cells)),
    })
}

/// First-order upwind solution of `Σ_a (s_a · c · (T − T_a) / h)² = 1` at `index` from its
/// accepted neighbours (`T_a` the smaller accepted neighbour time along axis `a`, `s_a` the
/// axis stretch, `c` the cell's speed).
fn arrival_time(
    grid: &Grid,
    time: &[f32],
    accepted: &[bool],
    index: usize,
    speed: f32,
    stretch: [f32; 3],
) -> f32 {
    let mut known: Vec<(f32, f32)> = (0..3)
        .filter_map(|axis| {
            let neighbour_time = [-1, 1]
                .iter()
                .filter_map(|&d| grid.neighbour(index, axis, d))
                .filter(|&i| accepted[i])
                .map(|i| time[i])
                .fold(f32::INFINITY, f32::min);
            let weight = (stretch[axis] * speed / SPACING).powi(2);
            neighbour_time
                .is_finite()
                .then_some((neighbour_time, weight))
        })
        .collect();
    known.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut a, mut b, mut c) = (0.0f32, 0.0f32, -1.0f32);
    let mut solution = f32::INFINITY;
    for (k, &(t, w)) in known.iter().enumerate() {
        a += w;
        b += w * t;
        c += w * t * t;
        let discriminant = b * b - a * c;
        if discriminant < 0.0 {
            break;
        }
        solution = (b + discriminant.sqrt()) / a;
        if known.get(k + 1).is_none_or(|next| solution <= next.0) {
            break;
        }
    }
    solution
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::anatomy::{Tissue, CSF, TISSUE_CLASSES};
    use rand::SeedableRng;

    /// A slab brain for tests: white matter for x < 0, grey matter for 0 ≤ x < `csf_at`, CSF
    /// beyond, everything deep inside the cerebrum.
    struct Slabs {
        csf_at: f32,
    }

    impl TissueMap for Slabs {
        fn tissue(&self, p: [f32; 3], _voxel: f32) -> Tissue {
            let mut fractions = [0.0; TISSUE_CLASSES];
            let class = if p[0] < 0.0 {
                WM
            } else if p[0] < self.csf_at {
                GM
            } else {
                CSF
            };
            fractions[class] = 1.0;
            Tissue {
                fractions,
                cerebrum_depth: 100.0,
                ventricle_depth: -100.0,
            }
        }

        fn may_contain(&self, _p: [f32; 3], _margin: f32) -> bool {
            true
        }
    }

    fn grow_in(anatomy: &dyn TissueMap, centre: [f32; 3], parameters: &GrowthParameters) -> Grown {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let medium = Medium {
            anatomy,
            centre,
            mass: 0.0,
            grey_matter_ratio: parameters.grey_matter_ratio,
            surface_clearance: 0.0,
            variation: VARIATION,
            rate_noise: Noise3::from_rng(&mut rng),
            diffusion_noise: Noise3::from_rng(&mut rng),
        };
        grow(&medium, parameters)
    }

    fn parameters() -> GrowthParameters {
        GrowthParameters {
            grey_matter_ratio: 0.125,
            axis_stretch: [1.0; 3],
            core_volume: 4.0 / 3.0 * std::f32::consts::PI * 10f32.powi(3) / 1000.0,
            edema_ratio: 3.0,
            necrotic_share: 0.3,
        }
    }

    /// Volume (mL) of the cells whose age is at least `age` and that satisfy `select`.
    fn volume(grown: &Grown, age: f32, select: impl Fn([f32; 3]) -> bool) -> f32 {
        (0..grown.age.len())
            .filter(|&i| grown.age[i] >= age && select(grown.grid.point(i)))
            .count() as f32
            * SPACING.powi(3)
            / 1000.0
    }

    /// Core, necrosis and oedema hold their drawn volumes, and the tumour grows further into
    /// white matter than into grey matter.
    #[test]
    fn tumour_grows_to_its_volumes_and_along_white_matter() {
        let parameters = parameters();
        let grown = grow_in(&Slabs { csf_at: 200.0 }, [0.0; 3], &parameters);
        let within = |value: f32, target: f32, what: &str| {
            assert!(
                (value - target).abs() <= 0.02 * target,
                "{what}: {value} mL against {target} mL"
            );
        };
        let core = volume(&grown, grown.core_age, |_| true);
        within(core, parameters.core_volume, "core");
        let necrosis = volume(&grown, grown.necrosis_age.unwrap(), |_| true);
        within(necrosis, 0.3 * core, "necrosis");
        let edema = volume(&grown, grown.edema_age, |_| true);
        within(edema, 3.0 * core, "oedema and core");
        // Seeded on the boundary, a tumour indifferent to tissue would lie half in each;
        // fronts run √8 ≈ 2.8 times faster in this white matter.
        let in_white = volume(&grown, grown.edema_age, |p| p[0] < 0.0);
        assert!(
            in_white > 0.7 * edema,
            "{in_white} mL of {edema} mL of oedema in white matter"
        );
    }

    /// No tumour crosses CSF: the front never reaches beyond a CSF gap.
    #[test]
    fn no_tumour_crosses_csf() {
        // White matter, grey matter from x = 0, CSF from x = 3 mm: the tumour, seeded 8 mm
        // into white matter, reaches the CSF and stops there.
        let grown = grow_in(&Slabs { csf_at: 3.0 }, [-8.0, 0.0, 0.0], &parameters());
        let mut reached_gm = false;
        for (i, age) in grown.age.iter().enumerate() {
            let x = grown.grid.point(i)[0];
            if x >= 3.0 {
                assert!(*age < 0.0, "tumour in CSF at x = {x}");
            } else if x >= 0.5 && *age >= grown.edema_age {
                reached_gm = true;
            }
        }
        assert!(reached_gm, "the tumour should have reached the grey matter");
    }

    /// The march solves the eikonal equation: in uniform tissue, arrival time grows with
    /// distance from the seed at the front's speed, within the first-order scheme's error.
    #[test]
    fn arrival_time_is_distance_over_speed_in_uniform_tissue() {
        let mut parameters = parameters();
        parameters.axis_stretch = [1.0, 1.0, 2.0];
        let anatomy = Slabs { csf_at: 200.0 };
        let medium = Medium {
            anatomy: &anatomy,
            centre: [-40.0, 0.0, 0.0],
            mass: 0.0,
            grey_matter_ratio: 0.125,
            surface_clearance: 0.0,
            variation: 0.0,
            rate_noise: Noise3::new(1),
            diffusion_noise: Noise3::new(2),
        };
        let grown = grow(&medium, &parameters);
        // Without noise the front runs at speed 1 along x and 2 along z.
        let age_at = |p: [f32; 3]| {
            let g = grown.grid.position(p).unwrap();
            let mut v = 0.0;
            trilinear_corners(grown.grid.shape, g, |i, w| v += w * grown.age[i]);
            v
        };
        let centre_age = age_at(medium.centre);
        let along_x = centre_age - age_at([-50.0, 0.0, 0.0]);
        let along_z = centre_age - age_at([-40.0, 0.0, 10.0]);
        assert!(
            (along_x - 10.0).abs() < 0.6 && (along_z - 5.0).abs() < 0.3,
            "10 mm took {along_x} along x and {along_z} along z"
        );
    }

    /// Necrosis inside core inside margin everywhere; necrotic lesions have some necrosis and
    /// an enhancing rim.
    #[test]
    fn grown_parts_are_nested() {
        let anatomy = crate::phantom::anatomy::Anatomy::standard();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut necrotic = 0;
        for _ in 0..3 {
            let lesion = GrownLesion::sample(&mut rng, &anatomy, 14.0, 2.5);
            let (mut necrosis, mut rim) = (0, 0);
            for i in 0..4000 {
                let t = i as f32 * 0.731;
                let r = 30.0 * (i as f32 / 4000.0);
                let p = [
                    lesion.centre[0] + r * (t * 1.3).sin(),
                    lesion.centre[1] + r * (t * 0.7).cos(),
                    lesion.centre[2] + r * (t * 2.1).sin() * (t * 0.3).cos(),
                ];
                let d = lesion.depths(p);
                assert!(d.necrosis <= d.core && d.core <= d.margin, "{d:?}");
                necrosis += usize::from(d.necrosis > 0.0);
                rim += usize::from(d.core > 0.0 && d.necrosis <= 0.0);
            }
            assert!(rim > 0, "no enhancing tumour");
            if lesion.necrosis.is_some() {
                necrotic += 1;
                assert!(necrosis > 0, "a necrotic lesion without necrosis");
            }
        }
        assert!(necrotic > 0, "none of the lesions drawn was necrotic");
    }
}
