//! Turning a batch of [`Tokenized`] texts into the padded tensors the encoder takes.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::{MiniLmError, Tokenized};

/// Padding id of the BERT vocabulary (`[PAD]`). Its value never matters: padded keys are
/// masked out of attention and padded positions out of pooling.
const PAD_ID: u32 = 0;

/// A batch padded (on the right) to its longest item.
pub(crate) struct PaddedBatch {
    /// Token ids `[batch, seq]`.
    pub ids: Tensor<2, Int>,
    /// `[batch, 1, seq, seq]`, `true` where the key position is padding; the same for
    /// every query row and head. `None` when every item has the full length, so
    /// equal-length batches skip masking entirely.
    pub padding_mask: Option<Tensor<4, Bool>>,
    /// `[batch, seq]`, 1.0 on real tokens and 0.0 on padding, for mean pooling.
    pub token_mask: Tensor<2>,
}

/// Limits an item must respect to be fed to the model.
#[derive(Debug)]
pub(crate) struct InputLimits {
    pub max_tokens: usize,
    pub vocab_size: usize,
}

impl PaddedBatch {
    /// Pads `items` to the longest one. Rejects empty items, items longer than
    /// `limits.max_tokens` and ids outside the vocabulary (the public `ids` field can be
    /// filled by hand, and an out-of-range id would index past the embedding table).
    pub fn new(
        items: &[Tokenized],
        limits: &InputLimits,
        device: &Device,
    ) -> Result<Self, MiniLmError> {
        for (index, item) in items.iter().enumerate() {
            check_item(index, item, limits)?;
        }
        let batch = items.len();
        let seq = items.iter().map(|item| item.ids.len()).max().unwrap_or(0);

        let mut ids = Vec::with_capacity(batch * seq);
        let mut token_mask = Vec::with_capacity(batch * seq);
        for item in items {
            let padding = seq - item.ids.len();
            ids.extend(item.ids.iter().map(|&id| id as i32));
            ids.extend(std::iter::repeat_n(PAD_ID as i32, padding));
            token_mask.extend(std::iter::repeat_n(1.0f32, item.ids.len()));
            token_mask.extend(std::iter::repeat_n(0.0f32, padding));
        }

        let padded = items.iter().any(|item| item.ids.len() < seq);
        let padding_mask = padded.then(|| {
            // The kernel wants the trailing [seq_q, seq_kv] dims spelled out (a broadcast
            // query dim would be expanded per head inside it); the head dim of 1 is free.
            let mut mask = Vec::with_capacity(batch * seq * seq);
            for item in items {
                let key_is_padding: Vec<bool> = (0..seq).map(|k| k >= item.ids.len()).collect();
                for _query in 0..seq {
                    mask.extend_from_slice(&key_is_padding);
                }
            }
            Tensor::<4, Bool>::from_data(TensorData::new(mask, [batch, 1, seq, seq]), device)
        });

        Ok(Self {
            ids: Tensor::from_data(TensorData::new(ids, [batch, seq]), device),
            padding_mask,
            token_mask: Tensor::from_data(TensorData::new(token_mask, [batch, seq]), device),
        })
    }
}

fn check_item(index: usize, item: &Tokenized, limits: &InputLimits) -> Result<(), MiniLmError> {
    let invalid = |reason: String| MiniLmError::InvalidInput { index, reason };
    if item.ids.is_empty() {
        return Err(invalid(
            "no token ids (even an empty text has [CLS] and [SEP])".to_owned(),
        ));
    }
    if item.ids.len() > limits.max_tokens {
        return Err(invalid(format!(
            "{} tokens, more than the model's {}",
            item.ids.len(),
            limits.max_tokens
        )));
    }
    if let Some(id) = item
        .ids
        .iter()
        .find(|&&id| id as usize >= limits.vocab_size)
    {
        return Err(invalid(format!(
            "token id {id} outside the vocabulary of {}",
            limits.vocab_size
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn item(ids: &[u32]) -> Tokenized {
        Tokenized {
            ids: ids.to_vec(),
            tokens: ids.len(),
            truncated: false,
        }
    }

    const LIMITS: InputLimits = InputLimits {
        max_tokens: 4,
        vocab_size: 100,
    };

    #[test]
    fn pads_to_the_longest_item_and_masks_padding_keys() {
        let device = Device::flex();
        let batch = PaddedBatch::new(&[item(&[1, 2, 3]), item(&[4])], &LIMITS, &device).unwrap();

        let ids: Vec<i64> = batch
            .ids
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .unwrap();
        assert_eq!(ids, [1, 2, 3, 4, 0, 0]);
        let tokens: Vec<f32> = batch.token_mask.into_data().try_into_vec().unwrap();
        assert_eq!(tokens, [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);

        let mask = batch.padding_mask.unwrap();
        assert_eq!(mask.dims(), [2, 1, 3, 3]);
        let mask: Vec<bool> = mask.into_data().try_into_vec().unwrap();
        let first = [false; 9];
        let second = [false, true, true].repeat(3);
        assert_eq!(mask, [&first[..], &second[..]].concat());
    }

    #[test]
    fn equal_lengths_need_no_mask() {
        let device = Device::flex();
        let batch = PaddedBatch::new(&[item(&[1, 2]), item(&[3, 4])], &LIMITS, &device).unwrap();
        assert!(batch.padding_mask.is_none());
    }

    #[test]
    fn rejects_items_the_model_cannot_take() {
        let device = Device::flex();
        for (bad, expected) in [
            (item(&[]), "no token ids"),
            (item(&[1, 2, 3, 4, 5]), "5 tokens"),
            (item(&[1, 100]), "token id 100"),
        ] {
            let error = PaddedBatch::new(&[item(&[1]), bad], &LIMITS, &device)
                .err()
                .unwrap();
            let message = error.to_string();
            assert!(message.contains("batch item 1"), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }
}
