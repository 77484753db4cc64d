//! GMD: gradient-guided modality decoupling (`methods.md` §4).
//!
//! Each step the batch (all four modalities present) is segmented under every availability
//! subset S (all 15, or `subsets_per_step` distinct ones drawn per step), each with GMD's
//! batch-pooled soft Dice `L_S`, and each loss gets its own backward pass: `g_S = ∇θ L_S`.
//! Conflicting gradients are then decoupled as PCGrad does: for each task i, starting from
//! `ĝ_i = g_i`, the tasks j are visited in a random order and whenever `ĝ_i · g_j < 0`,
//! `ĝ_i ← ĝ_i − (ĝ_i · g_j / ‖g_j‖²) g_j` (the running ĝ_i is tested against the
//! *unprojected* g_j, as in the released code). The update is the mean of the ĝ_i for
//! parameters every task reached and their sum for the others (with Dynamic Sharing, the
//! modality-specific norm parameters, which only the subsets containing that modality reach).
//!
//! **How the per-subset gradients are computed cheaply.** burn's autodiff frees a graph on its
//! backward pass, so the 15 losses cannot share one forward pass as the released code's
//! `retain_graph` does. Instead each subset runs its own forward pass, and with Dynamic Sharing
//! that pass computes only the branches of the modalities in S (the logits are a mean over
//! branches, so `L_S` depends on no other branch): Σ_S |S| = 32 branch passes per step for
//! all 15 subsets, the count of branch vector–Jacobian products `methods.md` §5.5 gives as the
//! minimum, instead of 15 × 4 = 60. And the projection never forms the ĝ_i: every ĝ_i is a
//! linear combination `Σ_j a_ij g_j`, and every dot product the rule tests is a combination of
//! the Gram matrix `g_i · g_j` (one `[T, P] × [P, T]` product on the device), so the
//! coefficients are found on the CPU from a 15 × 15 matrix and the merged update is one
//! `[1, T] × [T, P]` product.
//!
//! Deviations: the optimiser and learning-rate schedule are the run's (the same for every
//! method in `metakd experiment`), not the released code's Adam 8e-4.

use super::batch::TensorBatch;
use super::config::GmdConfig;
use super::loss::{batch_soft_dice, scalar};
use super::strategy::{OwnStep, Strategy};
use super::TrainError;
use crate::model::MetaKdNet;
use crate::study::{Availability, Modality};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The GMD strategy (see the module docs).
pub struct Gmd {
    config: GmdConfig,
    seed: u64,
}

impl Gmd {
    pub fn new(config: GmdConfig, seed: u64) -> Gmd {
        Gmd { config, seed }
    }

    /// This step's random source: a function of the seed and the iteration, so a resumed
    /// run draws what an uninterrupted one would.
    fn rng(&self, iteration: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.seed ^ iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// The subsets of one step: all 15 in the papers' order, or `count` distinct ones drawn.
pub fn step_subsets(count: usize, rng: &mut ChaCha8Rng) -> Vec<Availability> {
    let mut subsets = Availability::all_subsets();
    if count < subsets.len() {
        subsets.shuffle(rng);
        subsets.truncate(count);
    }
    subsets
}

/// PCGrad on task gradients known through their Gram matrix `gram[i][j] = g_i · g_j`: row i
/// holds the coefficients `a_ij` of `ĝ_i = Σ_j a_ij g_j` after task i has visited the tasks
/// in `orders[i]` (see the module docs). A task with a zero gradient conflicts with none.
pub fn projection_coefficients(gram: &[Vec<f64>], orders: &[Vec<usize>]) -> Vec<Vec<f64>> {
    let tasks = gram.len();
    (0..tasks)
        .map(|i| {
            let mut a = vec![0.0; tasks];
            a[i] = 1.0;
            for &j in &orders[i] {
                let norm = gram[j][j];
                if norm <= 0.0 {
                    continue;
                }
                let dot: f64 = (0..tasks).map(|k| a[k] * gram[k][j]).sum();
                if dot < 0.0 {
                    a[j] -= dot / norm;
                }
            }
            a
        })
        .collect()
}

/// The merge rule's factor for a parameter `reached_by` of `tasks` tasks reached: the mean
/// (1/tasks) when every task reached it, the sum (1) otherwise.
pub fn merge_factor(reached_by: usize, tasks: usize) -> f32 {
    if reached_by == tasks {
        1.0 / tasks as f32
    } else {
        1.0
    }
}

/// One task's parameter gradients as one flat vector (zeros where the task reached none),
/// in the module's parameter order, and which parameters it reached.
struct Flatten<'a> {
    grads: &'a Gradients,
    device: Device,
    pieces: Vec<Tensor<1>>,
    reached: Vec<bool>,
    sizes: Vec<usize>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let len = value.shape().num_elements();
        let grad = value.grad(self.grads);
        self.reached.push(grad.is_some());
        self.sizes.push(len);
        self.pieces.push(match grad {
            Some(g) => g.reshape([len]),
            None => Tensor::zeros([len], &self.device),
        });
    }
}

/// Splits the merged flat vector back into the parameters some task reached.
struct Register<'a> {
    merged: Tensor<1>,
    reached: &'a [bool],
    offset: usize,
    index: usize,
    grads: GradientsParams,
}

impl ModuleVisitor for Register<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let dims: [usize; D] = param.val().dims();
        let len: usize = dims.iter().product();
        if self.reached[self.index] {
            let grad = self
                .merged
                .clone()
                .narrow(0, self.offset, len)
                .reshape(dims);
            self.grads.register(param.id, grad);
        }
        self.offset += len;
        self.index += 1;
    }
}

/// `[1, 4, 1, 1, 1]` with 1.0 on the channels of `subset`.
fn channel_mask(subset: Availability, device: &Device) -> Tensor<5> {
    let values = Modality::ALL.map(|m| f32::from(u8::from(subset.contains(m))));
    Tensor::from_data(TensorData::new(values.to_vec(), [1, 4, 1, 1, 1]), device)
}

/// The task gradients of one step: `[T, P]` (one flat row per subset, zeros where a subset
/// reached no parameter), how many subsets reached each parameter, the parameters' sizes, and
/// the mean of the subsets' losses.
struct TaskGradients {
    stacked: Tensor<2>,
    reached_by: Vec<usize>,
    sizes: Vec<usize>,
    mean_loss: f32,
}

/// One forward and backward pass per subset (see the module docs).
fn task_gradients(
    net: &MetaKdNet,
    batch: &TensorBatch,
    subsets: &[Availability],
    iteration: u64,
) -> Result<TaskGradients, TrainError> {
    let device = batch.images.device();
    let n = batch.availability.len();
    let mut rows = Vec::with_capacity(subsets.len());
    let mut reached_by: Vec<usize> = Vec::new();
    let mut sizes = Vec::new();
    let mut loss_sum = 0.0f32;
    for subset in subsets {
        let images = batch.images.clone() * channel_mask(*subset, &device);
        let logits = net.forward(images, &vec![*subset; n], None).logits;
        let loss = batch_soft_dice(logits, batch.targets.clone());
        let value = scalar(&loss);
        if !value.is_finite() {
            return Err(TrainError::Device(format!(
                "the {} loss became {value} at iteration {iteration}; lower learning_rate in the configuration",
                subset.label()
            )));
        }
        loss_sum += value;
        let grads = loss.backward();
        let mut flat = Flatten {
            grads: &grads,
            device: device.clone().inner(),
            pieces: Vec::new(),
            reached: Vec::new(),
            sizes: Vec::new(),
        };
        net.visit(&mut flat);
        if reached_by.is_empty() {
            reached_by = vec![0; flat.reached.len()];
            sizes = flat.sizes;
        }
        for (count, reached) in reached_by.iter_mut().zip(&flat.reached) {
            *count += usize::from(*reached);
        }
        rows.push(Tensor::cat(flat.pieces, 0));
    }
    Ok(TaskGradients {
        stacked: Tensor::stack::<2>(rows, 0),
        reached_by,
        sizes,
        mean_loss: loss_sum / subsets.len() as f32,
    })
}

impl TaskGradients {
    /// The projected and merged update as one flat vector: PCGrad's coefficients from the
    /// Gram matrix (each task visiting the others in its own random order from `rng`), then
    /// `factor_p · Σ_j (Σ_i a_ij) g_j` with the merge rule's factor per parameter.
    fn merged(self, rng: &mut ChaCha8Rng) -> Tensor<1> {
        let [tasks, _] = self.stacked.dims();
        let device = self.stacked.device();
        let gram: Vec<f32> = self
            .stacked
            .clone()
            .matmul(self.stacked.clone().transpose())
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 gradients");
        let gram: Vec<Vec<f64>> = gram
            .chunks(tasks)
            .map(|row| row.iter().map(|v| f64::from(*v)).collect())
            .collect();
        let orders: Vec<Vec<usize>> = (0..tasks)
            .map(|_| {
                let mut order: Vec<usize> = (0..tasks).collect();
                order.shuffle(rng);
                order
            })
            .collect();
        let a = projection_coefficients(&gram, &orders);
        let column_sums: Vec<f32> = (0..tasks)
            .map(|j| a.iter().map(|row| row[j]).sum::<f64>() as f32)
            .collect();
        let factors: Vec<f32> = self
            .reached_by
            .iter()
            .zip(&self.sizes)
            .flat_map(|(r, len)| std::iter::repeat_n(merge_factor(*r, tasks), *len))
            .collect();
        let total = factors.len();
        let coefficients =
            Tensor::<2>::from_data(TensorData::new(column_sums, [1, tasks]), &device);
        let factors = Tensor::<1>::from_data(TensorData::new(factors, [total]), &device);
        coefficients.matmul(self.stacked).reshape([total]) * factors
    }
}

impl Strategy for Gmd {
    fn name(&self) -> &'static str {
        "gmd"
    }

    fn own_step(
        &mut self,
        iteration: u64,
        net: &MetaKdNet,
        batch: &TensorBatch,
    ) -> Option<Result<OwnStep, TrainError>> {
        let mut rng = self.rng(iteration);
        let subsets = step_subsets(self.config.subsets_per_step, &mut rng);
        let tasks = match task_gradients(net, batch, &subsets, iteration) {
            Ok(tasks) => tasks,
            Err(e) => return Some(Err(e)),
        };
        let reached: Vec<bool> = tasks.reached_by.iter().map(|r| *r > 0).collect();
        let mean_loss = tasks.mean_loss;
        let mut register = Register {
            merged: tasks.merged(&mut rng),
            reached: &reached,
            offset: 0,
            index: 0,
            grads: GradientsParams::new(),
        };
        net.visit(&mut register);
        let labels: Vec<String> = subsets.iter().map(|s| s.label()).collect();
        Some(Ok(OwnStep {
            grads: register.grads,
            loss: mean_loss,
            subsets: labels.join(" | "),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn gram(g: &[Vec<f64>]) -> Vec<Vec<f64>> {
        g.iter()
            .map(|a| g.iter().map(|b| dot(a, b)).collect())
            .collect()
    }

    /// ĝ_i = Σ_j a_ij g_j.
    fn combine(a: &[f64], g: &[Vec<f64>]) -> Vec<f64> {
        (0..g[0].len())
            .map(|p| a.iter().zip(g).map(|(c, v)| c * v[p]).sum())
            .collect()
    }

    /// Two conflicting gradients: each loses exactly its component along the other, so the
    /// projected one is orthogonal to the other's original gradient.
    #[test]
    fn projection_removes_exactly_the_conflicting_component() {
        let g = vec![vec![1.0, 0.0], vec![-1.0, 1.0]];
        let a = projection_coefficients(&gram(&g), &[vec![0, 1], vec![1, 0]]);
        let p0 = combine(&a[0], &g);
        let p1 = combine(&a[1], &g);
        // g0 − (g0·g1/|g1|²) g1 = (1,0) + ½(−1,1) = (½,½)
        assert!(
            (p0[0] - 0.5).abs() < 1e-12 && (p0[1] - 0.5).abs() < 1e-12,
            "{p0:?}"
        );
        // g1 − (g1·g0/|g0|²) g0 = (−1,1) + (1,0) = (0,1)
        assert!(p1[0].abs() < 1e-12 && (p1[1] - 1.0).abs() < 1e-12, "{p1:?}");
        assert!(dot(&p0, &g[1]).abs() < 1e-12);
        assert!(dot(&p1, &g[0]).abs() < 1e-12);
    }

    /// Gradients that do not conflict are left alone, and a zero gradient changes nothing.
    #[test]
    fn agreeing_and_zero_gradients_are_untouched() {
        let g = vec![vec![1.0, 2.0, 0.0], vec![0.5, 0.1, 3.0], vec![0.0; 3]];
        let order = vec![vec![0, 1, 2], vec![2, 1, 0], vec![1, 0, 2]];
        let a = projection_coefficients(&gram(&g), &order);
        for (i, row) in a.iter().enumerate() {
            for (j, c) in row.iter().enumerate() {
                assert_eq!(*c, if i == j { 1.0 } else { 0.0 });
            }
        }
    }

    /// With three tasks the running ĝ_i is tested against each unprojected g_j in the given
    /// order; the coefficients reproduce that sequence done on the vectors themselves.
    #[test]
    fn coefficients_match_projecting_the_vectors() {
        let g = vec![
            vec![1.0, 0.2, -0.5, 0.3],
            vec![-0.8, 0.9, 0.1, 0.0],
            vec![0.3, -1.0, 0.7, -0.2],
        ];
        let orders = vec![vec![2, 1, 0], vec![0, 2, 1], vec![1, 0, 2]];
        let a = projection_coefficients(&gram(&g), &orders);
        for i in 0..3 {
            let mut p = g[i].clone();
            for &j in &orders[i] {
                let d = dot(&p, &g[j]);
                if d < 0.0 {
                    let s = d / dot(&g[j], &g[j]);
                    p.iter_mut().zip(&g[j]).for_each(|(x, y)| *x -= s * y);
                }
            }
            let via = combine(&a[i], &g);
            for (x, y) in p.iter().zip(&via) {
                assert!((x - y).abs() < 1e-12, "task {i}: {p:?} vs {via:?}");
            }
        }
    }

    /// PCGrad done on the vectors themselves (each task visiting the others in `orders[i]`),
    /// then the merge rule per parameter: the reference the device-side merge must match.
    fn merged_by_hand(
        g: &[Vec<f64>],
        orders: &[Vec<usize>],
        sizes: &[usize],
        reached_by: &[usize],
    ) -> Vec<f64> {
        let projected: Vec<Vec<f64>> = (0..g.len())
            .map(|i| {
                let mut p = g[i].clone();
                for &j in &orders[i] {
                    let d = dot(&p, &g[j]);
                    if d < 0.0 {
                        let s = d / dot(&g[j], &g[j]);
                        p.iter_mut().zip(&g[j]).for_each(|(x, y)| *x -= s * y);
                    }
                }
                p
            })
            .collect();
        let factors = sizes
            .iter()
            .zip(reached_by)
            .flat_map(|(len, r)| std::iter::repeat_n(f64::from(merge_factor(*r, g.len())), *len));
        factors
            .enumerate()
            .map(|(p, f)| f * projected.iter().map(|v| v[p]).sum::<f64>())
            .collect()
    }

    /// The device-side merge of four pairwise-conflicting task gradients over two parameters
    /// (one reached by every task: mean; one reached by a single task: sum) equals PCGrad
    /// done on the vectors with the same random visiting orders.
    #[test]
    fn merged_update_matches_pcgrad_on_the_vectors() {
        let g = vec![
            vec![1.0, 0.5, -0.25, 0.0, 2.0],
            vec![-0.75, 1.0, 0.5, 0.0, 0.0],
            vec![0.25, -1.0, 0.75, 0.0, 0.0],
            vec![-0.5, -0.25, -1.0, 0.0, 0.0],
        ];
        for i in 0..4 {
            for j in 0..i {
                assert!(dot(&g[i], &g[j]) < 0.0, "{i},{j} do not conflict");
            }
        }
        let (sizes, reached_by) = (vec![3, 2], vec![4, 1]);
        let device = Device::flex();
        let flat: Vec<f32> = g.iter().flatten().map(|v| *v as f32).collect();
        let tasks = TaskGradients {
            stacked: Tensor::from_data(TensorData::new(flat, [4, 5]), &device),
            reached_by: reached_by.clone(),
            sizes: sizes.clone(),
            mean_loss: 0.0,
        };
        let seed = 17;
        let mut orders_rng = ChaCha8Rng::seed_from_u64(seed);
        let orders: Vec<Vec<usize>> = (0..4)
            .map(|_| {
                let mut order: Vec<usize> = (0..4).collect();
                order.shuffle(&mut orders_rng);
                order
            })
            .collect();
        let got: Vec<f32> = tasks
            .merged(&mut ChaCha8Rng::seed_from_u64(seed))
            .into_data()
            .try_to_vec()
            .unwrap();
        let want = merged_by_hand(&g, &orders, &sizes, &reached_by);
        for (p, (x, y)) in got.iter().zip(&want).enumerate() {
            assert!(
                (f64::from(*x) - y).abs() < 1e-5,
                "parameter {p}: {got:?} vs {want:?}"
            );
        }
        // Without projection the first parameter's mean would be (0, 0.0625, 0): projection
        // changes the update, so the comparison above is not vacuous.
        let plain: Vec<f64> = (0..3)
            .map(|p| g.iter().map(|v| v[p]).sum::<f64>() / 4.0)
            .collect();
        assert!(
            plain.iter().zip(&want).any(|(a, b)| (a - b).abs() > 0.05),
            "{plain:?} {want:?}"
        );
    }

    /// Mean over tasks for parameters every task reached, sum for the others.
    #[test]
    fn merge_rule() {
        assert_eq!(merge_factor(15, 15), 1.0 / 15.0);
        assert_eq!(merge_factor(8, 15), 1.0);
        assert_eq!(merge_factor(0, 15), 1.0);
        assert_eq!(merge_factor(3, 3), 1.0 / 3.0);
    }

    /// All 15 subsets by default; fewer are distinct and depend only on the seed source.
    #[test]
    fn subsets_per_step() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert_eq!(step_subsets(15, &mut rng), Availability::all_subsets());
        let five = step_subsets(5, &mut ChaCha8Rng::seed_from_u64(9));
        let mut distinct = five.clone();
        distinct.sort_by_key(|a| a.id());
        distinct.dedup();
        assert_eq!(distinct.len(), 5);
        assert_eq!(five, step_subsets(5, &mut ChaCha8Rng::seed_from_u64(9)));
    }
}
