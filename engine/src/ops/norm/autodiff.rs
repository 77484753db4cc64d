//! [`NormActBackend`] for burn's `Autodiff<B, C>`: the forward keeps `x`, the statistics, `γ`
//! and `β`; the backward step runs the inner backend's backward pass once and registers `dx`,
//! `dγ = Σ g·z` and `dβ = Σ g`. The other operations are not differentiated (they are the backward pass).

use super::NormActBackend;
use burn::backend::autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
    Autodiff,
};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, TensorMetadata};
use burn::tensor::{Shape, Slice};

#[derive(Debug)]
struct NormBackward {
    slope: f64,
}

impl<B: Backend + NormActBackend> Backward<B, 3> for NormBackward {
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, stats, gamma, beta) = ops.state;
        let shape = x.shape();
        let (n, c) = (shape[0], shape[1]);
        let (sums, dx) = B::instance_norm_backward(x, stats, gamma, beta, grad, self.slope);
        // Σ g·z (dγ) is sums[.., .., 0], Σ g (dβ) is sums[.., .., 1].
        let part = |k: usize| {
            let slices = [Slice::from(0..n), Slice::from(0..c), Slice::from(k..k + 1)];
            B::float_reshape(
                B::float_slice(sums.clone(), &slices),
                Shape::from(vec![n, c]),
            )
        };
        if let Some(node) = node_gamma {
            grads.register::<B>(node.id, part(0));
        }
        if let Some(node) = node_beta {
            grads.register::<B>(node.id, part(1));
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
    }
}

/// An inner backend's result as an untracked autodiff tensor.
fn untracked<B: Backend, C: CheckpointStrategy>(
    out: FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    <Autodiff<B, C> as AutodiffBackend>::from_inner(out)
}

/// An autodiff tensor's inner backend tensor.
fn inner<B: Backend, C: CheckpointStrategy>(t: FloatTensor<Autodiff<B, C>>) -> FloatTensor<B> {
    <Autodiff<B, C> as AutodiffBackend>::inner(t)
}

impl<B: Backend + NormActBackend, C: CheckpointStrategy> NormActBackend for Autodiff<B, C> {
    fn instance_norm_leaky_relu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> FloatTensor<Self> {
        let step = NormBackward { slope };
        match step
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let xp = x.primitive().clone();
                let gp = gamma.primitive().clone();
                let bp = beta.primitive().clone();
                let stats = B::instance_norm_stats(xp.clone(), epsilon);
                let out = B::instance_norm_apply(
                    xp.clone(),
                    stats.clone(),
                    gp.clone(),
                    bp.clone(),
                    slope,
                );
                prep.finish((xp, stats, gp, bp), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::instance_norm_leaky_relu(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                epsilon,
                slope,
            )),
        }
    }

    fn instance_norm_stats(x: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self> {
        untracked::<B, C>(B::instance_norm_stats(inner::<B, C>(x), epsilon))
    }

    fn instance_norm_apply(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        slope: f64,
    ) -> FloatTensor<Self> {
        untracked::<B, C>(B::instance_norm_apply(
            inner::<B, C>(x),
            inner::<B, C>(stats),
            inner::<B, C>(gamma),
            inner::<B, C>(beta),
            slope,
        ))
    }

    fn instance_norm_backward(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        slope: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (sums, dx) = B::instance_norm_backward(
            inner::<B, C>(x),
            inner::<B, C>(stats),
            inner::<B, C>(gamma),
            inner::<B, C>(beta),
            inner::<B, C>(dy),
            slope,
        );
        (untracked::<B, C>(sums), untracked::<B, C>(dx))
    }
}
