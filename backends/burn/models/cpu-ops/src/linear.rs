//! A `Linear` layer applied to all rows of a batch as one matrix product.

use burn::nn::Linear;
use burn::tensor::Tensor;

/// `linear` on `[batch, seq, in]` → `[batch, seq, out]`, computed as one `[batch·seq, in]`
/// product: flex would otherwise run one small product per batch item and pack the weight
/// matrix for each.
pub fn linear_rows(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [batch, seq, width] = x.dims();
    let y = linear.forward(x.reshape([batch * seq, width]));
    let [_, out] = y.dims();
    y.reshape([batch, seq, out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Tolerance};

    #[test]
    fn equals_the_batched_linear() {
        let device = Device::flex();
        let linear = LinearConfig::new(5, 3).init(&device);
        let x = Tensor::<3>::random(
            [4, 7, 5],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let expected = linear.forward(x.clone()).into_data();
        linear_rows(&linear, x)
            .into_data()
            .assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-6));
    }
}
