//! [`Conv3dBackend`] for burn's CPU backends: on Flex our channels-last path ([`super::cpu`])
//! for f32 tensors, burn's own convolution ops for other types and on NdArray (the tests'
//! independent reference).
#![allow(deprecated)] // burn 0.22 marks NdArray deprecated in favour of Flex; it is our CPU reference.

use super::{cpu, Conv3dBackend};
use burn::backend::ops::{ConvOptions, ConvTransposeOptions};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, FloatDType, NdArray, TensorMetadata};
use burn::tensor::Shape;

fn forward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    stride: usize,
    padding: usize,
) -> FloatTensor<B> {
    let options = ConvOptions::new([stride; 3], [padding; 3], [1; 3], 1);
    B::conv3d(x, weight, None, options)
}

fn input_grad<B: Backend>(
    dy: FloatTensor<B>,
    weight: FloatTensor<B>,
    input: [usize; 3],
    stride: usize,
    padding: usize,
) -> FloatTensor<B> {
    let k = weight.shape()[2];
    let o = dy.shape();
    // conv_transpose3d gives (o - 1) * s - 2p + k; padding_out makes up the remainder.
    let mut pad_out = [0; 3];
    for a in 0..3 {
        pad_out[a] = input[a] + 2 * padding - ((o[a + 2] - 1) * stride + k);
    }
    let options = ConvTransposeOptions::new([stride; 3], [padding; 3], pad_out, [1; 3], 1);
    B::conv_transpose3d(dy, weight, None, options)
}

fn weight_grad<B: Backend>(
    x: FloatTensor<B>,
    dy: FloatTensor<B>,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> FloatTensor<B> {
    let ci = x.shape()[1];
    let co = dy.shape()[1];
    let device = x.device();
    let w = B::float_zeros(
        Shape::from(vec![co, ci, kernel, kernel, kernel]),
        &device,
        FloatDType::F32,
    );
    let options = ConvOptions::new([stride; 3], [padding; 3], [1; 3], 1);
    B::conv3d_weight_backward(x, w, dy, options)
}

macro_rules! burn_conv3d_backend {
    ($backend:ty) => {
        impl Conv3dBackend for $backend {
            fn conv3d_forward(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                stride: usize,
                padding: usize,
            ) -> FloatTensor<Self> {
                forward::<Self>(x, weight, stride, padding)
            }

            fn conv3d_input_grad(
                dy: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                input: [usize; 3],
                stride: usize,
                padding: usize,
            ) -> FloatTensor<Self> {
                input_grad::<Self>(dy, weight, input, stride, padding)
            }

            fn conv3d_weight_grad(
                x: FloatTensor<Self>,
                dy: FloatTensor<Self>,
                kernel: usize,
                stride: usize,
                padding: usize,
            ) -> FloatTensor<Self> {
                weight_grad::<Self>(x, dy, kernel, stride, padding)
            }
        }
    };
}

burn_conv3d_backend!(NdArray);

impl Conv3dBackend for Flex {
    fn conv3d_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        if cpu::takes(x.dtype()) && cpu::takes(weight.dtype()) {
            cpu::forward(x, weight, stride, padding)
        } else {
            forward::<Self>(x, weight, stride, padding)
        }
    }

    fn conv3d_input_grad(
        dy: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        input: [usize; 3],
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        if cpu::takes(dy.dtype()) && cpu::takes(weight.dtype()) {
            cpu::input_grad(dy, weight, input, stride, padding)
        } else {
            input_grad::<Self>(dy, weight, input, stride, padding)
        }
    }

    fn conv3d_weight_grad(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        if cpu::takes(x.dtype()) && cpu::takes(dy.dtype()) {
            cpu::weight_grad(x, dy, kernel, stride, padding)
        } else {
            weight_grad::<Self>(x, dy, kernel, stride, padding)
        }
    }
}
