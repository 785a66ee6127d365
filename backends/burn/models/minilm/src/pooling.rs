//! Sentence-transformers' `Pooling` (mean over real tokens) and `Normalize` (L2) steps.

use burn::tensor::Tensor;

/// Mean of `hidden` `[batch, seq, width]` over the tokens where `token_mask`
/// `[batch, seq]` is 1 (0 marks padding). A row with no tokens gives zeros rather than
/// NaN, as sentence-transformers' clamp of the token count does.
pub(crate) fn mean_pool(hidden: Tensor<3>, token_mask: Tensor<2>) -> Tensor<2> {
    let token_mask = token_mask.unsqueeze_dim::<3>(2);
    let summed = (hidden * token_mask.clone()).sum_dim(1).squeeze_dim::<2>(1);
    let counts = token_mask.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1e-9);
    summed / counts
}

/// Scales every row of `vectors` `[batch, width]` to unit Euclidean length. The norm is
/// clamped like `torch.nn.functional.normalize`, so an all-zero row stays zero.
pub(crate) fn l2_normalize(vectors: Tensor<2>) -> Tensor<2> {
    let norms = vectors.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    vectors / norms
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use burn::tensor::{Device, TensorData};

    use super::*;

    fn rows(tensor: Tensor<2>) -> Vec<Vec<f32>> {
        let [_, width] = tensor.dims();
        let flat: Vec<f32> = tensor.into_data().try_into_vec().unwrap();
        flat.chunks(width).map(<[f32]>::to_vec).collect()
    }

    fn assert_close(actual: &[Vec<f32>], expected: &[&[f32]]) {
        assert_eq!(actual.len(), expected.len());
        for (row, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert_eq!(a.len(), e.len(), "row {row}");
            for (col, (x, y)) in a.iter().zip(e.iter()).enumerate() {
                assert!((x - y).abs() < 1e-6, "row {row} col {col}: {x} != {y}");
            }
        }
    }

    #[test]
    fn mean_pool_averages_only_unmasked_tokens() {
        let device = Device::flex();
        // Two items, three positions, width 2; the second item's last token is padding
        // with a large value that must not leak into its mean.
        let hidden = Tensor::<3>::from_data(
            TensorData::new(
                vec![
                    1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, 30.0, 40.0, 999.0, -999.0,
                ],
                [2, 3, 2],
            ),
            &device,
        );
        let mask = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 1.0, 1.0, 1.0, 1.0, 0.0], [2, 3]),
            &device,
        );
        let pooled = rows(mean_pool(hidden, mask));
        assert_close(&pooled, &[&[3.0, 4.0], &[20.0, 30.0]]);
    }

    #[test]
    fn mean_pool_of_a_fully_masked_row_is_zero_not_nan() {
        let device = Device::flex();
        let hidden =
            Tensor::<3>::from_data(TensorData::new(vec![7.0f32, -7.0], [1, 1, 2]), &device);
        let mask = Tensor::<2>::from_data(TensorData::new(vec![0.0f32], [1, 1]), &device);
        assert_close(&rows(mean_pool(hidden, mask)), &[&[0.0, 0.0]]);
    }

    #[test]
    fn l2_normalize_gives_unit_rows_with_the_same_direction() {
        let device = Device::flex();
        let vectors = Tensor::<2>::from_data(
            TensorData::new(vec![3.0f32, 4.0, -0.5, 0.0, 0.0, 0.0], [3, 2]),
            &device,
        );
        let normalized = rows(l2_normalize(vectors));
        // The zero row stays zero instead of dividing by zero.
        assert_close(&normalized, &[&[0.6, 0.8], &[-1.0, 0.0], &[0.0, 0.0]]);
    }
}
