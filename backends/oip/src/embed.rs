//! `/v1/embeddings` on a v2 model: the texts as one BYTES tensor (`[n]`, or `[n, 1]` where the
//! model's input has two dimensions), the vectors read from the output tensor, one row each.

use base64::Engine;
use omnigate_backend::{
    BackendError, Datatype, Embedding, EmbeddingInput, EmbeddingVector, EmbeddingsRequest,
    EmbeddingsResponse, InferRequest, InferResponse, Tensor, TensorSpec, Usage,
};
use serde_json::{Map, Value};

/// The inference request for `request`'s inputs: texts as a BYTES tensor, or the tensor the
/// gateway made from media, whichever the model's embedding input takes.
pub(crate) fn request(
    request: &EmbeddingsRequest,
    input: &TensorSpec,
    output: &str,
) -> Result<InferRequest, BackendError> {
    let refuse = |message: String| BackendError::Rejected {
        status: 400,
        message,
        param: Some("input".to_owned()),
    };
    let takes_text = input.datatype == Datatype::Bytes;
    let tensor = match (&request.input, takes_text) {
        (EmbeddingInput::Text(texts), true) => {
            let n = texts.len() as u64;
            let shape = if input.shape.len() == 2 {
                vec![n, 1]
            } else {
                vec![n]
            };
            Tensor::from_strings(input.name.clone(), shape, texts).map_err(refuse)?
        }
        (EmbeddingInput::Media(tensor), false) if tensor.name == input.name => tensor.clone(),
        (EmbeddingInput::Media(tensor), false) => {
            return Err(refuse(format!(
                "This model embeds its input `{}`; the media were made for `{}`.",
                input.name, tensor.name
            )));
        }
        (EmbeddingInput::Tokens(_), true) => {
            return Err(refuse(
                "This model embeds text; token ids cannot be sent to it.".to_owned(),
            ));
        }
        (_, true) => {
            return Err(refuse(
                "This model embeds text; it takes no pictures or sounds.".to_owned(),
            ));
        }
        (_, false) => {
            return Err(refuse(format!(
                "This model embeds media (its input `{}`); send `image_url` (or `audio_url`, `video_url`) items as `input`.",
                input.name
            )));
        }
    };
    Ok(InferRequest {
        model: request.model.clone(),
        id: None,
        inputs: vec![tensor],
        outputs: vec![output.to_owned()],
        parameters: Map::new(),
    })
}

/// One vector per text from the output `output` (`[n, d]`; `[d]` for a single text).
pub(crate) fn response(
    request: &EmbeddingsRequest,
    answer: InferResponse,
    output: &str,
) -> Result<EmbeddingsResponse, BackendError> {
    let n = request.input.len();
    let bad =
        |what: String| BackendError::BadResponse(format!("embeddings from the v2 server: {what}"));
    let tensor = answer
        .outputs
        .into_iter()
        .find(|t| t.name == output)
        .ok_or_else(|| bad(format!("no output `{output}`")))?;
    let dim = match tensor.shape.as_slice() {
        [rows, dim] if *rows == n as u64 => *dim,
        [dim] if n == 1 => *dim,
        shape => return Err(bad(format!("output `{output}` is {shape:?} for {n} texts"))),
    };
    let dim = usize::try_from(dim).map_err(|e| bad(e.to_string()))?;
    if let Some(asked) = request.dimensions
        && asked as usize != dim
    {
        return Err(BackendError::Rejected {
            status: 400,
            message: format!("This model's vectors have {dim} dimensions, not {asked}."),
            param: Some("dimensions".to_owned()),
        });
    }
    let base64 = request.extra.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data = if tensor.datatype == Datatype::Fp32 {
        // The rows are already little-endian f32s: what base64 wants, and cheap to read.
        tensor
            .data
            .chunks_exact(dim * 4)
            .map(|row| {
                if base64 {
                    EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(row))
                } else {
                    EmbeddingVector::Float(
                        row.chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                    )
                }
            })
            .collect::<Vec<_>>()
    } else {
        let values = tensor
            .to_f64s()
            .ok_or_else(|| bad(format!("output `{output}` is {}", tensor.datatype)))?;
        values
            .chunks_exact(dim.max(1))
            .map(|row| {
                let floats: Vec<f32> = row.iter().map(|v| *v as f32).collect();
                if base64 {
                    let bytes: Vec<u8> = floats.iter().flat_map(|v| v.to_le_bytes()).collect();
                    EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
                } else {
                    EmbeddingVector::Float(floats)
                }
            })
            .collect()
    };
    Ok(EmbeddingsResponse {
        object: "list".to_owned(),
        data: data
            .into_iter()
            .enumerate()
            .map(|(i, embedding)| Embedding {
                object: "embedding".to_owned(),
                index: i as u32,
                embedding,
            })
            .collect(),
        model: request.model.clone(),
        // A v2 server does not count tokens.
        usage: Usage::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(items: &[&str]) -> EmbeddingsRequest {
        EmbeddingsRequest {
            model: "m".into(),
            input: EmbeddingInput::Text(items.iter().map(|s| s.to_string()).collect()),
            dimensions: None,
            extra: Map::new(),
        }
    }

    #[test]
    fn texts_become_one_bytes_tensor_and_rows_become_vectors() {
        let spec = TensorSpec {
            name: "text".into(),
            datatype: Datatype::Bytes,
            shape: vec![-1, 1],
        };
        let asked = texts(&["a", "bc"]);
        let infer = request(&asked, &spec, "emb").unwrap();
        assert_eq!(infer.inputs[0].shape, [2, 1]);
        assert_eq!(infer.inputs[0].strings().unwrap(), [b"a" as &[u8], b"bc"]);
        let answer = InferResponse {
            outputs: vec![Tensor::from_f32("emb", vec![2, 2], &[1.0, 2.0, 3.0, 4.0])],
            ..InferResponse::default()
        };
        let embedded = response(&asked, answer.clone(), "emb").unwrap();
        assert_eq!(
            embedded.data[1].embedding,
            EmbeddingVector::Float(vec![3.0, 4.0])
        );
        let mut b64 = asked.clone();
        b64.extra.insert("encoding_format".into(), "base64".into());
        let embedded = response(&b64, answer.clone(), "emb").unwrap();
        assert_eq!(
            embedded.data[0].embedding,
            EmbeddingVector::Base64("AACAPwAAAEA=".into())
        );
        let wrong = response(&texts(&["a", "b", "c"]), answer, "emb").unwrap_err();
        assert!(matches!(wrong, BackendError::BadResponse(_)), "{wrong:?}");
    }
}
