//! [`Conv3dBackend`] for burn's `Autodiff<B, C>`: the forward runs on `B` and the backward step
//! calls `B`'s input- and weight-gradient operations (our WGSL kernels on a cubecl device).
//!
//! `conv3d_input_grad` is differentiable too (it is the transposed convolution that upsamples in
//! the decoder): d/d(dy) is a forward convolution of the incoming gradient, d/dw a weight
//! gradient with the roles of input and output gradient exchanged. `conv3d_weight_grad` is not
//! differentiated (no second-order use).

use super::Conv3dBackend;
use burn::backend::autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
    Autodiff,
};
use burn::backend::tensor::FloatTensor;
use burn::backend::AutodiffBackend;
use burn::backend::{Backend, TensorMetadata};

#[derive(Debug)]
struct ForwardBackward {
    input: [usize; 3],
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl<B: Backend + Conv3dBackend> Backward<B, 2> for ForwardBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, w) = ops.state;
        if let Some(node) = node_w {
            let gw = B::conv3d_weight_grad(x, grad.clone(), self.kernel, self.stride, self.padding);
            grads.register::<B>(node.id, gw);
        }
        if let Some(node) = node_x {
            let gx = B::conv3d_input_grad(grad, w, self.input, self.stride, self.padding);
            grads.register::<B>(node.id, gx);
        }
    }
}

#[derive(Debug)]
struct InputGradBackward {
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl<B: Backend + Conv3dBackend> Backward<B, 2> for InputGradBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_dy, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (dy, w) = ops.state;
        if let Some(node) = node_w {
            // The input gradient is linear in dy and w: <g, A_w^T dy> = <A_w g, dy>.
            let gw =
                B::conv3d_weight_grad(grad.clone(), dy, self.kernel, self.stride, self.padding);
            grads.register::<B>(node.id, gw);
        }
        if let Some(node) = node_dy {
            let gdy = B::conv3d_forward(grad, w, self.stride, self.padding);
            grads.register::<B>(node.id, gdy);
        }
    }
}

impl<B: Backend + Conv3dBackend, C: CheckpointStrategy> Conv3dBackend for Autodiff<B, C> {
    fn conv3d_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let xs = x.primitive().shape();
        let kernel = weight.primitive().shape()[2];
        let step = ForwardBackward {
            input: [xs[2], xs[3], xs[4]],
            kernel,
            stride,
            padding,
        };
        match step
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let xp = x.primitive().clone();
                let wp = weight.primitive().clone();
                let out = B::conv3d_forward(xp.clone(), wp.clone(), stride, padding);
                prep.finish((xp, wp), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv3d_forward(
                x.into_primitive(),
                weight.into_primitive(),
                stride,
                padding,
            )),
        }
    }

    fn conv3d_input_grad(
        dy: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        input: [usize; 3],
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let kernel = weight.primitive().shape()[2];
        let step = InputGradBackward {
            kernel,
            stride,
            padding,
        };
        match step
            .prepare::<C>([dy.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let dyp = dy.primitive().clone();
                let wp = weight.primitive().clone();
                let out = B::conv3d_input_grad(dyp.clone(), wp.clone(), input, stride, padding);
                prep.finish((dyp, wp), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv3d_input_grad(
                dy.into_primitive(),
                weight.into_primitive(),
                input,
                stride,
                padding,
            )),
        }
    }

    fn conv3d_weight_grad(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        <Self as AutodiffBackend>::from_inner(B::conv3d_weight_grad(
            <Self as AutodiffBackend>::inner(x),
            <Self as AutodiffBackend>::inner(dy),
            kernel,
            stride,
            padding,
        ))
    }
}
