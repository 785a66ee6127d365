//! The model's metadata against what the gateway will send it: checked when the backend starts
//! and again after every reconnect (a restarted server may serve another model), and each
//! request's inputs checked against it before anything is sent.

use omnigate_backend::{BackendError, Datatype, Signature, Tensor, TensorSpec};

/// What the gateway's config says the model takes, each with the config key that says it.
#[derive(Debug, Clone, Default)]
pub struct Contract {
    /// The deployment's config key (`models.NAME.deployments[i]`).
    pub deployment_key: String,
    /// Inputs the gateway makes from media.
    pub media_inputs: Vec<MediaInput>,
    /// The tensors `/v1/embeddings` uses, when the model serves embeddings.
    pub embedding: Option<EmbeddingTensors>,
}

/// One input made from media: the tensor every request will carry.
#[derive(Debug, Clone)]
pub struct MediaInput {
    /// The input's name.
    pub name: String,
    /// Its config key (`models.NAME.inputs.INPUT`).
    pub key: String,
    /// The element type sent.
    pub datatype: Datatype,
    /// The shape sent, without a batch dimension; `-1` where it varies (a sound's length).
    pub shape: Vec<i64>,
    /// Where the fixed dimensions come from, for the error (e.g. `models.m.image.tensor_size`).
    pub shape_key: String,
}

/// The input and output `/v1/embeddings` uses; `None` picks the model's only candidate.
#[derive(Debug, Clone, Default)]
pub struct EmbeddingTensors {
    /// The input embedded: a BYTES input the texts go to, or an input made from media.
    pub input: Option<String>,
    /// The output holding the vectors.
    pub output: Option<String>,
}

/// A mismatch between the config and the server's model, naming the config key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The key whose value does not fit.
    pub key: String,
    /// What does not fit.
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

/// The model's metadata, checked against the contract.
#[derive(Debug, Clone)]
pub struct Verified {
    /// What the server says the model takes and gives.
    pub signature: Signature,
    /// The embeddings input and output, resolved.
    pub embedding: Option<(TensorSpec, String)>,
}

/// Checks `signature` against `contract`.
pub fn verify(contract: &Contract, signature: Signature) -> Result<Verified, Mismatch> {
    for media in &contract.media_inputs {
        let Some(spec) = signature.inputs.iter().find(|s| s.name == media.name) else {
            return Err(Mismatch {
                key: media.key.clone(),
                message: format!(
                    "the server's model has no input `{}`; it has {}",
                    media.name,
                    names(&signature.inputs)
                ),
            });
        };
        if spec.datatype != media.datatype {
            return Err(Mismatch {
                key: format!("{}.datatype", media.key),
                message: format!(
                    "the server's input `{}` is {}, not {}",
                    spec.name, spec.datatype, media.datatype
                ),
            });
        }
        if !shape_compatible(&spec.shape, &media.shape) {
            return Err(Mismatch {
                key: media.shape_key.clone(),
                message: format!(
                    "makes `{}` {:?}, which the server's {:?} does not take",
                    spec.name, media.shape, spec.shape
                ),
            });
        }
    }
    let embedding = contract
        .embedding
        .as_ref()
        .map(|e| embedding_tensors(e, contract, &signature))
        .transpose()?;
    Ok(Verified {
        signature,
        embedding,
    })
}

fn embedding_tensors(
    names_asked: &EmbeddingTensors,
    contract: &Contract,
    signature: &Signature,
) -> Result<(TensorSpec, String), Mismatch> {
    let deployment_key = &contract.deployment_key;
    let mismatch = |field: &str, message: String| Mismatch {
        key: format!("{deployment_key}.{field}"),
        message,
    };
    let made_from_media =
        |spec: &TensorSpec| contract.media_inputs.iter().any(|m| m.name == spec.name);
    // Unnamed: the only BYTES input (texts), else the only input made from media (pictures
    // or sounds, for CLIP/SigLIP-style encoders).
    let input = match &names_asked.input {
        Some(name) => signature.inputs.iter().find(|s| &s.name == name),
        None => only(
            signature
                .inputs
                .iter()
                .filter(|s| s.datatype == Datatype::Bytes),
        )
        .or_else(|| only(signature.inputs.iter().filter(|s| made_from_media(s)))),
    };
    let input = input.ok_or_else(|| {
        mismatch(
            "embedding_input",
            format!(
                "name the BYTES input that takes the texts, or the input the model's `inputs` make from media; the server's model has {}",
                names(&signature.inputs)
            ),
        )
    })?;
    let texts = input.datatype == Datatype::Bytes && (1..=2).contains(&input.shape.len());
    if !texts && !made_from_media(input) {
        return Err(mismatch(
            "embedding_input",
            format!(
                "`{}` is {} {:?}; texts need a BYTES input of shape [-1] or [-1, 1], and media an input named in the model's `inputs`",
                input.name, input.datatype, input.shape
            ),
        ));
    }
    let output = match &names_asked.output {
        Some(name) => signature.outputs.iter().find(|s| &s.name == name),
        None => only(signature.outputs.iter()),
    };
    let output = output.ok_or_else(|| {
        mismatch(
            "embedding_output",
            format!(
                "name the output holding the vectors; the server's model has {}",
                names(&signature.outputs)
            ),
        )
    })?;
    if output.datatype == Datatype::Bytes {
        return Err(mismatch(
            "embedding_output",
            format!("`{}` is BYTES, not numbers", output.name),
        ));
    }
    Ok((input.clone(), output.name.clone()))
}

fn only<'a>(mut specs: impl Iterator<Item = &'a TensorSpec>) -> Option<&'a TensorSpec> {
    let first = specs.next()?;
    specs.next().is_none().then_some(first)
}

fn names(specs: &[TensorSpec]) -> String {
    if specs.is_empty() {
        return "none".to_owned();
    }
    specs
        .iter()
        .map(|s| format!("`{}` ({} {:?})", s.name, s.datatype, s.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the server's `declared` shape takes tensors of `ours` (with `-1` for a dimension that
/// varies), directly or with a leading batch dimension of 1.
fn shape_compatible(declared: &[i64], ours: &[i64]) -> bool {
    let same = |declared: &[i64]| {
        declared.len() == ours.len()
            && declared
                .iter()
                .zip(ours)
                .all(|(d, o)| *d < 0 || (*o >= 0 && d == o))
    };
    same(declared) || (declared.len() == ours.len() + 1 && declared[0] <= 1 && same(&declared[1..]))
}

/// Checks a request's inputs against the model's inputs, before anything is sent, and gives a
/// leading batch dimension of 1 to a tensor one dimension short of its input. A mismatch is the
/// client's: a 400 naming the input (`inputs[i]`).
pub fn check_inputs(signature: &Signature, inputs: &mut [Tensor]) -> Result<(), BackendError> {
    for i in 0..inputs.len() {
        let (before, rest) = inputs.split_at_mut(i);
        let tensor = &mut rest[0];
        let refuse = |field: &str, message: String| BackendError::Rejected {
            status: 400,
            message: format!("inputs[{i}] (`{}`): {message}", tensor.name),
            param: Some(format!("inputs[{i}].{field}")),
        };
        if before.iter().any(|t| t.name == tensor.name) {
            return Err(refuse("name", "given twice".to_owned()));
        }
        let Some(spec) = signature.inputs.iter().find(|s| s.name == tensor.name) else {
            return Err(refuse(
                "name",
                format!(
                    "the model has no such input; it has {}",
                    names(&signature.inputs)
                ),
            ));
        };
        if spec.datatype != tensor.datatype {
            return Err(refuse(
                "datatype",
                format!("the model takes {}, not {}", spec.datatype, tensor.datatype),
            ));
        }
        if !spec.fits(&tensor.shape) {
            let batched: Vec<u64> = std::iter::once(1)
                .chain(tensor.shape.iter().copied())
                .collect();
            if !spec.fits(&batched) {
                return Err(refuse(
                    "shape",
                    format!(
                        "shape {:?} does not fit the model's {:?}",
                        tensor.shape, spec.shape
                    ),
                ));
            }
            tensor.shape = batched;
        }
        if let Err(why) = tensor.check() {
            return Err(refuse("data", why));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, datatype: Datatype, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            datatype,
            shape: shape.to_vec(),
        }
    }

    fn image_model() -> Signature {
        Signature {
            inputs: vec![
                spec("pixel_values", Datatype::Fp32, &[-1, 3, 224, 224]),
                spec("text", Datatype::Bytes, &[-1]),
            ],
            outputs: vec![spec("embedding", Datatype::Fp32, &[-1, 8])],
        }
    }

    fn image_input(shape: &[i64]) -> MediaInput {
        MediaInput {
            name: "pixel_values".into(),
            key: "models.m.inputs.pixel_values".into(),
            datatype: Datatype::Fp32,
            shape: shape.to_vec(),
            shape_key: "models.m.image.tensor_size".into(),
        }
    }

    #[test]
    fn a_contract_that_fits_resolves_the_embedding_tensors() {
        let contract = Contract {
            deployment_key: "models.m.deployments[0]".into(),
            media_inputs: vec![image_input(&[3, 224, 224])],
            embedding: Some(EmbeddingTensors::default()),
        };
        let verified = verify(&contract, image_model()).unwrap();
        let (input, output) = verified.embedding.unwrap();
        assert_eq!(
            (input.name.as_str(), output.as_str()),
            ("text", "embedding")
        );
    }

    #[test]
    fn an_input_made_from_media_can_be_the_embedding_input() {
        let picture_only = Signature {
            inputs: vec![spec("pixel_values", Datatype::Fp32, &[-1, 3, 224, 224])],
            ..image_model()
        };
        let contract = Contract {
            deployment_key: "k".into(),
            media_inputs: vec![image_input(&[3, 224, 224])],
            embedding: Some(EmbeddingTensors::default()),
        };
        // Unnamed and no BYTES input: the one input made from media.
        let (input, _) = verify(&contract, picture_only.clone())
            .unwrap()
            .embedding
            .unwrap();
        assert_eq!(input.name, "pixel_values");
        // Named, beside a text input.
        let named = Contract {
            embedding: Some(EmbeddingTensors {
                input: Some("pixel_values".into()),
                output: None,
            }),
            ..contract
        };
        let (input, _) = verify(&named, image_model()).unwrap().embedding.unwrap();
        assert_eq!(input.name, "pixel_values");
        // Not made from media and not text: refused, naming the key.
        let bare = Contract {
            media_inputs: Vec::new(),
            ..named
        };
        assert_eq!(
            verify(&bare, picture_only).unwrap_err().key,
            "k.embedding_input"
        );
    }

    #[test]
    fn mismatches_name_the_config_key() {
        let contract = |input: MediaInput| Contract {
            media_inputs: vec![input],
            ..Contract::default()
        };
        let err = verify(&contract(image_input(&[3, 256, 256])), image_model()).unwrap_err();
        assert_eq!(err.key, "models.m.image.tensor_size");
        assert!(err.message.contains("[-1, 3, 224, 224]"), "{err}");
        let mut wrong_type = image_input(&[3, 224, 224]);
        wrong_type.datatype = Datatype::Fp16;
        let err = verify(&contract(wrong_type), image_model()).unwrap_err();
        assert_eq!(err.key, "models.m.inputs.pixel_values.datatype");
        let mut missing = image_input(&[3, 224, 224]);
        missing.name = "image".into();
        let err = verify(&contract(missing), image_model()).unwrap_err();
        assert!(err.message.contains("`pixel_values` (FP32"), "{err}");
        let named = Contract {
            deployment_key: "k".into(),
            media_inputs: Vec::new(),
            embedding: Some(EmbeddingTensors {
                input: Some("pixel_values".into()),
                output: None,
            }),
        };
        assert_eq!(
            verify(&named, image_model()).unwrap_err().key,
            "k.embedding_input"
        );
    }

    #[test]
    fn inputs_are_checked_and_batched_before_sending() {
        let signature = image_model();
        let mut ok = vec![Tensor::from_f32(
            "pixel_values",
            vec![3, 224, 224],
            &vec![0.0; 3 * 224 * 224],
        )];
        check_inputs(&signature, &mut ok).unwrap();
        assert_eq!(ok[0].shape, [1, 3, 224, 224]);

        let refused = |mut inputs: Vec<Tensor>| match check_inputs(&signature, &mut inputs) {
            Err(BackendError::Rejected {
                status: 400,
                param,
                message,
            }) => (param.unwrap(), message),
            other => panic!("expected a 400, got {other:?}"),
        };
        let (param, message) = refused(vec![Tensor::from_f32(
            "pixel_values",
            vec![3, 224],
            &vec![0.0; 672],
        )]);
        assert_eq!(param, "inputs[0].shape");
        assert!(message.contains("`pixel_values`"), "{message}");
        let (param, _) = refused(vec![
            Tensor::from_strings("pixel_values", vec![1], &["x"]).unwrap(),
        ]);
        assert_eq!(param, "inputs[0].datatype");
        let text = Tensor::from_strings("text", vec![1], &["x"]).unwrap();
        let (param, _) = refused(vec![text.clone(), text.clone()]);
        assert_eq!(param, "inputs[1].name");
        let (param, message) = refused(vec![Tensor::from_f32("nope", vec![1], &[0.0])]);
        assert_eq!(param, "inputs[0].name");
        assert!(message.contains("`text` (BYTES [-1])"), "{message}");
        let (param, _) = refused(vec![Tensor {
            shape: vec![2],
            ..text
        }]);
        assert_eq!(param, "inputs[0].data");
    }
}
