//! Media given for a v2 tensor input (`POST /v2/models/{m}/infer`): fetched, decoded and shaped
//! by the same pass as chat media (budgets, fetch policy, decode pool, the model's contract),
//! then laid out as the tensor the model's config declares for that input: a picture as
//! `[3, H, W]` (NCHW) or `[H, W, 3]` (NHWC), a video's frames as `[frames, ...]` of the same, a
//! sound as `[samples]` (`[samples, channels]` when channels are kept), each as FP32, FP16 or
//! FP64. The batch dimension is added by the backend where the model's input has one.

use super::{MediaContract, MediaTarget, NormalizeError, Normalizer};
use omnigate_backend::{
    Audio, ContentPart, Datatype, ImageData, ImageTensor, MessageContent, Modality, Tensor,
};
use omnigate_config::{TensorInput, TensorLayout, TensorMedia};
use omnigate_openapi::{
    ChatMessage, ChatRole, ContentPart as ApiPart, ImageUrl, MediaUrl, MediaUsage,
    MessageContent as ApiContent,
};
use std::collections::BTreeSet;

/// One input given as media.
pub struct MediaInput {
    /// Its position in the request's `inputs`.
    pub index: usize,
    /// The request field it came from, as errors name it (`inputs[2].media`, `input[0]`).
    pub param: String,
    /// The model's input name.
    pub name: String,
    /// Where the media is.
    pub url: String,
    /// How the model's config says to make it.
    pub spec: TensorInput,
}

/// The tensors made, each with its input's position, and what their media cost.
pub struct MadeTensors {
    /// `(index in inputs, tensor)`.
    pub tensors: Vec<(usize, Tensor)>,
    /// For `usage`, limits and the access log.
    pub usage: MediaUsage,
}

/// Makes every media input of a request into its tensor.
pub async fn make(
    normalizer: &Normalizer,
    model: &str,
    contract: &MediaContract,
    items: Vec<MediaInput>,
) -> Result<MadeTensors, NormalizeError> {
    if items.is_empty() {
        return Ok(MadeTensors {
            tensors: Vec::new(),
            usage: MediaUsage::default(),
        });
    }
    // One user message whose parts are the media inputs, in order: the request's media budgets
    // then hold across all of them, as they do across a chat message's parts.
    let parts = items
        .iter()
        .map(|item| match item.spec.media {
            TensorMedia::Image => ApiPart::ImageUrl {
                image_url: ImageUrl {
                    url: item.url.clone(),
                    detail: None,
                },
            },
            TensorMedia::Audio => ApiPart::AudioUrl {
                audio_url: MediaUrl {
                    url: item.url.clone(),
                },
            },
            TensorMedia::Video => ApiPart::VideoUrl {
                video_url: MediaUrl {
                    url: item.url.clone(),
                },
            },
        })
        .collect();
    let message = ChatMessage {
        role: ChatRole::User,
        content: Some(ApiContent::Parts(parts)),
        extra: serde_json::Map::new(),
    };
    let modalities: BTreeSet<Modality> = items
        .iter()
        .map(|item| match item.spec.media {
            TensorMedia::Image => Modality::Image,
            TensorMedia::Audio => Modality::Audio,
            TensorMedia::Video => Modality::Video,
        })
        .collect();
    let target = MediaTarget {
        name: model,
        modalities: &modalities,
        contract,
    };
    let normalized = normalizer
        .messages(vec![message], target, None)
        .await
        .map_err(|e| renamed(e, &items))?;
    let parts = match normalized
        .messages
        .into_iter()
        .next()
        .and_then(|m| m.content)
    {
        Some(MessageContent::Parts(parts)) if parts.len() == items.len() => parts,
        _ => {
            return Err(NormalizeError::Internal(
                "the media pass returned another number of parts than it was given".to_owned(),
            ));
        }
    };
    let mut tensors = Vec::with_capacity(items.len());
    for (item, part) in items.iter().zip(parts) {
        let tensor = tensor_of(item, part).map_err(NormalizeError::Internal)?;
        tensors.push((item.index, tensor));
    }
    Ok(MadeTensors {
        tensors,
        usage: normalized.usage,
    })
}

/// The element type a media input is sent as.
pub fn datatype(spec: &TensorInput) -> Datatype {
    spec.datatype
        .as_deref()
        .and_then(Datatype::parse)
        .unwrap_or(Datatype::Fp32)
}

fn tensor_of(item: &MediaInput, part: ContentPart) -> Result<Tensor, String> {
    let layout = item.spec.layout.unwrap_or(TensorLayout::Nchw);
    let datatype = datatype(&item.spec);
    let make = |shape: Vec<u64>, values: &[f32]| {
        Tensor::from_floats(item.name.clone(), datatype, shape, values)
            .ok_or_else(|| format!("`{datatype}` cannot hold media"))
    };
    let (shape, values): (Vec<u64>, Vec<f32>) = match part {
        ContentPart::Image(image) => {
            let picture = picture_tensor(image.image)?;
            let shape = picture_shape(&picture, layout);
            return match layout {
                // The picture's own planes, without a copy on the way.
                TensorLayout::Nchw => make(shape, &picture.data),
                TensorLayout::Nhwc => make(shape, &laid_out(&picture, layout)),
            };
        }
        ContentPart::Video(video) => {
            let mut values = Vec::new();
            let mut frame_shape = Vec::new();
            let frames = video.frames.len() as u64;
            for frame in video.frames {
                let picture = picture_tensor(frame.image)?;
                frame_shape = picture_shape(&picture, layout);
                values.extend(laid_out(&picture, layout));
            }
            (std::iter::once(frames).chain(frame_shape).collect(), values)
        }
        ContentPart::Audio(audio) => (audio_shape(&audio), audio.samples.to_vec()),
        ContentPart::Text(_) => return Err("a media input came back as text".to_owned()),
    };
    make(shape, &values)
}

fn picture_tensor(image: ImageData) -> Result<ImageTensor, String> {
    match image {
        ImageData::Tensor(tensor) => Ok(tensor),
        ImageData::Encoded(_) => Err(
            "the model's image contract does not make tensors (`output = \"tensor\"`)".to_owned(),
        ),
    }
}

fn picture_shape(picture: &ImageTensor, layout: TensorLayout) -> Vec<u64> {
    let (c, h, w) = (
        u64::from(picture.channels),
        u64::from(picture.height),
        u64::from(picture.width),
    );
    match layout {
        TensorLayout::Nchw => vec![c, h, w],
        TensorLayout::Nhwc => vec![h, w, c],
    }
}

/// The picture's CHW values in `layout`.
fn laid_out(picture: &ImageTensor, layout: TensorLayout) -> Vec<f32> {
    match layout {
        TensorLayout::Nchw => picture.data.to_vec(),
        TensorLayout::Nhwc => {
            let channels = picture.channels as usize;
            let plane = picture.height as usize * picture.width as usize;
            let mut out = Vec::with_capacity(picture.data.len());
            for p in 0..plane {
                out.extend((0..channels).map(|c| picture.data[c * plane + p]));
            }
            out
        }
    }
}

fn audio_shape(audio: &Audio) -> Vec<u64> {
    let channels = u64::from(audio.channels.max(1));
    let frames = audio.samples.len() as u64 / channels;
    if channels == 1 {
        vec![frames]
    } else {
        vec![frames, channels]
    }
}

/// The media pass names a part `messages[0].content[j]`; the client sent `inputs[i].media`.
fn renamed(err: NormalizeError, items: &[MediaInput]) -> NormalizeError {
    let rename = |param: String| {
        for (j, item) in items.iter().enumerate() {
            let prefix = format!("messages[0].content[{j}]");
            if let Some(rest) = param.strip_prefix(&prefix)
                && (rest.is_empty() || rest.starts_with('.'))
            {
                return item.param.clone();
            }
        }
        param
    };
    match err {
        NormalizeError::Item {
            problem,
            message,
            param,
            code,
        } => {
            let message = message.replace(&param, &rename(param.clone()));
            NormalizeError::Item {
                problem,
                message,
                param: rename(param),
                code,
            }
        }
        NormalizeError::InvalidRequest {
            message,
            param,
            code,
        } => NormalizeError::InvalidRequest {
            message,
            param: param.map(rename),
            code,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhwc_interleaves_the_channel_planes() {
        let picture = ImageTensor {
            channels: 3,
            height: 1,
            width: 2,
            data: vec![1.0, 2.0, 10.0, 20.0, 100.0, 200.0].into(),
        };
        assert_eq!(picture_shape(&picture, TensorLayout::Nhwc), [1, 2, 3]);
        assert_eq!(
            laid_out(&picture, TensorLayout::Nhwc),
            [1.0, 10.0, 100.0, 2.0, 20.0, 200.0]
        );
        assert_eq!(
            laid_out(&picture, TensorLayout::Nchw),
            picture.data.to_vec()
        );
    }
}
