//! Reordering host values between the layouts files store and products want.

/// The transpose of a row-major `[rows, cols]` matrix, row-major `[cols, rows]`: a file's
/// `[out, in]` weight as the `[in, out]` right-hand side of a product (without a strided view
/// at run time), or a product computed output row by output row put back in input order.
pub fn transposed(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for (r, row) in values.chunks_exact(cols.max(1)).enumerate().take(rows) {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + r] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::transposed;

    #[test]
    fn transposes_a_rectangular_matrix() {
        // [[1, 2, 3], [4, 5, 6]] -> [[1, 4], [2, 5], [3, 6]]
        assert_eq!(
            transposed(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        assert_eq!(transposed(&[], 0, 0), Vec::<f32>::new());
    }
}
